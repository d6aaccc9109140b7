import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { AuditLog } from '../../src/audit/log.ts';
import { AuditSigner } from '../../src/audit/keys.ts';
import { buildExport, type ExportFormat } from '../../src/audit/export.ts';
import { verifyExport, verifyExportFile } from '../../src/audit/verify.ts';
import { verifyStoredChain } from '../../src/audit/verify-store.ts';
import { GENESIS_HASH, canonical, chainHash, normalise } from '../../src/audit/record.ts';
import { parseCsv } from '../../src/audit/csv.ts';
import { openDatabase } from '../../src/store/database.ts';
import { AuditRepository } from '../../src/store/audit-repository.ts';

const silent = pino({ level: 'silent' });
const T0 = Date.parse('2026-01-10T12:00:00.000Z');

function makeLog(clock: () => number = () => T0, file = ':memory:') {
  const db = openDatabase(file);
  const repo = new AuditRepository(db);
  const signer = AuditSigner.generate();
  const log = new AuditLog({ repo, signer, logger: silent, clock });
  return { db, repo, signer, log };
}

const http = (i: number) => ({
  kind: 'http' as const,
  seat: `seat-${i % 3}`,
  ip: '10.75.0.20',
  mac: '52:54:00:75:00:01',
  userId: `u${i % 2}`,
  userName: i % 2 ? 'Zoë "Q" Müller, jr.' : 'Ann\nLines',
  docType: 'passport',
  docNumber: `X${i}`,
  docCountry: 'DE',
  sessionId: 's1',
  method: 'GET',
  host: 'example.test',
  port: 80,
  url: `http://example.test/p/${i}?a=1,b=2`,
  status: 200,
  bytesUp: 100 + i,
  bytesDown: 1000 * i,
  durationMs: 5,
  verdict: 'allowed',
  detail: i === 3 ? '' : null,
});

async function filled(n: number, clockStep = 1000) {
  let t = T0;
  const h = makeLog(() => (t += clockStep));
  await Promise.all(Array.from({ length: n }, (_, i) => h.log.append(http(i))));
  return h;
}

