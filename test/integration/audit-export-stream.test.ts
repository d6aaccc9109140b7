import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, createWriteStream } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { AuditLog } from '../../src/audit/log.ts';
import { AuditSigner } from '../../src/audit/keys.ts';
import { ExportStreamReader } from '../../src/audit/export-stream.ts';
import { verifyExportFile } from '../../src/audit/verify.ts';
import { openDatabase } from '../../src/store/database.ts';
import { AuditRepository } from '../../src/store/audit-repository.ts';
import { BIN } from '../helpers/bootgate-process.ts';

/**
 * Audit exports stream end to end: N records written straight into a data directory (through AuditLog), the real
 * management API (ManagementServer + identity services, as `bootgate serve` mounts them) in a child process with
 * a small V8 heap, and the real CLI (`bootgate audit export` as an auditor, then `bootgate audit verify`).
 *
 * What cannot pass by accident: the server runs with --max-old-space-size=SERVER_HEAP_MB, far below the export
 * size, so an implementation that holds the export (or lets the socket buffer it) dies of heap exhaustion
 * instead of finishing; and the server samples its own heapUsed + arrayBuffers every 100 ms after a full GC
 * (retained memory), and the peak growth during the export must stay under GROWTH_BOUND_MB, which the test
 * checks is less than a tenth of the file. The CLI runs with a CLIENT_HEAP_MB heap, so it cannot buffer the body
 * either. Neither is a timing
 * assertion: no duration is measured or bounded (the times are only printed).
 */
const N = Number(process.env.AUDIT_EXPORT_RECORDS ?? 200_000);
const SERVER_HEAP_MB = 96;
const CLIENT_HEAP_MB = 64;
const GROWTH_BOUND_MB = 16;
const MB = 1024 * 1024;
const HELPER = join(fileURLToPath(import.meta.url), '../../helpers/audit-api-process.ts');
const run = promisify(execFile);

/** A realistic proxied request, about 1 KB per exported line. */
const record = (i: number) => ({
  kind: 'http' as const,
  seat: `A${i % 40}`,
  ip: `10.75.0.${10 + (i % 40)}`,
  mac: `52:54:00:75:00:${(i % 40).toString(16).padStart(2, '0')}`,
  userId: `user-${i % 500}`,
  userName: `Customer ${i % 500}`,
  docType: 'passport',
  docNumber: `P${1_000_000 + (i % 500)}`,
  docCountry: 'FR',
  sessionId: `session-${Math.floor(i / 100)}`,
  method: 'GET',
  host: 'www.example.test',
  port: 443,
  url: `https://www.example.test/search?q=${'audit-export-'.repeat(40)}${i}&page=${i % 10}`,
  sni: 'www.example.test',
  status: 200,
  bytesUp: 700 + (i % 300),
  bytesDown: 50_000 + i,
  durationMs: 20 + (i % 700),
  verdict: 'allowed',
  detail: JSON.stringify({
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Safari/537.36',
    referer: null,
  }),
});

