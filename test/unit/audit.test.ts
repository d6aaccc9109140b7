import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { AuditLog } from '../../src/audit/log.ts';
import { AuditSigner } from '../../src/audit/keys.ts';
import { buildExport, type ExportFormat } from '../../src/audit/export.ts';
import { ExportStreamReader, streamExport, type ExportError } from '../../src/audit/export-stream.ts';
import { Writable } from 'node:stream';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { receiveExport } from '../../src/cli/audit-export-file.ts';
import type { BootgateError } from '../../src/errors.ts';
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
    assert.deepEqual(
      records.map((r) => r.seq),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
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
    assert.deepEqual(
      rs.map((r) => r.time),
      [T0 + 5000, T0 + 5000, T0 + 5000, T0 + 9000],
    );
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
    const { content, manifest } = buildExport(h.repo, h.signer, {
      format: 'ndjson',
      fileName: 'f',
      seat: 'seat-1',
      from: T0 + 5000,
      to: T0 + 25_000,
    });
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
    const cp = await log.purgeExpired();
    assert.ok(cp);
    assert.equal(cp.kind, 'checkpoint');
    const d = JSON.parse(cp.detail!) as { fromSeq: number; throughSeq: number; count: number };
    assert.deepEqual([d.fromSeq, d.throughSeq, d.count], [1, 5, 5]);
    assert.equal(h.repo.first()!.seq, 6);
    assert.deepEqual(verifyStoredChain(h.repo, h.signer.publicKey), { ok: true, count: 6 });
    await log.append(http(11));
    const { content, manifest } = buildExport(h.repo, h.signer, { format: 'ndjson', fileName: 'r' });
    assert.equal(verifyExport(content, JSON.stringify(manifest), h.signer.publicKeyPem()).ok, true);
    assert.equal(await log.purgeExpired(), undefined, 'nothing more to purge');
    // Deleting a retained record behind the log's back is detected.
    h.db.prepare('DELETE FROM audit WHERE seq = 8').run();
    assert.equal((verifyStoredChain(h.repo, h.signer.publicKey) as { code: string }).code, 'RECORD_MISSING');
  });
});

/** A receiver for streamExport: collects the body; `onChunk` runs before each write completes (slow or hostile peers). */
function receiver(opts: { highWaterMark?: number; onChunk?: (i: number, chunk: Buffer) => void | 'hold' } = {}) {
  const chunks: Buffer[] = [];
  let maxBuffered = 0;
  const out = new Writable({
    highWaterMark: opts.highWaterMark ?? 1024,
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      maxBuffered = Math.max(maxBuffered, out.writableLength);
      if (opts.onChunk?.(chunks.length, chunk) === 'hold') return; // never completes: a client that stopped reading
      setImmediate(cb);
    },
  });
  return { out, chunks, body: () => Buffer.concat(chunks), maxBuffered: () => maxBuffered };
}

/** Feeds `body` to an ExportStreamReader in the given pieces; returns the file bytes and the manifest. */
function readStream(body: Buffer, cuts: number[]) {
  const r = new ExportStreamReader();
  const parts: Buffer[] = [];
  let at = 0;
  for (const c of [...cuts, body.length]) {
    parts.push(r.push(body.subarray(at, c)));
    at = c;
  }
  return { file: Buffer.concat(parts).toString('utf8'), manifest: r.end() };
}