describe('audit chain', () => {
  it('canonical form is a fixed-order array; absent fields are null; the hash covers prevHash', () => {
    const body = normalise({ kind: 'admin', actor: 'root', action: 'x' }, 1, T0);
    const c = JSON.parse(canonical(body)) as unknown[];
    assert.equal(c[0], 1);
    assert.equal(c[1], '2026-01-10T12:00:00.000Z');
    assert.equal(c[2], 'admin');
    assert.equal(c.length, 26);
    assert.equal(c[3], null);
    assert.notEqual(chainHash(GENESIS_HASH, body), chainHash('1'.repeat(64), body));
    assert.throws(() => normalise({ kind: 'http', port: 1.5 }, 1, T0), /integer/);
    assert.throws(() => normalise({ kind: 'nope' as 'http' }, 1, T0), /kind/);
  });

  it('group commit: one turn of appends is one transaction; records link seq by seq from genesis', async () => {
    const { repo, log, signer } = makeLog();
    const records = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(http(i))));
    assert.deepEqual(records.map((r) => r.seq), Array.from({ length: 50 }, (_, i) => i + 1));
    assert.equal(records[0]!.prevHash, GENESIS_HASH);
    for (let i = 1; i < records.length; i++) assert.equal(records[i]!.prevHash, records[i - 1]!.hash);
    assert.deepEqual(repo.last(), records.at(-1));
    assert.deepEqual(verifyStoredChain(repo, signer.publicKey), { ok: true, count: 50 });
  });

  it('time never decreases along the chain even when the clock steps back', async () => {
    const times = [T0 + 5000, T0, T0 + 1000, T0 + 9000];
    const { log } = makeLog(() => times.shift() ?? T0);
    const rs = [];
    for (let i = 0; i < 4; i++) rs.push(await log.append({ kind: 'admin', action: `a${i}` }));
    assert.deepEqual(rs.map((r) => r.time), [T0 + 5000, T0 + 5000, T0 + 5000, T0 + 9000]);
  });

  it('a unit whose build throws is rolled back alone; the others in the batch commit', async () => {
    const { db, repo, log, signer } = makeLog();
    db.exec('CREATE TABLE side (v TEXT)');
    const ins = db.prepare('INSERT INTO side (v) VALUES (?)');
    const ok1 = log.appendWith(() => (ins.run('one'), { kind: 'admin', action: 'one' }));
    const bad = log.appendWith(() => {
      ins.run('bad');
      throw new Error('refused');
    });
    const ok2 = log.appendWith(() => (ins.run('two'), { kind: 'admin', action: 'two' }));
    await assert.rejects(bad, /refused/);
    assert.deepEqual([(await ok1).seq, (await ok2).seq], [1, 2]);
    assert.deepEqual(db.prepare('SELECT v FROM side').pluck().all(), ['one', 'two']);
    assert.equal(verifyStoredChain(repo, signer.publicKey).ok, true);
  });

  it('the table refuses updates (append-only)', async () => {
    const { db, log } = makeLog();
    await log.append(http(1));
    assert.throws(() => db.prepare("UPDATE audit SET host = 'x'").run(), /append-only/);
  });

  it('a reopened log continues the chain from the stored tail', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'bg-audit-')), 'a.db');
    const a = makeLog(() => T0, file);
    await a.log.append(http(1));
    const last = await a.log.append(http(2));
    a.db.close();
    const db = openDatabase(file);
    const repo = new AuditRepository(db);
    const log = new AuditLog({ repo, signer: a.signer, logger: silent, clock: () => T0 });
    const next = await log.append(http(3));
    assert.equal(next.seq, 3);
    assert.equal(next.prevHash, last.hash);
    assert.equal(verifyStoredChain(repo, a.signer.publicKey).ok, true);
  });
});

