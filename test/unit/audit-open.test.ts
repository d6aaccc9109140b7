/**
 * Connections whose record is written when they close (CONNECT tunnels, TLS splices, upgraded connections) leave an
 * audit_open row while they are open (src/audit/log.ts open()), so that a crash still leaves a record of them:
 * "interrupted", written at the next start. With the audit writer thread and on the main connection alone.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { AuditSigner } from '../../src/audit/keys.ts';
import { AuditLog, type AuditWriter, type OpenOps } from '../../src/audit/log.ts';
import { verifyStoredChain } from '../../src/audit/verify-store.ts';
import { AuditRepository } from '../../src/store/audit-repository.ts';
import { AuditWriterThread } from '../../src/store/audit-writer-thread.ts';
import { openDatabase } from '../../src/store/database.ts';

const silent = pino({ level: 'silent' });
const T0 = Date.parse('2026-03-01T08:00:00.000Z');
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const tunnel = (host: string, extra: Record<string, unknown> = {}) => ({
  kind: 'tls' as const,
  seat: 'S1',
  ip: '10.9.0.5',
  userId: 'u1',
  userName: 'Ana',
  sessionId: 's1',
  host,
  port: 443,
  sni: host,
  bytesUp: 0,
  bytesDown: 0,
  durationMs: 0,
  verdict: 'allowed',
  ...extra,
});
const http = (i: number) => ({
  kind: 'http' as const,
  seat: 'S1',
  ip: '10.9.0.5',
  host: 'example.test',
  port: 80,
  url: `http://example.test/${i}`,
  status: 200,
  verdict: 'allowed',
});

/** One appliance life on a database file: the log, with or without the writer thread. `crash` leaves without stop(). */
async function life(file: string, threaded: boolean, wrap?: (w: AuditWriter) => AuditWriter) {
  const db = openDatabase(file);
  const repo = new AuditRepository(db);
  const thread = threaded ? new AuditWriterThread(file) : undefined;
  await thread?.start();
  const writer = thread && wrap ? wrap(thread) : thread;
  const log = new AuditLog({
    repo,
    signer: AuditSigner.loadOrCreate(join(file, '..', 'keys')),
    logger: silent,
    clock: () => T0,
    ...(writer ? { writer } : {}),
  });
  log.start();
  return {
    repo,
    log,
    /** what a kill -9 leaves: nothing flushed beyond what already committed */
    crash: async () => {
      await thread?.close();
      db.close();
    },
    stop: async () => {
      await log.stop();
      await thread?.close();
      db.close();
    },
  };
}

const fresh = () => {
  const dir = mkdtempSync(join(tmpdir(), 'bg-audit-open-'));
  dirs.push(dir);
  return join(dir, 'bootgate.db');
};

