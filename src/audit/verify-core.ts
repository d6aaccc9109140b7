import { CsvError, parseCsv, type CsvCell } from './csv.ts';
import {
  AUDIT_KINDS,
  CHAIN_ALGORITHM,
  EXPORT_COLUMNS,
  FIELDS,
  MANIFEST_FORMAT,
  canonical,
  checkpointMessage,
  manifestMessage,
  type CheckpointDetail,
  type ExportManifest,
  type FieldName,
} from './format.ts';

/**
 * The export verifier on WebCrypto (Ed25519 and SHA-256 through `crypto.subtle`), with no Node module: the audit
 * screen runs it in the browser on an uploaded export, and the unit tests run it in Node beside the CLI's verifier
 * (verify.ts, node:crypto) and check that both give the same verdict on the same damage. The checks and their
 * order are verify.ts's: manifest signature, each record's hash (and checkpoint signatures), order and
 * completeness, boundaries and count, then the file digest. A failure names the first broken record (line, seq).
 */
export type VerifyCode =
  | 'MANIFEST_MISSING'
  | 'MANIFEST_INVALID'
  | 'KEY_MISMATCH'
  | 'SIGNATURE_INVALID'
  | 'RECORD_MALFORMED'
  | 'RECORD_ALTERED'
  | 'RECORD_REORDERED'
  | 'RECORD_MISSING'
  | 'CHAIN_BROKEN'
  | 'CHECKPOINT_INVALID'
  | 'COUNT_MISMATCH'
  | 'BOUNDARY_MISMATCH'
  | 'FILE_DIGEST';

export type CoreVerifyResult =
  | { ok: true; count: number; firstSeq: number | null; lastSeq: number | null; keyFingerprint: string; embeddedKey: boolean }
  | { ok: false; code: VerifyCode; reason: string; line?: number; seq?: number };

/** The parts of SubtleCrypto this needs (the DOM's and Node's globalThis.crypto.subtle both fit). */
export interface SubtleLike {
  digest(algorithm: 'SHA-256', data: Uint8Array): Promise<ArrayBuffer>;
  importKey(format: 'spki', keyData: Uint8Array, algorithm: { name: 'Ed25519' }, extractable: false, usages: ['verify']): Promise<unknown>;
  verify(algorithm: { name: 'Ed25519' }, key: unknown, signature: Uint8Array, data: Uint8Array): Promise<boolean>;
}

type Rec = Record<FieldName, unknown> & { seq: number; time: number; kind: string; detail: string | null; prevHash: string; hash: string };
export type ParsedRecord = { line: number; record: Rec };
type Parsed = ParsedRecord;
type Fail = Extract<CoreVerifyResult, { ok: false }>;

const fail = (code: VerifyCode, reason: string, at?: { line?: number; seq?: number }): Fail => ({ ok: false, code, reason, ...at });
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const hex = (b: ArrayBuffer): string => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
const TYPES = new Map<string, string>([...FIELDS.map(([n, t]) => [n, t] as [string, string]), ['prevHash', 'hash'], ['hash', 'hash']]);

