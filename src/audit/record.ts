import { hash } from 'node:crypto';

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

/** What a producer (proxy, gate, API) hands to the audit log; seq, time and the hashes are assigned on commit. */
export interface AuditInput {
  kind: AuditKind;
  seat?: string | null;
  ip?: string | null;
  mac?: string | null;
  userId?: string | null;
  userName?: string | null;
  docType?: string | null;
  docNumber?: string | null;
  docCountry?: string | null;
  sessionId?: string | null;
  method?: string | null;
  host?: string | null;
  port?: number | null;
  url?: string | null;
  sni?: string | null;
  status?: number | null;
  bytesUp?: number | null;
  bytesDown?: number | null;
  durationMs?: number | null;
  verdict?: string | null;
  actor?: string | null;
  action?: string | null;
  target?: string | null;
  detail?: string | null;
}

/** A committed record: every field present (null when absent), plus its place in the chain. */
export type AuditRecord = { seq: number; time: number; kind: AuditKind } & {
  [K in Exclude<FieldName, 'seq' | 'time' | 'kind'>]: NonNullable<AuditInput[K]> | null;
} & {
  prevHash: string;
  hash: string;
};

/** Builds a full record body from an input (absent fields become null; numbers must be safe integers). */
export function normalise(input: AuditInput, seq: number, time: number): Omit<AuditRecord, 'prevHash' | 'hash'> {
  const out: Record<string, unknown> = {};
  const src = input as unknown as Record<string, unknown>;
  for (const [name, type] of FIELDS) {
    const v = name === 'seq' ? seq : name === 'time' ? time : src[name];
    if (v === undefined || v === null) out[name] = null;
    else if (type === 'str') out[name] = String(v);
    else {
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new TypeError(`audit field ${name} must be an integer, got ${String(v)}`);
      out[name] = v;
    }
  }
  if (!AUDIT_KINDS.includes(out.kind as AuditKind)) throw new TypeError(`audit kind ${String(out.kind)} is not one of ${AUDIT_KINDS.join(', ')}`);
  return out as Omit<AuditRecord, 'prevHash' | 'hash'>;
}

/**
 * The canonical serialization: a JSON array of the FIELDS values in order (time as an ISO-8601 UTC string with
 * milliseconds, absent fields as null). Arrays have no key order to get wrong, and JSON.stringify of strings,
 * integers and null is deterministic.
 */
export function canonical(r: Omit<AuditRecord, 'prevHash' | 'hash'>): string {
  const src = r as unknown as Record<string, unknown>;
  return JSON.stringify(FIELDS.map(([name, type]) => (type === 'time' ? new Date(src[name] as number).toISOString() : src[name])));
}

/** hash = SHA-256("bootgate-audit/1\n" + prevHash + "\n" + canonical(record)), lower-case hex. */
export function chainHash(prevHash: string, r: Omit<AuditRecord, 'prevHash' | 'hash'>): string {
  return hash('sha256', `bootgate-audit/1\n${prevHash}\n${canonical(r)}`, 'hex');
}

/**
 * Seals a normalised record into the chain after `prevHash`: the body itself becomes the record (no copy of its
 * 26 fields: this runs once per proxied request on the event loop).
 */
export function seal(prevHash: string, body: Omit<AuditRecord, 'prevHash' | 'hash'>): AuditRecord {
  const h = chainHash(prevHash, body);
  const r = body as AuditRecord;
  r.prevHash = prevHash;
  r.hash = h;
  return r;
}

/** Whether a record's hash is the chain hash of its content after its own prevHash (what both verifiers check). */
export function hashMatches(r: AuditRecord): boolean {
  const { prevHash, hash, ...body } = r;
  return chainHash(prevHash, body) === hash;
}
