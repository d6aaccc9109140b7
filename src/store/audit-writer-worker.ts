/**
 * The audit writer thread: commits sealed audit records on its own SQLite connection, so the INSERTs, the COMMIT
 * and the fsync (synchronous=FULL on this connection) run off the main event loop. The main thread assigns seq and
 * the hash chain (src/audit/log.ts) and posts each group commit as one batch of consecutive records; this thread
 * commits every batch that arrived in one turn in one transaction and answers each with ok or an error.
 *
 * A batch must continue the committed chain — its first seq is the table's last + 1 and its first prevHash the
 * table's last hash, and each record links to the one before it: after a failed commit the main thread's later
 * batches were sealed on records that never reached the table, and committing them would leave a gap or a broken
 * link that `audit verify` rejects. They are refused instead, until the main thread has re-read the tail. The hash
 * is checked as well as the seq so that a second writer of the same seq (which nothing should be) is caught here,
 * at commit time, rather than by the next verification.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { GENESIS_HASH } from '../audit/format.ts';
import { AUDIT_ROW, AuditRepository, type AuditRow, type OpenRow } from './audit-repository.ts';
import { openDatabase } from './database.ts';
import type { ToAuditWriter, FromAuditWriter } from './audit-writer-protocol.ts';

const { file } = workerData as { file: string };
const db = openDatabase(file, { syncInCommit: true });
const repo = new AuditRepository(db);
/** The committed chain's end: the last record's seq and hash (0 and the genesis hash on an empty table). */
let tail = 0;
let tailHash = GENESIS_HASH;
function readTail(): void {
  const last = repo.last();
  tail = last?.seq ?? 0;
  tailHash = last?.hash ?? GENESIS_HASH;
}
readTail();
let queued: Array<{ id: number; rows: AuditRow[]; opens?: OpenRow[]; closes?: number[] }> = [];
let scheduled = false;
const port = parentPort!;

function commitQueued(): void {
  scheduled = false;
  const batch = queued;
  queued = [];
  const accepted: typeof batch = [];
  const replies: FromAuditWriter[] = [];
  let next = tail;
  let nextHash = tailHash;
  for (const b of batch) {
    // a batch with no records (only open connections coming and going) does not touch the chain
    if (b.rows.length === 0) {
      accepted.push(b);
      continue;
    }
    // the main connection may have extended the chain itself (identity changes, retention) since we last looked
    if (chainBreak(b.rows, next, nextHash) !== undefined && next === tail) {
      readTail();
      next = tail;
      nextHash = tailHash;
    }
    const broken = chainBreak(b.rows, next, nextHash);
    if (broken !== undefined) {
      replies.push({ t: 'done', id: b.id, error: { code: 'AUDIT_SEQUENCE', message: broken } });
      continue;
    }
    accepted.push(b);
    const last = b.rows.at(-1)!;
    next = last[AUDIT_ROW.seq] as number;
    nextHash = last[AUDIT_ROW.hash] as string;
  }
  if (accepted.length) {
    try {
      repo.transaction(() => {
        for (const b of accepted) {
          for (const r of b.rows) repo.appendRow(r);
          repo.applyOpenOps(b.opens ?? [], b.closes ?? []);
        }
      });
      tail = next;
      tailHash = nextHash;
      for (const b of accepted) replies.push({ t: 'done', id: b.id });
    } catch (e) {
      readTail();
      const message = (e as Error).message;
      for (const b of accepted) replies.push({ t: 'done', id: b.id, error: { code: 'AUDIT_COMMIT', message } });
    }
  }
  port.postMessage(replies);
}

/** Why these rows do not continue the chain at (seq, hash), or undefined when they do. */
function chainBreak(rows: AuditRow[], seq: number, hash: string): string | undefined {
  for (const r of rows) {
    const rSeq = r[AUDIT_ROW.seq];
    if (rSeq !== seq + 1) return `batch record at seq ${String(rSeq)}, the chain is at ${seq}`;
    if (r[AUDIT_ROW.prevHash] !== hash) return `record ${seq + 1} does not link to record ${seq}'s hash`;
    seq = rSeq;
    hash = r[AUDIT_ROW.hash] as string;
  }
  return undefined;
}

port.on('message', (m: ToAuditWriter) => {
  if (m.t === 'close') {
    if (scheduled) commitQueued();
    db.close();
    port.postMessage([{ t: 'closed' }] satisfies FromAuditWriter[]);
    return;
  }
  queued.push(m);
  // every batch that arrives while this turn runs (or while a COMMIT fsyncs) goes into the next transaction
  if (!scheduled) {
    scheduled = true;
    setImmediate(commitQueued);
  }
});
port.postMessage([{ t: 'ready', tail }] satisfies FromAuditWriter[]);