describe('streamed audit export', () => {
  for (const format of ['ndjson', 'csv'] as ExportFormat[]) {
    it(`${format}: same bytes and manifest as the in-memory export, whatever the batch and chunk sizes; verifies`, async () => {
      const h = await filled(23);
      const req = { format, fileName: `s.${format}` };
      const expected = buildExport(h.repo, h.signer, req, T0);
      for (const [batchRecords, chunkBytes] of [
        [1, 1],
        [5, 100],
        [23, 1 << 16],
        [5000, 1 << 16],
      ] as const) {
        const rx = receiver();
        const m = await streamExport(h.repo, h.signer, req, rx.out, { batchRecords, chunkBytes, now: () => T0 });
        assert.deepEqual(m, expected.manifest);
        const got = readStream(rx.body(), []);
        assert.equal(got.file, expected.content, `batch ${batchRecords} chunk ${chunkBytes}`);
        assert.deepEqual(got.manifest, expected.manifest);
        assert.equal(verifyExport(got.file, JSON.stringify(got.manifest), h.signer.publicKeyPem()).ok, true);
      }
    });
  }

  it('the reader recovers file and manifest with the body split at every byte (and in three pieces everywhere)', async () => {
    const h = await filled(4);
    for (const format of ['ndjson', 'csv'] as ExportFormat[]) {
      const req = { format, fileName: 'x' };
      const expected = buildExport(h.repo, h.signer, req, T0);
      const rx = receiver();
      await streamExport(h.repo, h.signer, req, rx.out, { now: () => T0 });
      const body = rx.body();
      const every = readStream(
        body,
        Array.from({ length: body.length - 1 }, (_, i) => i + 1),
      );
      assert.equal(every.file, expected.content);
      for (let i = 0; i <= body.length; i += 7)
        for (let j = i; j <= body.length; j += 13) assert.equal(readStream(body, [i, j]).file, expected.content);
    }
  });

  it('an empty range: the body is only the manifest; the empty file verifies', async () => {
    const h = await filled(3);
    const rx = receiver();
    const req = { format: 'ndjson' as const, fileName: 'e', from: T0 + 1_000_000 };
    const m = await streamExport(h.repo, h.signer, req, rx.out);
    assert.equal(m.count, 0);
    const got = readStream(rx.body(), []);
    assert.equal(got.file, '');
    assert.equal(verifyExport('', JSON.stringify(got.manifest), h.signer.publicKeyPem()).ok, true);
  });

  it('a truncated stream is EXPORT_INCOMPLETE; a changed byte is EXPORT_DIGEST', async () => {
    const h = await filled(10);
    const rx = receiver();
    await streamExport(h.repo, h.signer, { format: 'ndjson', fileName: 't' }, rx.out);
    const body = rx.body();
    const code = (f: () => unknown) => {
      try {
        f();
        return 'none';
      } catch (e) {
        return (e as ExportError).code;
      }
    };
    const nlBeforeManifest = body.lastIndexOf(0x0a);
    assert.equal(
      code(() => readStream(body.subarray(0, nlBeforeManifest + 1), [])),
      'EXPORT_INCOMPLETE',
    );
    assert.equal(
      code(() => readStream(body.subarray(0, body.length - 5), [])),
      'EXPORT_INCOMPLETE',
    );
    assert.equal(
      code(() => readStream(body.subarray(0, 400), [])),
      'EXPORT_INCOMPLETE',
    );
    const edited = Buffer.from(body);
    edited[body.indexOf('example.test')]! ^= 1;
    assert.equal(
      code(() => readStream(edited, [])),
      'EXPORT_DIGEST',
    );
  });

  it('records appended while the export runs are not in it (the seq window is fixed at the start); it verifies', async () => {
    const h = await filled(20);
    let appended = 0;
    const rx = receiver({
      onChunk: () => {
        if (appended < 5) {
          appended++;
          void h.log.append(http(100 + appended));
        }
      },
    });
    const m = await streamExport(h.repo, h.signer, { format: 'ndjson', fileName: 'w' }, rx.out, { batchRecords: 4, chunkBytes: 1 });
    assert.equal(appended, 5);
    assert.equal(h.repo.last()!.seq, 25, 'the appends committed during the export');
    assert.deepEqual([m.count, m.firstSeq, m.lastSeq], [20, 1, 20]);
    const got = readStream(rx.body(), []);
    assert.equal(verifyExport(got.file, JSON.stringify(got.manifest), h.signer.publicKeyPem()).ok, true);
  });

  it('a retention purge of the unread part of the window fails the export with EXPORT_RANGE_PURGED', async () => {
    let t = T0;
    const h = makeLog(() => (t += 1000));
    await Promise.all(Array.from({ length: 30 }, (_, i) => h.log.append(http(i))));
    let purged = false;
    const rx = receiver({
      onChunk: () => {
        if (!purged) {
          purged = true;
          h.log.purgeOlderThan(T0 + 20_500);
        }
      },
    });
    await assert.rejects(
      streamExport(h.repo, h.signer, { format: 'csv', fileName: 'p' }, rx.out, { batchRecords: 5, chunkBytes: 1 }),
      (e: ExportError) => e.code === 'EXPORT_RANGE_PURGED',
    );
  });

  it('a receiver that stops reading holds the export back: no further batch is read, nothing more is written', async () => {
    const h = await filled(50);
    const batches: number[] = [];
    const exportBatch = h.repo.exportBatch.bind(h.repo);
    h.repo.exportBatch = (s, after, limit) => (batches.push(after), exportBatch(s, after, limit));
    const rx = receiver({ highWaterMark: 256, onChunk: () => 'hold' });
    let settled = false;
    const p = streamExport(h.repo, h.signer, { format: 'ndjson', fileName: 'h' }, rx.out, { batchRecords: 5, chunkBytes: 512 }).finally(
      () => (settled = true),
    );
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    assert.equal(settled, false);
    assert.deepEqual(batches, [0], 'only the first batch was read');
    assert.equal(rx.chunks.length, 1, 'one chunk handed to the receiver, then it waits for drain');
    rx.out.destroy();
    await assert.rejects(p, (e: ExportError) => e.code === 'EXPORT_ABORTED');
    assert.deepEqual(batches, [0]);
  });
});