describe('audit export and verify', () => {
  for (const format of ['ndjson', 'csv'] as ExportFormat[]) {
    describe(format, () => {
      const setup = async () => {
        const h = await filled(12);
        const { content, manifest } = buildExport(h.repo, h.signer, { format, fileName: `x.${format}` });
        const pem = h.signer.publicKeyPem();
        const lines = content.split(format === 'csv' ? '\r\n' : '\n');
        const join_ = (ls: string[]) => ls.join(format === 'csv' ? '\r\n' : '\n');
        return { content, manifest: JSON.stringify(manifest), pem, lines, join_, off: format === 'csv' ? 1 : 0 };
      };

      it('an untouched export verifies with only the public key', async () => {
        const { content, manifest, pem } = await setup();
        const r = verifyExport(content, manifest, pem);
        assert.equal(r.ok, true, JSON.stringify(r));
        if (r.ok) assert.deepEqual([r.count, r.firstSeq, r.lastSeq, r.embeddedKey], [12, 1, 12, false]);
      });

      it('one edited byte → RECORD_ALTERED naming the line', async () => {
        const { content, manifest, pem } = await setup();
        const at = content.indexOf('example.test/p/5');
        const edited = `${content.slice(0, at)}E${content.slice(at + 1)}`;
        const r = verifyExport(edited, manifest, pem);
        assert.equal(r.ok, false);
        if (!r.ok) {
          assert.equal(r.code, 'RECORD_ALTERED');
          assert.match(r.reason, /seq 6/);
        }
      });

      it('a number edited (bytes down) → RECORD_ALTERED', async () => {
        const { content, manifest, pem } = await setup();
        const edited = content.replace('"bytesDown":7000', '"bytesDown":7001').replace(',7000,', ',7001,');
        assert.notEqual(edited, content);
        const r = verifyExport(edited, manifest, pem);
        assert.equal(!r.ok && r.code, 'RECORD_ALTERED');
      });

      it('a dropped line → RECORD_MISSING (middle) or BOUNDARY_MISMATCH (end)', async () => {
        const { manifest, pem, lines, join_, off } = await setup();
        const middle = lines.filter((_, i) => i !== off + 4);
        const r = verifyExport(join_(middle), manifest, pem);
        assert.equal(!r.ok && r.code, 'RECORD_MISSING');
        assert.match(!r.ok ? r.reason : '', /seq 5 missing/);
        const end = [...lines.slice(0, off + 11), ''];
        const r2 = verifyExport(join_(end), manifest, pem);
        assert.equal(!r2.ok && r2.code, 'BOUNDARY_MISMATCH');
        const start = lines.filter((_, i) => i !== off);
        const r3 = verifyExport(join_(start), manifest, pem);
        assert.equal(!r3.ok && r3.code, 'CHAIN_BROKEN');
      });

      it('two swapped lines → RECORD_REORDERED', async () => {
        const { manifest, pem, lines, join_, off } = await setup();
        const s = [...lines];
        [s[off + 2], s[off + 7]] = [s[off + 7]!, s[off + 2]!];
        const r = verifyExport(join_(s), manifest, pem);
        assert.equal(!r.ok && r.code, 'RECORD_REORDERED');
      });

      it('a changed manifest → SIGNATURE_INVALID; another key → KEY_MISMATCH', async () => {
        const { content, manifest, pem } = await setup();
        const m = JSON.parse(manifest) as { count: number };
        m.count = 11;
        assert.equal((verifyExport(content, JSON.stringify(m), pem) as { code: string }).code, 'SIGNATURE_INVALID');
        assert.equal((verifyExport(content, manifest, AuditSigner.generate().publicKeyPem()) as { code: string }).code, 'KEY_MISMATCH');
      });

      it('formatting changed outside the records → FILE_DIGEST', async () => {
        const { content, manifest, pem } = await setup();
        const reformatted = format === 'csv' ? content.replace(/\r\n$/, '\n') : content.replace('{"seq":3,', '{"seq": 3,');
        assert.notEqual(reformatted, content);
        const r = verifyExport(reformatted, manifest, pem);
        assert.equal(!r.ok && r.code, 'FILE_DIGEST');
      });
    });
  }

  it('property: every single-byte change of an export fails verification, and verify never throws', async () => {
    const h = await filled(6);
    const pem = h.signer.publicKeyPem();
    for (const format of ['ndjson', 'csv'] as ExportFormat[]) {
      const { content, manifest } = buildExport(h.repo, h.signer, { format, fileName: 'p' });
      const m = JSON.stringify(manifest);
      const bytes = Buffer.from(content, 'utf8');
      fc.assert(
        fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), (at, xor) => {
          const b = Buffer.from(bytes);
          b[at]! ^= xor;
          const r = verifyExport(b.toString('utf8'), m, pem);
          assert.equal(r.ok, false);
        }),
        { numRuns: 300 },
      );
    }
  });

  it('CSV keeps "" apart from null and round-trips quotes, commas and newlines', () => {
    const rows = parseCsv('a,"",,"x ""q"", y\r\nz"\r\n1,2,3,4\r\n');
    assert.deepEqual(rows[0]!.cells, [
      { text: 'a', quoted: false },
      { text: '', quoted: true },
      { text: '', quoted: false },
      { text: 'x "q", y\r\nz', quoted: true },
    ]);
    assert.equal(rows[1]!.line, 3);
  });

  it('filtered export (by seat, time range) verifies; dropping a record is a COUNT_MISMATCH, swapping is RECORD_REORDERED', async () => {
    const h = await filled(30);
    const { content, manifest } = buildExport(h.repo, h.signer, { format: 'ndjson', fileName: 'f', seat: 'seat-1', from: T0 + 5000, to: T0 + 25_000 });
    const lines = content.trimEnd().split('\n');
    assert.ok(lines.every((l) => l.includes('"seat":"seat-1"')));
    assert.equal(manifest.count, lines.length);
    assert.ok(lines.length >= 6);
    const pem = h.signer.publicKeyPem();
    assert.equal(verifyExport(content, JSON.stringify(manifest), pem).ok, true);
    const dropped = [...lines.slice(0, 2), ...lines.slice(3)].join('\n') + '\n';
    assert.equal((verifyExport(dropped, JSON.stringify(manifest), pem) as { code: string }).code, 'COUNT_MISMATCH');
    const sw = [...lines];
    [sw[1], sw[2]] = [sw[2]!, sw[1]!];
    assert.equal((verifyExport(sw.join('\n') + '\n', JSON.stringify(manifest), pem) as { code: string }).code, 'RECORD_REORDERED');
  });

  it('verifyExportFile reads FILE and FILE.manifest.json; a missing manifest is MANIFEST_MISSING', async () => {
    const h = await filled(3);
    const dir = mkdtempSync(join(tmpdir(), 'bg-exp-'));
    const { content, manifest } = buildExport(h.repo, h.signer, { format: 'csv', fileName: 'e.csv' });
    writeFileSync(join(dir, 'e.csv'), content);
    assert.equal(verifyExportFile(join(dir, 'e.csv')).ok === false, true);
    assert.equal((verifyExportFile(join(dir, 'e.csv')) as { code: string }).code, 'MANIFEST_MISSING');
    writeFileSync(join(dir, 'e.csv.manifest.json'), JSON.stringify(manifest));
    const r = verifyExportFile(join(dir, 'e.csv'));
    assert.equal(r.ok && r.embeddedKey, true);
  });
});