describe(`streamed audit export of ${N} records through the API and the CLI`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'bg-audit-stream-'));
  const dataDir = join(dir, 'data');
  const configFile = join(dir, 'bootgate.yaml');
  const auditorTokenFile = join(dir, 'auditor.token');
  const pubKey = join(dataDir, 'keys/audit-ed25519.pub.pem');
  let server: ChildProcess | undefined;
  let port = 0;
  let adminToken = '';

  const url = (path: string) => `http://127.0.0.1:${port}${path}`;
  const memory = async () =>
    (await (await fetch(url('/test/memory'))).json()) as {
      base: { heapPlusBuffers: number; rss: number };
      peak: { heapPlusBuffers: number; rss: number };
      samples: number;
    };
  const resetMemory = async () => void (await (await fetch(url('/test/memory/reset'), { method: 'POST' })).json());
  const mb = (b: number) => `${(b / MB).toFixed(1)} MB`;

  before(async () => {
    // N records through the audit log's group commit, 10,000 per transaction, as the gateway would have written them.
    const started = Date.now();
    const db = openDatabase(join(dataDir, 'bootgate.db'));
    const repo = new AuditRepository(db);
    const log = new AuditLog({ repo, signer: AuditSigner.loadOrCreate(join(dataDir, 'keys')), logger: pino({ level: 'silent' }) });
    for (let i = 0; i < N; i += 10_000) await Promise.all(Array.from({ length: Math.min(10_000, N - i) }, (_, j) => log.append(record(i + j))));
    log.stop();
    db.close();
    process.stdout.write(`# inserted ${N} records in ${Date.now() - started} ms\n`);

    server = spawn(process.execPath, [`--max-old-space-size=${SERVER_HEAP_MB}`, '--expose-gc', '--import', 'tsx', HELPER, dataDir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    port = await new Promise<number>((resolve, reject) => {
      server!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      server!.once('exit', (code) => reject(new Error(`API process exited (${code}) before listening: ${out}`)));
    });
    adminToken = readFileSync(join(dataDir, 'keys/admin.token'), 'utf8').trim();
    const res = await fetch(url('/api/v1/tokens'), {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'regulator', role: 'auditor' }),
    });
    assert.equal(res.status, 201);
    writeFileSync(auditorTokenFile, `${((await res.json()) as { token: string }).token}\n`);
    writeFileSync(
      configFile,
      stringify({
        dataDir,
        interfaces: { lan: 'lo' },
        dhcp: {
          subnet: '10.75.0.0/24',
          range: { start: '10.75.0.10', end: '10.75.0.200' },
          router: '10.75.0.1',
          dns: ['10.75.0.1'],
          leaseSeconds: 600,
        },
        api: { listen: `127.0.0.1:${port}` },
      }),
    );
  });

  after(async () => {
    const s = server;
    if (s && s.exitCode === null && s.signalCode === null) {
      const exited = once(s, 'exit');
      process.kill(s.pid!, 'SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it(`bootgate audit export (auditor) streams the whole trail to a file that verifies; server heap growth < ${GROWTH_BOUND_MB} MB`, async (t) => {
    for (const format of ['ndjson', 'csv'] as const) {
      const file = join(dir, `year.${format}`);
      await resetMemory();
      const started = Date.now();
      const exp = await run(
        process.execPath,
        [BIN, 'audit', 'export', '-c', configFile, '--token', auditorTokenFile, '--format', format, '--out', file],
        {
          env: { ...process.env, NODE_OPTIONS: `--max-old-space-size=${CLIENT_HEAP_MB}` },
          timeout: 600_000,
        },
      );
      const ms = Date.now() - started;
      const mem = await memory();
      const size = statSync(file).size;
      const growth = mem.peak.heapPlusBuffers - mem.base.heapPlusBuffers;
      assert.ok(mem.samples >= 5, `${mem.samples} memory samples during the export`);
      assert.match(
        exp.stdout,
        new RegExp(`: ${N + 2 + (format === 'csv' ? 1 : 0)} records \\(seq 1\\.\\.`),
        'every record, the token creation and the export record(s)',
      );
      assert.ok(size > 10 * GROWTH_BOUND_MB * MB, `the export (${mb(size)}) is more than ten times the bound`);
      assert.ok(growth < GROWTH_BOUND_MB * MB, `server heap+arrayBuffers grew by ${mb(growth)} during a ${mb(size)} export`);
      const manifest = JSON.parse(readFileSync(`${file}.manifest.json`, 'utf8')) as { count: number; fileSha256: string; file: string };
      assert.equal(manifest.file, `year.${format}`);
      const verify = await run(process.execPath, [BIN, 'audit', 'verify', file, '--public-key', pubKey], { timeout: 600_000, maxBuffer: 1 << 20 });
      assert.match(verify.stdout, new RegExp(`OK — ${manifest.count} records`));
      t.diagnostic(
        `${format}: ${manifest.count} records, ${mb(size)} in ${ms} ms; server heap+arrayBuffers ${mb(mem.base.heapPlusBuffers)} → peak ${mb(mem.peak.heapPlusBuffers)} (growth ${mb(growth)}, ${mem.samples} samples), rss ${mb(mem.base.rss)} → peak ${mb(mem.peak.rss)}`,
      );
    }
  });

  it('a client that stops reading: the server holds the export back with bounded memory, keeps answering, and finishes when it resumes', async (t) => {
    await resetMemory();
    const file = join(dir, 'slow.csv');
    const body = JSON.stringify({ format: 'csv', fileName: 'slow.csv' });
    const req = request(url('/api/v1/audit/export'), {
      method: 'POST',
      headers: {
        authorization: `Bearer ${readFileSync(auditorTokenFile, 'utf8').trim()}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      },
    });
    req.end(body);
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    assert.equal(res.statusCode, 200);
    res.pause();
    // Paused for 3 s: ample time for a server that ignored backpressure to push a good part of the 200 MB into
    // its response buffers. What is asserted is the memory the server retains meanwhile, not any duration.
    await new Promise((r) => setTimeout(r, 3000));
    const whoami = await fetch(url('/api/v1/whoami'), { headers: { authorization: `Bearer ${adminToken}` } });
    assert.equal(whoami.status, 200, 'the API answers while an export waits for its reader');
    const paused = await memory();
    const pausedGrowth = paused.peak.heapPlusBuffers - paused.base.heapPlusBuffers;
    assert.ok(pausedGrowth < GROWTH_BOUND_MB * MB, `server grew by ${mb(pausedGrowth)} while its reader was paused`);

    // Resume, with a slow reader: the stream goes through the CLI's reader into a file at the disk's pace.
    const reader = new ExportStreamReader();
    const out = createWriteStream(file);
    let chunks = 0;
    for await (const chunk of res) {
      const bytes = reader.push(chunk as Buffer);
      if (bytes.length && !out.write(bytes)) await once(out, 'drain');
      if (++chunks % 500 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    out.end();
    await once(out, 'finish');
    const manifest = reader.end();
    writeFileSync(`${file}.manifest.json`, JSON.stringify(manifest));
    const mem = await memory();
    const growth = mem.peak.heapPlusBuffers - mem.base.heapPlusBuffers;
    assert.ok(growth < GROWTH_BOUND_MB * MB, `server grew by ${mb(growth)} during a slow ${mb(reader.bytes)} export`);
    const v = verifyExportFile(file, readFileSync(pubKey, 'utf8'));
    assert.equal(v.ok, true, JSON.stringify(v));
    assert.ok(manifest.count >= N);
    t.diagnostic(
      `slow reader: ${manifest.count} records, ${mb(reader.bytes)}; server growth while paused ${mb(pausedGrowth)}, over the whole export ${mb(growth)}`,
    );
  });
});