describe('exports of the previous version (test/fixtures/audit: written by the in-memory buildExport + JSON reply)', () => {
  const FIX = join(fileURLToPath(import.meta.url), '../../fixtures/audit');
  const priv = createPrivateKey(readFileSync(join(FIX, 'test-only-signing-key.pem')));
  const signer = new AuditSigner(priv, createPublicKey(priv));
  // The records the fixtures were generated from (same clock, same fields).
  const rec = (i: number) => ({
    kind: (i % 4 === 0 ? 'admin' : 'http') as 'admin' | 'http',
    seat: i % 3 ? `A${i % 3}` : null,
    ip: '10.75.0.20',
    userId: `u${i % 2}`,
    userName: i % 2 ? 'Zoë "Q" Müller, jr.' : 'Ann\nLines',
    url: `http://example.test/p/${i}?a=1,b=2`,
    status: i % 5 ? 200 : null,
    bytesDown: 1000 * i,
    actor: i % 4 === 0 ? 'token:admin' : null,
    detail: i === 3 ? '' : i % 4 === 0 ? JSON.stringify({ note: 'x\r\ny' }) : null,
  });

  for (const format of ['ndjson', 'csv'] as ExportFormat[]) {
    it(`${format}: still verifies, and today's streamed export of the same records is byte-identical (file and manifest)`, async () => {
      const file = join(FIX, `v1-export.${format}`);
      const r = verifyExportFile(file, signer.publicKeyPem());
      assert.equal(r.ok, true, JSON.stringify(r));
      let t = T0;
      const repo = new AuditRepository(openDatabase(':memory:'));
      const log = new AuditLog({ repo, signer, logger: silent, clock: () => (t += 1000) });
      for (let i = 0; i < 14; i++) await log.append(rec(i));
      const rx = receiver();
      await streamExport(repo, signer, { format, fileName: `v1-export.${format}` }, rx.out, {
        now: () => T0 + 100_000,
        batchRecords: 3,
        chunkBytes: 500,
      });
      const got = readStream(rx.body(), []);
      assert.equal(got.file, readFileSync(file, 'utf8'));
      assert.equal(`${JSON.stringify(got.manifest, null, 2)}\n`, readFileSync(`${file}.manifest.json`, 'utf8'));
    });
  }
});

describe('bootgate audit export: receiving the stream into FILE and FILE.manifest.json', () => {
  const streamed = async () => {
    const h = await filled(40);
    const rx = receiver();
    await streamExport(h.repo, h.signer, { format: 'csv', fileName: 'r.csv' }, rx.out);
    return { h, body: rx.body() };
  };
  /** A reply whose body arrives in 100-byte pieces and, optionally, breaks off after `failAt` bytes. */
  const reply = (body: Buffer, failAt?: number) => {
    let at = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (failAt !== undefined && at >= failAt) return c.error(new Error('connection reset'));
        if (at >= body.length) return c.close();
        c.enqueue(new Uint8Array(body.subarray(at, Math.min(at + 100, body.length, failAt ?? Infinity))));
        at += 100;
      },
    });
    return new Response(stream, {
      headers: { 'content-type': 'application/vnd.bootgate.audit-export-stream; framing=bootgate-audit-stream/1; format=csv' },
    });
  };

  it('a complete stream: FILE and FILE.manifest.json as the in-memory export wrote them; verifies; no .partial left', async () => {
    const { h, body } = await streamed();
    const dir = mkdtempSync(join(tmpdir(), 'bg-rx-'));
    const file = join(dir, 'r.csv');
    const m = await receiveExport(reply(body), file);
    assert.equal(m.count, 40);
    assert.equal(verifyExportFile(file, h.signer.publicKeyPem()).ok, true);
    assert.deepEqual(readdirSync(dir).sort(), ['r.csv', 'r.csv.manifest.json']);
  });

  it('a stream that breaks off or ends without its manifest leaves no FILE (EXPORT_INCOMPLETE); a wrong digest is EXPORT_DIGEST', async () => {
    const { body } = await streamed();
    const dir = mkdtempSync(join(tmpdir(), 'bg-rx-'));
    const file = join(dir, 'r.csv');
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'none',
        (e: BootgateError) => e.code,
      );
    assert.equal(await code(receiveExport(reply(body, 3000), file)), 'EXPORT_INCOMPLETE');
    assert.equal(await code(receiveExport(reply(body.subarray(0, body.lastIndexOf(0x0a) + 1)), file)), 'EXPORT_INCOMPLETE');
    const edited = Buffer.from(body);
    edited[500]! ^= 1;
    assert.equal(await code(receiveExport(reply(edited), file)), 'EXPORT_DIGEST');
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(
      await code(receiveExport(new Response('{"content":"","manifest":{}}', { headers: { 'content-type': 'application/json' } }), file)),
      'EXPORT_INCOMPLETE',
    );
  });
});
