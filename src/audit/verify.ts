import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { checkpointSigned, type CheckpointDetail } from './checkpoint.ts';
import { CsvError, parseCsv, type CsvCell } from './csv.ts';
import { EXPORT_COLUMNS, MANIFEST_FORMAT, manifestMessage, type ExportManifest } from './export.ts';
import { keyFingerprint, verifySignature } from './keys.ts';
import type { VerifyCode } from './verify-core.ts';
import { AUDIT_KINDS, CHAIN_ALGORITHM, FIELDS, hashMatches, type AuditRecord } from './record.ts';

/** Why an export failed verification: the verdict codes of the catalogue in src/errors.ts, one per kind of damage
 * (one list for this verifier and the browser's, verify-core.ts, whose verdicts the unit tests compare). */
export type { VerifyCode } from './verify-core.ts';

export type VerifyResult =
  | { ok: true; count: number; firstSeq: number | null; lastSeq: number | null; keyFingerprint: string; embeddedKey: boolean }
  | { ok: false; code: VerifyCode; reason: string };

type Parsed = { line: number; record: AuditRecord };

const fail = (code: VerifyCode, reason: string): VerifyResult => ({ ok: false, code, reason });

const TYPES = new Map<string, string>([...FIELDS.map(([n, t]) => [n, t] as [string, string]), ['prevHash', 'hash'], ['hash', 'hash']]);

function toRecord(values: Record<string, unknown>, line: number): AuditRecord | string {
  const out: Record<string, unknown> = {};
  for (const c of EXPORT_COLUMNS) {
    const v = values[c];
    const t = TYPES.get(c)!;
    if (t === 'time') {
      const ms = typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(v) ? Date.parse(v) : NaN;
      if (Number.isNaN(ms)) return `line ${line}: field time is not an ISO-8601 UTC timestamp`;
      out[c] = ms;
    } else if (t === 'int') {
      if (v !== null && !(typeof v === 'number' && Number.isSafeInteger(v))) return `line ${line}: field ${c} is not an integer`;
      out[c] = v;
    } else if (t === 'hash') {
      if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) return `line ${line}: field ${c} is not a SHA-256 hex digest`;
      out[c] = v;
    } else {
      if (v !== null && typeof v !== 'string') return `line ${line}: field ${c} is not a string`;
      out[c] = v;
    }
  }
  if (out.seq === null) return `line ${line}: seq is missing`;
  if (!AUDIT_KINDS.includes(out.kind as never)) return `line ${line}: unknown kind ${JSON.stringify(out.kind)}`;
  return out as AuditRecord;
}