describe('audit keys and retention', () => {
  it('the key pair is created once in keys/, private key mode 0600, reused on the next start', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-keys-'));
    const a = AuditSigner.loadOrCreate(join(dir, 'keys'));
    assert.equal(statSync(join(dir, 'keys/audit-ed25519.key.pem')).mode & 0o777, 0o600);
    const b = AuditSigner.loadOrCreate(join(dir, 'keys'));
    assert.equal(a.fingerprint(), b.fingerprint());
    assert.equal(readFileSync(join(dir, 'keys/audit-ed25519.pub.pem'), 'utf8'), a.publicKeyPem());
  });

  it('purge removes old records, appends a signed checkpoint; the remaining chain and a new export verify', async () => {
    let now = T0;
    const h = makeLog(() => now);
    for (let i = 0; i < 10; i++) {
      now = T0 + i * 86_400_000;
      await h.log.append(http(i));
    }
    now = T0 + 10 * 86_400_000;
    const log = new AuditLog({ repo: h.repo, signer: h.signer, logger: silent, clock: () => now, retentionDays: 5 });
    const cp = log.purgeExpired();
    assert.ok(cp);
    assert.equal(cp.kind, 'checkpoint');
    const d = JSON.parse(cp.detail!) as { fromSeq: number; throughSeq: number; count: number };
    assert.deepEqual([d.fromSeq, d.throughSeq, d.count], [1, 5, 5]);
    assert.equal(h.repo.first()!.seq, 6);
    assert.deepEqual(verifyStoredChain(h.repo, h.signer.publicKey), { ok: true, count: 6 });
    await log.append(http(11));
    const { content, manifest } = buildExport(h.repo, h.signer, { format: 'ndjson', fileName: 'r' });
    assert.equal(verifyExport(content, JSON.stringify(manifest), h.signer.publicKeyPem()).ok, true);
    assert.equal(log.purgeExpired(), undefined, 'nothing more to purge');
    // Deleting a retained record behind the log's back is detected.
    h.db.prepare('DELETE FROM audit WHERE seq = 8').run();
    assert.equal((verifyStoredChain(h.repo, h.signer.publicKey) as { code: string }).code, 'RECORD_MISSING');
  });
});
