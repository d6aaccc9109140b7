/**
 * The audit writer thread (src/store/audit-writer-thread.ts + audit-writer-worker.ts) behind the audit log: the
 * main thread assigns the chain, the thread commits; units that write through the main connection (appendWith,
 * retention) wait for the thread to be idle; a failed batch never leaves a gap in the chain.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { AuditSigner } from '../../src/audit/keys.ts';
import { AuditLog, type AuditWriter } from '../../src/audit/log.ts';
import type { AuditRecord } from '../../src/audit/record.ts';
import { verifyStoredChain } from '../../src/audit/verify-store.ts';
import type { BootgateError } from '../../src/errors.ts';
import { AUDIT_ROW, AuditRepository, auditRow } from '../../src/store/audit-repository.ts';
import { AuditWriterThread } from '../../src/store/audit-writer-thread.ts';
import { openDatabase } from '../../src/store/database.ts';

const silent = pino({ level: 'silent' });
const T0 = Date.parse('2026-03-01T08:00:00.000Z');
const dirs: string[] = [];
/** every harness still open when a test ends, failed or not: closed before the next test */
const open = new Set<() => Promise<void>>();
afterEach(async () => {
  for (const close of open) await close();
});
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const http = (i: number) => ({
  kind: 'http' as const,
  seat: 'S1',
  ip: '10.9.0.5',
  userId: 'u1',
  userName: 'Ana',
  host: 'example.test',
  port: 80,
  url: `http://example.test/${i}`,
  status: 200,
  bytesUp: 0,
  bytesDown: i,
  durationMs: 1,
  verdict: 'allowed',
});

/** A database file, the main connection's log and a started writer thread on the same file. */
async function setup(opts: { clock?: () => number; wrap?: (w: AuditWriter) => AuditWriter } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'bg-audit-writer-'));
  dirs.push(dir);
  const file = join(dir, 'bootgate.db');
  const db = openDatabase(file);
  const repo = new AuditRepository(db);
  const signer = AuditSigner.generate();
  const thread = new AuditWriterThread(file);
  await thread.start();
  const writer = opts.wrap ? opts.wrap(thread) : thread;
  const log = new AuditLog({ repo, signer, logger: silent, writer, clock: opts.clock ?? (() => T0) });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    open.delete(close);
    await log.stop();
    await thread.close();
    if (db.open) db.close();
  };
  open.add(close);
  return { db, repo, signer, thread, log, close };
}

