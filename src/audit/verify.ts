import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { checkpointSigned, type CheckpointDetail } from './checkpoint.ts';
import { MANIFEST_FORMAT, manifestMessage } from './export.ts';
import { keyFingerprint, verifySignature } from './keys.ts';
import { isManifest, parseCsvExport, parseNdjson, type VerifyCode } from './verify-core.ts';
import { hashMatches, type AuditRecord } from './record.ts';

/** Why an export failed verification: the verdict codes of the catalogue in src/errors.ts, one per kind of damage
 * (one list for this verifier and the browser's, verify-core.ts, whose verdicts the unit tests compare). */
export type { VerifyCode } from './verify-core.ts';

export type VerifyResult =
  | { ok: true; count: number; firstSeq: number | null; lastSeq: number | null; keyFingerprint: string; embeddedKey: boolean }
  | { ok: false; code: VerifyCode; reason: string };

type Parsed = { line: number; record: AuditRecord };

const fail = (code: VerifyCode, reason: string): VerifyResult => ({ ok: false, code, reason });

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

  const read = manifest.recordFormat === 'csv' ? parseCsvExport(content) : parseNdjson(content);
  if (!Array.isArray(read)) return fail(read.code, read.reason);
  // the parser checked every field against its type: these are audit records
  const parsed = read as unknown as Parsed[];

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