function base64(s: string): Uint8Array | undefined {
  try {
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/** The DER bytes of a PEM SPKI public key, else undefined. */
export function pemDer(pem: string): Uint8Array | undefined {
  const m = /-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----/.exec(pem);
  return m ? base64(m[1]!.replace(/\s+/g, '')) : undefined;
}

/**
 * Splits what POST /api/v1/audit/export sends (framing bootgate-audit-stream/1, export-stream.ts): the file is
 * everything up to and including the last newline, the manifest the line after it.
 */
export function splitExportStream(text: string): { content: string; manifestText: string } {
  const i = text.lastIndexOf('\n');
  return { content: text.slice(0, i + 1), manifestText: text.slice(i + 1) };
}

function toRecord(values: Record<string, unknown>, line: number): Rec | string {
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
  if (!(AUDIT_KINDS as readonly unknown[]).includes(out.kind)) return `line ${line}: unknown kind ${JSON.stringify(out.kind)}`;
  return out as Rec;
}

/** An NDJSON export's records, each checked field by field (shared with the CLI verifier, verify.ts). */
export function parseNdjson(text: string): Parsed[] | Fail {
  const out: Parsed[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const at = { line: i + 1 };
    let obj: unknown;
    try {
      obj = JSON.parse(lines[i]!);
    } catch {
      return fail('RECORD_MALFORMED', `line ${i + 1}: not JSON`, at);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return fail('RECORD_MALFORMED', `line ${i + 1}: not a JSON object`, at);
    const keys = Object.keys(obj);
    if (keys.length !== EXPORT_COLUMNS.length || keys.some((k, j) => k !== EXPORT_COLUMNS[j]))
      return fail('RECORD_MALFORMED', `line ${i + 1}: fields differ from the export columns`, at);
    const r = toRecord(obj as Record<string, unknown>, i + 1);
    if (typeof r === 'string') return fail('RECORD_MALFORMED', r, at);
    out.push({ line: i + 1, record: r });
  }
  return out;
}

function cellValue(c: CsvCell, type: string): unknown {
  if (!c.quoted && c.text === '') return null;
  if (type === 'int') return c.quoted || !/^-?\d+$/.test(c.text) ? `not-an-int:${c.text}` : Number(c.text);
  return c.quoted ? c.text : `unquoted:${c.text}`;
}

/** A CSV export's records, each checked field by field (shared with the CLI verifier, verify.ts). */
export function parseCsvExport(text: string): Parsed[] | Fail {
  let rows;
  try {
    rows = parseCsv(text);
  } catch (e) {
    return e instanceof CsvError ? fail('RECORD_MALFORMED', e.message, { line: e.line }) : fail('RECORD_MALFORMED', String(e));
  }
  const header = rows.shift();
  if (!header || header.cells.length !== EXPORT_COLUMNS.length || header.cells.some((c, i) => c.text !== EXPORT_COLUMNS[i]))
    return fail('RECORD_MALFORMED', 'line 1: the header differs from the export columns', { line: 1 });
  const out: Parsed[] = [];
  for (const row of rows) {
    if (row.cells.length !== EXPORT_COLUMNS.length)
      return fail('RECORD_MALFORMED', `line ${row.line}: ${row.cells.length} fields, expected ${EXPORT_COLUMNS.length}`, { line: row.line });
    const values: Record<string, unknown> = {};
    EXPORT_COLUMNS.forEach((c, i) => (values[c] = cellValue(row.cells[i]!, TYPES.get(c)!)));
    const r = toRecord(values, row.line);
    if (typeof r === 'string') return fail('RECORD_MALFORMED', r, { line: row.line });
    out.push({ line: row.line, record: r });
  }
  return out;
}

export function isManifest(m: unknown): m is ExportManifest {
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
 * Verifies an export (its text and its manifest's) against `publicKeyPem`, else the key embedded in the manifest
 * (integrity, not origin). Same verdicts as verify.ts's verifyExport.
 */
export async function verifyExportWeb(subtle: SubtleLike, content: string, manifestText: string, publicKeyPem?: string): Promise<CoreVerifyResult> {
  let manifest: unknown;
  try {
    manifest = JSON.parse(manifestText);
  } catch {
    return fail('MANIFEST_INVALID', 'the manifest is not JSON');
  }
  if (!isManifest(manifest)) return fail('MANIFEST_INVALID', `the manifest is not a ${MANIFEST_FORMAT} manifest`);
  const der = pemDer(publicKeyPem ?? manifest.publicKey);
  let key: unknown;
  try {
    if (!der) throw new Error('not a PEM public key');
    key = await subtle.importKey('spki', der, { name: 'Ed25519' }, false, ['verify']);
  } catch (e) {
    return fail(publicKeyPem ? 'KEY_MISMATCH' : 'MANIFEST_INVALID', `the public key cannot be read: ${(e as Error).message}`);
  }
  const sha256 = async (b: Uint8Array): Promise<string> => hex(await subtle.digest('SHA-256', b));
  const verify = async (message: string, sigB64: string): Promise<boolean> => {
    const sig = base64(sigB64);
    return sig !== undefined && (await subtle.verify({ name: 'Ed25519' }, key, sig, utf8(message)).catch(() => false));
  };
  const fp = `sha256:${await sha256(der!)}`;
  if (fp !== manifest.keyFingerprint) return fail('KEY_MISMATCH', `the manifest names key ${manifest.keyFingerprint}, the given key is ${fp}`);
  if (!(await verify(manifestMessage(manifest), manifest.signature)))
    return fail('SIGNATURE_INVALID', 'the manifest signature does not verify: the manifest was changed or not signed by this key');

  const parsed = manifest.recordFormat === 'csv' ? parseCsvExport(content) : parseNdjson(content);
  if (!Array.isArray(parsed)) return parsed;

  // 1. each record against its own hash: SHA-256("bootgate-audit/1\n" + prevHash + "\n" + canonical) (record.ts)
  for (const { line, record } of parsed) {
    const at = { line, seq: record.seq };
    if ((await sha256(utf8(`bootgate-audit/1\n${record.prevHash}\n${canonical(record)}`))) !== record.hash)
      return fail('RECORD_ALTERED', `line ${line} (seq ${record.seq}): content does not match its hash: the record was altered`, at);
    if (record.kind === 'checkpoint') {
      let d: CheckpointDetail | undefined;
      try {
        d = JSON.parse(record.detail ?? '') as CheckpointDetail;
      } catch {
        d = undefined;
      }
      if (!d || typeof d.signature !== 'string' || !(await verify(checkpointMessage(d), d.signature)))
        return fail('CHECKPOINT_INVALID', `line ${line} (seq ${record.seq}): retention checkpoint signature does not verify`, at);
    }
  }
  // 2. order and completeness
  const seqs = new Set(parsed.map((p) => p.record.seq));
  for (let i = 1; i < parsed.length; i++) {
    const prev = parsed[i - 1]!.record;
    const cur = parsed[i]!;
    const at = { line: cur.line, seq: cur.record.seq };
    if (cur.record.seq <= prev.seq)
      return fail('RECORD_REORDERED', `line ${cur.line}: seq ${cur.record.seq} comes after seq ${prev.seq}: records were reordered`, at);
    if (manifest.filter === null && cur.record.seq !== prev.seq + 1) {
      const missing = prev.seq + 1;
      if (seqs.has(missing))
        return fail('RECORD_REORDERED', `line ${cur.line}: seq ${cur.record.seq} comes before seq ${missing}: records were reordered`, at);
      return fail(
        'RECORD_MISSING',
        `line ${cur.line}: seq ${missing}${cur.record.seq - 1 > missing ? `..${cur.record.seq - 1}` : ''} missing before seq ${cur.record.seq}: records were removed`,
        at,
      );
    }
    if (manifest.filter === null && cur.record.prevHash !== prev.hash)
      return fail('CHAIN_BROKEN', `line ${cur.line} (seq ${cur.record.seq}): prevHash does not match the hash of seq ${prev.seq}`, at);
  }
  // 3. against the signed manifest
  const first = parsed[0];
  const last = parsed.at(-1);
  if (first && first.record.prevHash !== manifest.prevHash)
    return fail('CHAIN_BROKEN', `seq ${first.record.seq}: prevHash does not match the manifest's previous hash: records were removed at the start`, {
      line: first.line,
      seq: first.record.seq,
    });
  if ((first?.record.seq ?? null) !== manifest.firstSeq || (first?.record.hash ?? null) !== manifest.firstHash)
    return fail(
      'BOUNDARY_MISMATCH',
      `the first record is seq ${first?.record.seq ?? 'none'}, the manifest says seq ${manifest.firstSeq ?? 'none'}: records were removed at the start`,
    );
  if ((last?.record.seq ?? null) !== manifest.lastSeq || (last?.record.hash ?? null) !== manifest.lastHash)
    return fail(
      'BOUNDARY_MISMATCH',
      `the last record is seq ${last?.record.seq ?? 'none'}, the manifest says seq ${manifest.lastSeq ?? 'none'}: records were removed at the end`,
    );
  if (parsed.length !== manifest.count)
    return fail('COUNT_MISMATCH', `the file has ${parsed.length} records, the manifest says ${manifest.count}: records were removed or added`);
  if ((await sha256(utf8(content))) !== manifest.fileSha256)
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