function parseNdjson(text: string): Parsed[] | VerifyResult {
  const out: Parsed[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    let obj: unknown;
    try {
      obj = JSON.parse(lines[i]!);
    } catch {
      return fail('RECORD_MALFORMED', `line ${i + 1}: not JSON`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return fail('RECORD_MALFORMED', `line ${i + 1}: not a JSON object`);
    const keys = Object.keys(obj);
    if (keys.length !== EXPORT_COLUMNS.length || keys.some((k, j) => k !== EXPORT_COLUMNS[j]))
      return fail('RECORD_MALFORMED', `line ${i + 1}: fields differ from the export columns`);
    const r = toRecord(obj as Record<string, unknown>, i + 1);
    if (typeof r === 'string') return fail('RECORD_MALFORMED', r);
    out.push({ line: i + 1, record: r });
  }
  return out;
}

function cellValue(c: CsvCell, type: string): unknown {
  if (!c.quoted && c.text === '') return null;
  if (type === 'int') return c.quoted || !/^-?\d+$/.test(c.text) ? `not-an-int:${c.text}` : Number(c.text);
  return c.quoted ? c.text : `unquoted:${c.text}`;
}

function parseCsvExport(text: string): Parsed[] | VerifyResult {
  let rows;
  try {
    rows = parseCsv(text);
  } catch (e) {
    return fail('RECORD_MALFORMED', e instanceof CsvError ? e.message : String(e));
  }
  const header = rows.shift();
  if (!header || header.cells.length !== EXPORT_COLUMNS.length || header.cells.some((c, i) => c.text !== EXPORT_COLUMNS[i]))
    return fail('RECORD_MALFORMED', 'line 1: the header differs from the export columns');
  const out: Parsed[] = [];
  for (const row of rows) {
    if (row.cells.length !== EXPORT_COLUMNS.length)
      return fail('RECORD_MALFORMED', `line ${row.line}: ${row.cells.length} fields, expected ${EXPORT_COLUMNS.length}`);
    const values: Record<string, unknown> = {};
    EXPORT_COLUMNS.forEach((c, i) => (values[c] = cellValue(row.cells[i]!, TYPES.get(c)!)));
    const r = toRecord(values, row.line);
    if (typeof r === 'string') return fail('RECORD_MALFORMED', r);
    out.push({ line: row.line, record: r });
  }
  return out;
}

function isManifest(m: unknown): m is ExportManifest {
  const o = m as Record<string, unknown>;
  return (
    typeof o === 'object' &&
    o !== null &&
    o.format === MANIFEST_FORMAT &&
    (o.algorithm as Record<string, unknown> | undefined)?.chain === CHAIN_ALGORITHM &&
    (o.recordFormat === 'csv' || o.recordFormat === 'ndjson') &&
    typeof o.count === 'number' &&
    typeof o.fileSha256 === 'string' &&
    typeof o.signature === 'string' &&
    typeof o.publicKey === 'string'
  );
}

/**
 * Verifies an export offline: the manifest signature (with the given public key, else the key embedded in the
 * manifest — which proves integrity but not origin), then every record's hash, order and chain links, the count
 * and boundaries, and finally the byte digest of the whole file.
 */
export function verifyExport(content: string, manifestText: string, publicKeyPem?: string): VerifyResult {
  let manifest: unknown;
  try {
    manifest = JSON.parse(manifestText);
  } catch {
    return fail('MANIFEST_INVALID', 'the manifest is not JSON');
  }
  if (!isManifest(manifest)) return fail('MANIFEST_INVALID', `the manifest is not a ${MANIFEST_FORMAT} manifest`);
  let key: KeyObject;
  try {
    key = createPublicKey(publicKeyPem ?? manifest.publicKey);
  } catch (e) {
    return fail(publicKeyPem ? 'KEY_MISMATCH' : 'MANIFEST_INVALID', `the public key cannot be read: ${(e as Error).message}`);
  }
  const fp = keyFingerprint(key);
  if (fp !== manifest.keyFingerprint) return fail('KEY_MISMATCH', `the manifest names key ${manifest.keyFingerprint}, the given key is ${fp}`);
  if (!verifySignature(key, manifestMessage(manifest), manifest.signature))
    return fail('SIGNATURE_INVALID', 'the manifest signature does not verify: the manifest was changed or not signed by this key');

  const parsed = manifest.recordFormat === 'csv' ? parseCsvExport(content) : parseNdjson(content);
  if (!Array.isArray(parsed)) return parsed;

  // 1. each record against its own hash
  for (const { line, record } of parsed) {
    if (!hashMatches(record))
      return fail('RECORD_ALTERED', `line ${line} (seq ${record.seq}): content does not match its hash: the record was altered`);
    if (record.kind === 'checkpoint') {
      let d: CheckpointDetail | undefined;
      try {
        d = JSON.parse(record.detail ?? '') as CheckpointDetail;
      } catch {
        d = undefined;
      }
      if (!d || !checkpointSigned(key, d))
        return fail('CHECKPOINT_INVALID', `line ${line} (seq ${record.seq}): retention checkpoint signature does not verify`);
    }
  }
  // 2. order and completeness
  const seqs = new Set(parsed.map((p) => p.record.seq));
  for (let i = 1; i < parsed.length; i++) {
    const prev = parsed[i - 1]!.record;
    const cur = parsed[i]!;
    if (cur.record.seq <= prev.seq)
      return fail('RECORD_REORDERED', `line ${cur.line}: seq ${cur.record.seq} comes after seq ${prev.seq}: records were reordered`);
    if (manifest.filter === null && cur.record.seq !== prev.seq + 1) {
      const missing = prev.seq + 1;
      if (seqs.has(missing))
        return fail('RECORD_REORDERED', `line ${cur.line}: seq ${cur.record.seq} comes before seq ${missing}: records were reordered`);
      return fail(
        'RECORD_MISSING',
        `line ${cur.line}: seq ${missing}${cur.record.seq - 1 > missing ? `..${cur.record.seq - 1}` : ''} missing before seq ${cur.record.seq}: records were removed`,
      );
    }
    if (manifest.filter === null && cur.record.prevHash !== prev.hash)
      return fail('CHAIN_BROKEN', `line ${cur.line} (seq ${cur.record.seq}): prevHash does not match the hash of seq ${prev.seq}`);
  }
  // 3. against the signed manifest
  const first = parsed[0]?.record;
  const last = parsed.at(-1)?.record;
  if (first && first.prevHash !== manifest.prevHash)
    return fail('CHAIN_BROKEN', `seq ${first.seq}: prevHash does not match the manifest's previous hash: records were removed at the start`);
  if ((first?.seq ?? null) !== manifest.firstSeq || (first?.hash ?? null) !== manifest.firstHash)
    return fail(
      'BOUNDARY_MISMATCH',
      `the first record is seq ${first?.seq ?? 'none'}, the manifest says seq ${manifest.firstSeq ?? 'none'}: records were removed at the start`,
    );
  if ((last?.seq ?? null) !== manifest.lastSeq || (last?.hash ?? null) !== manifest.lastHash)
    return fail(
      'BOUNDARY_MISMATCH',
      `the last record is seq ${last?.seq ?? 'none'}, the manifest says seq ${manifest.lastSeq ?? 'none'}: records were removed at the end`,
    );
  if (parsed.length !== manifest.count)
    return fail('COUNT_MISMATCH', `the file has ${parsed.length} records, the manifest says ${manifest.count}: records were removed or added`);
  const digest = createHash('sha256').update(content).digest('hex');
  if (digest !== manifest.fileSha256)
    return fail('FILE_DIGEST', 'the records verify but the file bytes differ from the signed digest (formatting was changed)');
  return {
    ok: true,
    count: parsed.length,
    firstSeq: manifest.firstSeq,
    lastSeq: manifest.lastSeq,
    keyFingerprint: fp,
    embeddedKey: publicKeyPem === undefined,
  };
}

/** Verifies `<file>` against `<file>.manifest.json`. */
export function verifyExportFile(file: string, publicKeyPem?: string): VerifyResult {
  let manifestText: string;
  try {
    manifestText = readFileSync(`${file}.manifest.json`, 'utf8');
  } catch (e) {
    return fail('MANIFEST_MISSING', `${basename(file)}.manifest.json: ${(e as Error).message}`);
  }
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (e) {
    return fail('RECORD_MALFORMED', `${file}: ${(e as Error).message}`);
  }
  return verifyExport(content, manifestText, publicKeyPem);
}
