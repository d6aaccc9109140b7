/**
 * The audit writer thread: commits sealed audit records on its own SQLite connection, so the INSERTs, the COMMIT
 * and the fsync (synchronous=FULL on this connection) run off the main event loop. The main thread assigns seq and
 * the hash chain (src/audit/log.ts) and posts each group commit as one batch of consecutive records; this thread
 * commits every batch that arrived in one turn in one transaction and answers each with ok or an error.
 *
 * A batch must continue the committed chain (its first seq = the table's last + 1): after a failed commit the main
 * thread's later batches were sealed on records that never reached the table, and committing them would leave a
 * gap that `audit verify` rejects. They are refused instead, until the main thread has re-read the tail.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { AuditRepository, type AuditRow, type OpenRow } from './audit-repository.ts';
import { openDatabase } from './database.ts';
import type { ToAuditWriter, FromAuditWriter } from './audit-writer-protocol.ts';

const { file } = workerData as { file: string };
const db = openDatabase(file, { syncInCommit: true });
const repo = new AuditRepository(db);
let tail = repo.last()?.seq ?? 0;
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
  for (const b of batch) {
    // a batch with no records (only open connections coming and going) does not touch the chain
    if (b.rows.length === 0) {
      accepted.push(b);
      continue;
    }
    const first = b.rows[0]?.[0];
    // the main connection may have extended the chain itself (identity changes, retention) since we last looked
    if (first !== next + 1 && next === tail) next = tail = repo.last()?.seq ?? 0;
    if (first !== next + 1) {
      replies.push({ t: 'done', id: b.id, error: { code: 'AUDIT_SEQUENCE', message: `batch starts at seq ${first}, the chain is at ${next}` } });
      continue;
    }
    accepted.push(b);
    next = b.rows.at(-1)![0] as number;
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
      for (const b of accepted) replies.push({ t: 'done', id: b.id });
    } catch (e) {
      tail = repo.last()?.seq ?? 0;
      const message = (e as Error).message;
      for (const b of accepted) replies.push({ t: 'done', id: b.id, error: { code: 'AUDIT_COMMIT', message } });
    }
  }
  port.postMessage(replies);
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