for (const threaded of [true, false]) {
  describe(`open connections across a crash (${threaded ? 'writer thread' : 'main connection'})`, () => {
    it('a connection still open at the crash gets an "interrupted" record at the next start; one that closed does not', async () => {
      const file = fresh();
      const a = await life(file, threaded);
      const stillOpen = a.log.open(tunnel('open.example'));
      const closed = a.log.open(tunnel('closed.example'));
      await a.log.append(http(1)); // a group commit: both rows are on disk with it
      assert.deepEqual(
        a.repo.openRows().map((r) => r[0]),
        [stillOpen, closed],
      );
      await a.log.append(tunnel('closed.example', { bytesUp: 5, bytesDown: 7, durationMs: 30 }), closed);
      assert.deepEqual(
        a.repo.openRows().map((r) => r[0]),
        [stillOpen],
        'the final record took its row with it',
      );
      await a.crash();

      const b = await life(file, threaded);
      const recs = b.repo.query({ limit: 100 });
      assert.deepEqual(
        recs.map((r) => [r.seq, r.kind, r.host, r.verdict]),
        [
          [1, 'http', 'example.test', 'allowed'],
          [2, 'tls', 'closed.example', 'allowed'],
          [3, 'tls', 'open.example', 'interrupted'],
        ],
      );
      const r = recs[2]!;
      assert.deepEqual(
        [r.seat, r.userId, r.sessionId, r.sni, r.port, r.bytesUp, r.bytesDown, r.durationMs],
        ['S1', 'u1', 's1', 'open.example', 443, null, null, null],
      );
      assert.equal(r.detail, `open since ${new Date(T0).toISOString()}; bootgate stopped before it closed`);
      assert.deepEqual(b.repo.openRows(), [], 'recorded once: the row went with the record');
      const signer = AuditSigner.loadOrCreate(join(file, '..', 'keys'));
      assert.deepEqual(verifyStoredChain(b.repo, signer.publicKey), { ok: true, count: 3 });
      await b.stop();

      const c = await life(file, threaded);
      assert.equal(c.repo.query({ limit: 100 }).length, 3, 'no second record on the next start');
      await c.stop();
    });

    it('an open with no record in the same turn is committed on its own, and the chain goes on unbroken', async () => {
      const file = fresh();
      const a = await life(file, threaded);
      const id = a.log.open(tunnel('alone.example'));
      for (let i = 0; i < 100 && a.repo.openRows().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(
        a.repo.openRows().map((r) => r[0]),
        [id],
      );
      const recs = await Promise.all([1, 2, 3].map((i) => a.log.append(http(i))));
      assert.deepEqual(
        recs.map((r) => r.seq),
        [1, 2, 3],
      );
      await a.log.append(tunnel('alone.example', { bytesUp: 1 }), id);
      assert.deepEqual(a.repo.openRows(), []);
      await a.stop();
    });

    it('after a graceful stop with every connection closed, nothing is left to recover', async () => {
      const file = fresh();
      const a = await life(file, threaded);
      const id = a.log.open(tunnel('x.example'));
      await a.log.append(http(1));
      void a.log.append(tunnel('x.example', { bytesDown: 3 }), id);
      await a.stop();
      const b = await life(file, threaded);
      assert.deepEqual(
        b.repo.query({ limit: 10 }).map((r) => r.verdict),
        ['allowed', 'allowed'],
      );
      await b.stop();
    });
  });
}

describe('open connections: what reaches the writer', () => {
  it('a connection that opens and closes between two group commits never writes its row', async () => {
    const seen: Array<OpenOps | undefined> = [];
    const a = await life(fresh(), true, (w) => ({ write: (records, ops) => (seen.push(ops), w.write(records, ops)) }));
    const id = a.log.open(tunnel('brief.example'));
    await a.log.append(tunnel('brief.example', { bytesUp: 1 }), id);
    assert.ok(seen.length > 0, 'the record went to the writer');
    assert.deepEqual(
      seen.filter((o) => o && (o.opens.length || o.closes.length)),
      [],
      'no row written or deleted',
    );
    assert.deepEqual(a.repo.openRows(), []);
    await a.stop();
  });

  it('an open queued while a main-connection unit waits for the writer is written once that unit is through', async () => {
    let release: (() => void) | undefined;
    const a = await life(fresh(), true, (w) => ({
      write: (records, ops) =>
        release ? w.write(records, ops) : new Promise<void>((resolve) => (release = resolve)).then(() => w.write(records, ops)),
    }));
    const first = a.log.append(http(1)); // held in the (wrapped) writer
    await new Promise((r) => setImmediate(r));
    const change = a.log.appendWith(() => ({ kind: 'admin', actor: 'op', action: 'test', target: 't' })); // waits for the writer
    await new Promise((r) => setImmediate(r)); // its flush ran: the unit is held until the writer answers
    const id = a.log.open(tunnel('during.example'));
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(a.repo.openRows(), [], 'nothing posted while the unit waits');
    release!();
    await first;
    await change;
    for (let i = 0; i < 100 && a.repo.openRows().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(
      a.repo.openRows().map((r) => r[0]),
      [id],
    );
    await a.stop();
  });
});
