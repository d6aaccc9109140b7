import type { KeyObject } from 'node:crypto';
import { verifySignature, type AuditSigner } from './keys.ts';
import type { AuditInput, AuditRecord } from './record.ts';
import { checkpointMessage, type CheckpointDetail } from './format.ts';

export { checkpointMessage, type CheckpointDetail } from './format.ts';

/** Whether a checkpoint's signature verifies with `key` (both verifiers: the export and the stored chain). */
export function checkpointSigned(key: KeyObject, d: CheckpointDetail): boolean {
  return verifySignature(key, checkpointMessage(d), d.signature);
}

/** What a retention purge removed: the oldest record still there before it (if any), the last one removed, how many. */
export interface PurgedRange {
  first: Pick<AuditRecord, 'seq'> | undefined;
  last: Pick<AuditRecord, 'seq' | 'hash'>;
  count: number;
  /** unix ms: records older than this were removed */
  cutoff: number;
}

/**
 * The checkpoint record a purge appends (the chain seals it like any record): its detail names the purged range
 * and the anchor the oldest remaining record links to, signed with the appliance key.
 */
export function checkpointInput(p: PurgedRange, signer: AuditSigner): AuditInput {
  const detail: Omit<CheckpointDetail, 'signature'> = {
    fromSeq: p.first?.seq ?? p.last.seq,
    throughSeq: p.last.seq,
    anchorHash: p.last.hash,
    count: p.count,
    cutoff: new Date(p.cutoff).toISOString(),
    keyFingerprint: signer.fingerprint(),
  };
  const signed: CheckpointDetail = { ...detail, signature: signer.sign(checkpointMessage(detail)) };
  return {
    kind: 'checkpoint',
    actor: 'bootgate',
    action: 'retention-purge',
    target: `seq ${detail.fromSeq}..${detail.throughSeq}`,
    detail: JSON.stringify(signed),
  };
}
