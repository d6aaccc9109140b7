import type { KeyObject } from 'node:crypto';
import type { AuditRepository } from '../store/audit-repository.ts';
import { checkpointSigned, type CheckpointDetail } from './checkpoint.ts';
import { GENESIS_HASH, hashMatches } from './record.ts';
import type { VerifyCode } from './verify.ts';

/**
 * Verifies the chain held in the store: from the genesis hash, or — after a retention purge — from the anchor of
 * a signed checkpoint record that names the seq just before the oldest remaining record.
 */
export function verifyStoredChain(
  repo: AuditRepository,
  publicKey: KeyObject,
): { ok: true; count: number } | { ok: false; code: VerifyCode; reason: string } {
  let prev: { seq: number; hash: string } | undefined;
  let count = 0;
  const anchors = new Map<number, string>();
  for (const r of repo.iterate({ kind: 'checkpoint' })) {
    const d = JSON.parse(r.detail ?? '{}') as CheckpointDetail;
    if (!checkpointSigned(publicKey, d))
      return { ok: false, code: 'CHECKPOINT_INVALID', reason: `seq ${r.seq}: checkpoint signature does not verify` };
    anchors.set(d.throughSeq, d.anchorHash);
  }
  for (const r of repo.iterate()) {
    const { prevHash, hash } = r;
    if (!hashMatches(r)) return { ok: false, code: 'RECORD_ALTERED', reason: `seq ${r.seq}: content does not match its hash` };
    if (prev === undefined) {
      const expected = r.seq === 1 ? GENESIS_HASH : anchors.get(r.seq - 1);
      if (expected === undefined)
        return { ok: false, code: 'RECORD_MISSING', reason: `oldest record is seq ${r.seq} and no checkpoint covers seq ${r.seq - 1}` };
      if (prevHash !== expected) return { ok: false, code: 'CHAIN_BROKEN', reason: `seq ${r.seq}: prevHash does not match the checkpoint anchor` };
    } else {
      if (r.seq !== prev.seq + 1) return { ok: false, code: 'RECORD_MISSING', reason: `seq ${prev.seq + 1} missing` };
      if (prevHash !== prev.hash) return { ok: false, code: 'CHAIN_BROKEN', reason: `seq ${r.seq}: prevHash does not match seq ${prev.seq}` };
    }
    prev = { seq: r.seq, hash };
    count++;
  }
  return { ok: true, count };
}
