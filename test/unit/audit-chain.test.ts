/**
 * The hash chain object (src/audit/chain.ts) that every path of the audit log seals records with: the writer-thread
 * post, the main-connection commit and the retention purge. It advances from genesis, resumes from the store after a
 * restart or kill -9, keeps verifying behind a retention checkpoint, and a record altered afterwards is found.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { AuditChain } from '../../src/audit/chain.ts';
import type { CheckpointDetail } from '../../src/audit/checkpoint.ts';
import { buildExport } from '../../src/audit/export.ts';
import { AuditSigner } from '../../src/audit/keys.ts';
import { AuditLog } from '../../src/audit/log.ts';
import { GENESIS_HASH, chainHash, hashMatches, type AuditInput } from '../../src/audit/record.ts';
import { verifyExport } from '../../src/audit/verify.ts';
import { verifyStoredChain } from '../../src/audit/verify-store.ts';
import { AuditRepository } from '../../src/store/audit-repository.ts';
import { openDatabase } from '../../src/store/database.ts';

const silent = pino({ level: 'silent' });
const T0 = Date.parse('2026-01-10T12:00:00.000Z');
const DAY = 86_400_000;
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const FIX = join(fileURLToPath(import.meta.url), '../../fixtures/audit');
const fixtureKey = createPrivateKey(readFileSync(join(FIX, 'test-only-signing-key.pem')));
const fixtureSigner = () => new AuditSigner(fixtureKey, createPublicKey(fixtureKey));

const http = (i: number): AuditInput => ({ kind: 'http', seat: 'A1', url: `http://example.test/${i}`, bytesDown: i });

function dbFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bg-audit-chain-'));
  dirs.push(dir);
  return join(dir, 'bootgate.db');
}

describe('audit chain object', () => {
  it('advance: seq by seq from genesis, each record linked to the one before, time never before the head', () => {
    const times = [T0 + 5000, T0, T0 + 9000];
    const chain = new AuditChain(() => times.shift() ?? T0);
    assert.deepEqual(chain.head(), { seq: 0, hash: GENESIS_HASH, time: 0 });
    const rs = [0, 1, 2].map((i) => chain.advance(http(i)));
    assert.deepEqual(
      rs.map((r) => r.seq),
      [1, 2, 3],
    );
    assert.deepEqual(
      rs.map((r) => r.time),
      [T0 + 5000, T0 + 5000, T0 + 9000],
      'the clock stepped back: time stays',
    );
    assert.equal(rs[0]!.prevHash, GENESIS_HASH);
    for (let i = 1; i < rs.length; i++) assert.equal(rs[i]!.prevHash, rs[i - 1]!.hash);
    for (const r of rs) assert.ok(hashMatches(r));
    const { prevHash, hash, ...body } = rs[2]!;
    assert.equal(hash, chainHash(prevHash, body), 'the hash is record.ts chainHash, nothing of its own');
    assert.deepEqual(chain.head(), { seq: 3, hash: rs[2]!.hash, time: T0 + 9000 });
  });

  it('next() seals without moving the head; accept() takes only the record sealed on the head', () => {
    const chain = new AuditChain(() => T0);
    const a = chain.next(http(1));
    const b = chain.next(http(2));
    assert.equal(chain.head().seq, 0);
    assert.equal(b.seq, 1, 'sealed on the same head as a');
    chain.accept(a);
    assert.throws(() => chain.accept(b), /does not follow/);
    assert.deepEqual(chain.head(), { seq: 1, hash: a.hash, time: T0 });
    assert.throws(() => chain.next({ kind: 'http', port: 1.5 }), /integer/);
    assert.equal(chain.head().seq, 1, 'a record that does not normalise leaves the head');
  });

  it('resume after a restart or kill -9: the head is the last committed record; sealed but uncommitted ones are gone', async () => {
    const file = dbFile();
    const db = openDatabase(file);
    const repo = new AuditRepository(db);
    const signer = AuditSigner.generate();
    let t = T0;
    const log = new AuditLog({ repo, signer, logger: silent, clock: () => (t += 1000) });
    const committed = await Promise.all([1, 2, 3, 4].map((i) => log.append(http(i))));
    assert.deepEqual(AuditChain.resume(repo).head(), log.head());
    // Sealed on the chain, never stored (a commit that failed, or a kill -9 before it): not part of the chain.
    const lost = AuditChain.resume(repo, () => t);
    lost.advance(http(5));
    lost.advance(http(6));
    lost.resume(repo);
    assert.deepEqual(lost.head(), { seq: 4, hash: committed[3]!.hash, time: committed[3]!.time });

    // kill -9: the first connection is never closed; the next life opens the file again.
    const repo2 = new AuditRepository(openDatabase(file));
    const chain = AuditChain.resume(repo2, () => T0); // the clock is behind the stored tail
    assert.deepEqual(chain.head(), { seq: 4, hash: committed[3]!.hash, time: committed[3]!.time });
    const next = chain.advance(http(7));
    assert.deepEqual([next.seq, next.prevHash, next.time], [5, committed[3]!.hash, committed[3]!.time]);
    repo2.append(next);
    assert.deepEqual(verifyStoredChain(repo2, signer.publicKey), { ok: true, count: 5 });
    const log2 = new AuditLog({ repo: repo2, signer, logger: silent, clock: () => T0 + DAY });
    assert.equal((await log2.append(http(8))).prevHash, next.hash, 'the log resumes from the same head');
    db.close();
  });

  it('purge behind a checkpoint: the chain goes on from the checkpoint, the store and an export verify, hashes as before', async () => {
    let now = T0;
    const repo = new AuditRepository(openDatabase(':memory:'));
    const signer = fixtureSigner();
    const log = new AuditLog({ repo, signer, logger: silent, clock: () => now, retentionDays: 5 });
    for (let i = 0; i < 10; i++) {
      now = T0 + i * DAY;
      await log.append(http(i));
    }
    const anchor = repo.get(5)!;
    now = T0 + 10 * DAY;
    const cp = await log.purgeExpired();
    assert.ok(cp);
    assert.deepEqual([cp.seq, cp.kind, cp.prevHash], [11, 'checkpoint', repo.get(10)!.hash]);
    const d = JSON.parse(cp.detail!) as CheckpointDetail;
    assert.deepEqual([d.fromSeq, d.throughSeq, d.count, d.anchorHash, d.cutoff], [1, 5, 5, anchor.hash, '2026-01-15T12:00:00.000Z']);
    assert.equal(repo.first()!.prevHash, d.anchorHash, 'the oldest remaining record links to the anchor');
    // The same records, key and clock as before the chain object: the same bytes (recorded from the previous code).
    assert.equal(cp.hash, 'a49898e072c1ad182fa1735e0f033efbda1190b32f0e1701de745353d1b88590');
    assert.deepEqual(AuditChain.resume(repo).head(), log.head());
    const last = await log.append({ kind: 'admin', actor: 'token:admin', action: 'x' });
    assert.equal(last.hash, '12caae9b9ccb9c6072f247231a8676a30339e028e36e1b439ebb8d79f0d7090c');
    assert.deepEqual(verifyStoredChain(repo, signer.publicKey), { ok: true, count: 7 });
    const { content, manifest } = buildExport(repo, signer, { format: 'ndjson', fileName: 'r.ndjson' });
    assert.equal(manifest.prevHash, d.anchorHash);
    assert.equal(verifyExport(content, JSON.stringify(manifest), signer.publicKeyPem()).ok, true);
  });

  it('a tampered record is found: in the store and in an export (RECORD_ALTERED), a forged checkpoint too', async () => {
    let t = T0;
    const db = openDatabase(':memory:');
    const repo = new AuditRepository(db);
    const signer = AuditSigner.generate();
    const log = new AuditLog({ repo, signer, logger: silent, clock: () => (t += 1000) });
    for (let i = 0; i < 6; i++) await log.append(http(i));
    await log.purgeOlderThan(T0 + 2500); // seq 1-2 behind a checkpoint (seq 7)
    const { content, manifest } = buildExport(repo, signer, { format: 'ndjson', fileName: 'r.ndjson' });
    const edited = content.replace('"bytesDown":4', '"bytesDown":40');
    assert.notEqual(edited, content);
    const r = verifyExport(edited, JSON.stringify(manifest), signer.publicKeyPem());
    assert.equal(!r.ok && r.code, 'RECORD_ALTERED');

    db.exec('DROP TRIGGER audit_append_only'); // what someone with the database file could do
    db.prepare("UPDATE audit SET url = 'http://elsewhere.test/' WHERE seq = 4").run();
    const s = verifyStoredChain(repo, signer.publicKey);
    assert.equal(!s.ok && s.code, 'RECORD_ALTERED');
    assert.match(!s.ok ? s.reason : '', /seq 4/);
    db.prepare("UPDATE audit SET url = 'http://example.test/3' WHERE seq = 4").run();
    assert.equal(verifyStoredChain(repo, signer.publicKey).ok, true);
    db.prepare(`UPDATE audit SET detail = replace(detail, '"count":2', '"count":1') WHERE kind = 'checkpoint'`).run();
    assert.equal((verifyStoredChain(repo, signer.publicKey) as { code: string }).code, 'CHECKPOINT_INVALID');
  });
});
