import { hash } from 'node:crypto';
import { AUDIT_KINDS, FIELDS, canonical, type AuditKind, type FieldName } from './format.ts';

export { AUDIT_KINDS, CHAIN_ALGORITHM, FIELDS, GENESIS_HASH, canonical, type AuditKind, type FieldName } from './format.ts';

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