describe('audit writer thread', () => {
  it('commits every record on its own connection, in chain order; the main connection reads them back', async () => {
    const h = await setup();
    const records = await Promise.all(Array.from({ length: 500 }, (_, i) => h.log.append(http(i))));
    assert.deepEqual(
      records.map((r) => r.seq),
      Array.from({ length: 500 }, (_, i) => i + 1),
    );
    assert.equal(h.repo.last()!.seq, 500);
    assert.equal(h.repo.last()!.hash, records.at(-1)!.hash);
    assert.deepEqual(verifyStoredChain(h.repo, h.signer.publicKey), { ok: true, count: 500 });
    await h.close();
  });

  it('appendWith waits until the thread has committed what came before, then commits its change and record together', async () => {
    const events: string[] = [];
    const h = await setup({
      wrap: (w) => ({ write: (records) => w.write(records).then(() => void events.push(`committed ${records[0]!.seq}-${records.at(-1)!.seq}`)) }),
    });
    h.db.exec('CREATE TABLE things (name TEXT)');
    const ins = h.db.prepare('INSERT INTO things (name) VALUES (?)');
    const before = Array.from({ length: 50 }, (_, i) => h.log.append(http(i)));
    await new Promise((r) => setImmediate(r)); // the first batch is with the thread now
    const unit = h.log.appendWith(() => (events.push('unit built'), ins.run('one'), { kind: 'admin', actor: 'cashier', action: 'open-session' }));
    const later = Array.from({ length: 50 }, (_, i) => h.log.append(http(100 + i)));
    const [b, u, l] = await Promise.all([Promise.all(before), unit, Promise.all(later)]);
    assert.equal(u.seq, 51, 'after every record queued before it');
    // the main connection wrote nothing while the thread held uncommitted records before it in the chain
    assert.deepEqual(events.slice(0, 2), ['committed 1-50', 'unit built']);
    assert.equal(b.at(-1)!.seq, 50);
    assert.deepEqual(
      l.map((r) => r.seq),
      Array.from({ length: 50 }, (_, i) => 52 + i),
    );
    assert.equal((h.db.prepare('SELECT count(*) AS n FROM things').get() as { n: number }).n, 1);
    assert.deepEqual(verifyStoredChain(h.repo, h.signer.publicKey), { ok: true, count: 101 });
    await h.close();
  });

  it('a retention purge runs when the thread is idle; the checkpoint and the remaining chain verify', async () => {
    let now = T0;
    const h = await setup({ clock: () => now });
    for (let i = 0; i < 6; i++) {
      now = T0 + i * 86_400_000;
      await h.log.append(http(i));
    }
    const busy = Array.from({ length: 20 }, (_, i) => h.log.append(http(10 + i)));
    await new Promise((r) => setImmediate(r));
    const cp = await h.log.purgeOlderThan(T0 + 3 * 86_400_000);
    await Promise.all(busy);
    assert.ok(cp);
    assert.equal(cp.kind, 'checkpoint');
    assert.equal(cp.seq, 27, 'after the 6 records and the 20 queued before the purge');
    assert.equal(h.repo.first()!.seq, 4);
    assert.deepEqual(verifyStoredChain(h.repo, h.signer.publicKey), { ok: true, count: 24 });
    await h.close();
  });

  it('a batch that does not continue the committed chain is refused (AUDIT_SEQUENCE) and nothing of it is written', async () => {
    const h = await setup();
    const [first] = await Promise.all([h.log.append(http(1))]);
    const stray: AuditRecord = { ...first!, seq: 5, hash: 'f'.repeat(64) };
    await assert.rejects(h.thread.write([stray]), (e: BootgateError) => e.code === 'AUDIT_SEQUENCE');
    assert.equal(h.repo.last()!.seq, 1);
    await h.close();
  });

  it('a batch with the right seq that does not link to the committed hash, or breaks inside, is refused; nothing is written', async () => {
    const h = await setup();
    const first = await h.log.append(http(1));
    const unlinked: AuditRecord = { ...first, seq: 2, prevHash: 'e'.repeat(64), hash: 'f'.repeat(64) };
    await assert.rejects(h.thread.write([unlinked]), (e: BootgateError) => e.code === 'AUDIT_SEQUENCE' && /does not link/.test(e.message));
    const linked: AuditRecord = { ...first, seq: 2, prevHash: first.hash, hash: 'a'.repeat(64) };
    const brokenInside: AuditRecord = { ...first, seq: 3, prevHash: 'b'.repeat(64), hash: 'c'.repeat(64) };
    await assert.rejects(h.thread.write([linked, brokenInside]), (e: BootgateError) => e.code === 'AUDIT_SEQUENCE');
    assert.equal(h.repo.last()!.seq, 1);
    // the log itself goes on from the committed record
    const next = await h.log.append(http(2));
    assert.deepEqual([next.seq, next.prevHash], [2, first.hash]);
    assert.deepEqual(verifyStoredChain(h.repo, h.signer.publicKey), { ok: true, count: 2 });
  });

  it("the thread reads the chain fields at auditRow()'s positions", async () => {
    const h = await setup();
    const r = await h.log.append(http(1));
    const row = auditRow(r);
    assert.deepEqual([row[AUDIT_ROW.seq], row[AUDIT_ROW.prevHash], row[AUDIT_ROW.hash]], [r.seq, r.prevHash, r.hash]);
  });

  it('a failed batch: its callers and those of the batches sealed on it are rejected; the chain has no gap and goes on', async () => {
    let failNext = false;
    const h = await setup({
      wrap: (w) => ({
        write: (records) => {
          if (failNext) {
            // fails a little later, so the next group commit is sealed on these records meanwhile
            failNext = false;
            return new Promise((_, reject) => setTimeout(() => reject(new Error('disk on fire')), 50));
          }
          return w.write(records);
        },
      }),
    });
    await Promise.all(Array.from({ length: 10 }, (_, i) => h.log.append(http(i))));
    failNext = true;
    const failed = Promise.allSettled(Array.from({ length: 5 }, (_, i) => h.log.append(http(20 + i))));
    await new Promise((r) => setImmediate(r)); // sealed and handed over as seq 11-15
    const sealedOnFailed = Promise.allSettled(Array.from({ length: 5 }, (_, i) => h.log.append(http(30 + i)))); // 16-20
    const outcomes = [...(await failed), ...(await sealedOnFailed)];
    assert.ok(
      outcomes.every((o) => o.status === 'rejected'),
      'none of them is acknowledged',
    );
    const codes = outcomes.slice(5).map((o) => ((o as PromiseRejectedResult).reason as BootgateError).code);
    assert.deepEqual(codes, Array(5).fill('AUDIT_SEQUENCE'));
    const next = await h.log.append(http(40));
    assert.equal(next.seq, 11, 'the chain continues from what was committed');
    assert.deepEqual(verifyStoredChain(h.repo, h.signer.publicKey), { ok: true, count: 11 });
    await h.close();
  });

  it('a change queued while a failing batch is with the thread links to what was committed, not to the failed batch', async () => {
    let failNext = false;
    const h = await setup({
      wrap: (w) => ({
        write: (records) => {
          if (!failNext) return w.write(records);
          failNext = false;
          return new Promise((_, reject) => setTimeout(() => reject(new Error('disk on fire')), 50));
        },
      }),
    });
    try {
      await Promise.all(Array.from({ length: 3 }, (_, i) => h.log.append(http(i))));
      failNext = true;
      const failed = Promise.allSettled(Array.from({ length: 3 }, (_, i) => h.log.append(http(10 + i))));
      await new Promise((r) => setImmediate(r)); // seq 4-6 with the thread
      const change = await h.log.appendWith(() => ({ kind: 'admin', action: 'held' })); // waits for the thread
      assert.ok((await failed).every((o) => o.status === 'rejected'));
      assert.deepEqual([change.seq, change.prevHash], [4, h.repo.get(3)!.hash]);
      assert.deepEqual(verifyStoredChain(h.repo, h.signer.publicKey), { ok: true, count: 4 });
    } finally {
      await h.close();
    }
  });

  it('a thread that is gone rejects what is in flight and everything after (AUDIT_WRITER_EXIT)', async () => {
    const h = await setup();
    await h.log.append(http(0));
    await h.thread.close();
    await assert.rejects(h.log.append(http(1)), (e: BootgateError) => e.code === 'AUDIT_WRITER_EXIT');
    await h.log.stop();
    assert.equal(h.repo.last()!.seq, 1);
    h.db.close();
  });
});
