/**
 * The audit trail's formats as pure data and functions — no Node modules — so the browser's export verifier
 * (src/audit/verify-core.ts, bundled into the UI) and the appliance read one definition: the record fields and
 * their canonical serialization, the export columns and the manifest's signed bytes, the checkpoint message.
 */

/**
 * What an audit record is about. `checkpoint` records mark a retention purge (see retention in log.ts);
 * `redirect` is a seat sent to a service platform instance (src/platforms); `dns` a seated terminal's DNS query.
 */
export const AUDIT_KINDS = ['http', 'tunnel', 'tls', 'flow', 'admin', 'checkpoint', 'redirect', 'dns'] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

/** The hash of "no previous record": the chain of a fresh appliance starts from it. */
export const GENESIS_HASH = '0'.repeat(64);
/** Named in every export manifest so a verifier knows what it checks. */
export const CHAIN_ALGORITHM = 'sha256-chain/v1';

/**
 * The record fields in canonical order. The order, the names and the types are the chain format: changing any of
 * them breaks every existing chain, so a change means a new CHAIN_ALGORITHM.
 */
export const FIELDS = [
  ['seq', 'int'],
  ['time', 'time'],
  ['kind', 'str'],
  ['seat', 'str'],
  ['ip', 'str'],
  ['mac', 'str'],
  ['userId', 'str'],
  ['userName', 'str'],
  ['docType', 'str'],
  ['docNumber', 'str'],
  ['docCountry', 'str'],
  ['sessionId', 'str'],
  ['method', 'str'],
  ['host', 'str'],
  ['port', 'int'],
  ['url', 'str'],
  ['sni', 'str'],
  ['status', 'int'],
  ['bytesUp', 'int'],
  ['bytesDown', 'int'],
  ['durationMs', 'int'],
  ['verdict', 'str'],
  ['actor', 'str'],
  ['action', 'str'],
  ['target', 'str'],
  ['detail', 'str'],
] as const;
export type FieldName = (typeof FIELDS)[number][0];

/**
 * The canonical serialization: a JSON array of the FIELDS values in order (time as an ISO-8601 UTC string with
 * milliseconds, absent fields as null). Arrays have no key order to get wrong, and JSON.stringify of strings,
 * integers and null is deterministic.
 */
export function canonical(r: Readonly<Record<FieldName, unknown>>): string {
  const src = r as unknown as Record<string, unknown>;
  return JSON.stringify(FIELDS.map(([name, type]) => (type === 'time' ? new Date(src[name] as number).toISOString() : src[name])));
}

export type ExportFormat = 'csv' | 'ndjson';
export const MANIFEST_FORMAT = 'bootgate-audit-export/1';
export const SIGNATURE_ALGORITHM = 'ed25519';

/** The columns of an export, in order: the canonical fields, then the chain links. */
export const EXPORT_COLUMNS = [...FIELDS.map(([n]) => n), 'prevHash', 'hash'] as const;

export interface ExportManifest {
  format: typeof MANIFEST_FORMAT;
  algorithm: { chain: typeof CHAIN_ALGORITHM; signature: typeof SIGNATURE_ALGORITHM; fileDigest: 'sha256' };
  /** file name of the export (the manifest sits beside it as <file>.manifest.json) */
  file: string;
  recordFormat: ExportFormat;
  range: { from: string | null; to: string | null };
  /** null: every record in the range (the file is one contiguous stretch of the chain) */
  filter: { userId: string | null; seat: string | null } | null;
  count: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** the hash the first exported record links to (its prevHash) */
  prevHash: string | null;
  firstHash: string | null;
  lastHash: string | null;
  fileSha256: string;
  createdAt: string;
  publicKey: string;
  keyFingerprint: string;
  /** Ed25519 (base64) over manifestMessage() */
  signature: string;
}

/** The signed bytes: the manifest without its signature, as JSON with sorted keys. */
export function manifestMessage(m: Omit<ExportManifest, 'signature'> | ExportManifest): string {
  const { signature: _sig, ...rest } = m as ExportManifest;
  return stableJson(rest);
}

function stableJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
    .join(',')}}`;
}

/** The detail of a retention checkpoint record (JSON in its `detail` field). */
export interface CheckpointDetail {
  /** first and last seq removed */
  fromSeq: number;
  throughSeq: number;
  /** hash of record throughSeq: the oldest remaining record's prevHash */
  anchorHash: string;
  count: number;
  /** records with time before this (ISO-8601) were removed */
  cutoff: string;
  keyFingerprint: string;
  /** Ed25519 (base64) over checkpointMessage() */
  signature: string;
}

export function checkpointMessage(d: Omit<CheckpointDetail, 'signature'>): string {
  return `bootgate-audit-checkpoint/1\n${d.fromSeq}\n${d.throughSeq}\n${d.anchorHash}\n${d.count}\n${d.cutoff}\n${d.keyFingerprint}`;
}
