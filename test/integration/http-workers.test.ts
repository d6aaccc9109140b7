import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { curl, startHttpBoot, type HttpBootHarness } from '../helpers/http-boot.ts';

/**
 * `http.workers: 2`: two worker processes share the listener with the main process. Whichever process
 * accepts a connection, the answers must be the same, scripts still come from the main process's policy,
 * and the workers' requests, bytes and file events reach the main process's metrics and timeline.
 */
const MAC = '52:54:00:72:01:01';

async function until(cond: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function metric(h: HttpBootHarness, name: string, labels: string): Promise<number> {
  const text = await h.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((kv) => l.includes(kv)));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('HTTP boot server with worker processes', () => {
  let h: HttpBootHarness;
  const small = randomBytes(4096);
  const big = randomBytes(20 << 20);

  before(async () => {
    h = await startHttpBoot({
      reservations: [{ mac: MAC, profile: 'disk' }],
      defaultProfile: 'thin',
      profiles: { thin: { kernel: 'vmlinuz', initrd: ['initrd.gz'] }, disk: { sanboot: 'img' } },
      config: { workers: 2 },
    });
    writeFileSync(join(h.root, '4k.bin'), small);
    writeFileSync(join(h.root, 'big.bin'), big);
  });
  after(async () => {
    const pids = h?.server.workerPids ?? [];
    await h?.close();
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), 'worker exited on stop()');
  });

  it('starts the configured number of workers', () => {
    assert.equal(h.server.workerPids.length, 2);
  });

  it('60 scripts on fresh connections: every one is the reserved profile, each a "script" event', async () => {
    h.events.length = 0;
    const rs = await Promise.all(Array.from({ length: 60 }, () => curl([`${h.base}/boot.ipxe?mac=${MAC}`])));
    for (const r of rs) {
      assert.equal(r.status, 200);
      assert.ok(r.body.toString().startsWith('#!ipxe\n'));
      assert.ok(r.body.toString().includes('iqn.2026-11.io.bootgate:disk.img.52-54-00-72-01-01'));
    }
    assert.equal(h.events.filter((e) => e.kind === 'script' && e.mac === MAC).length, 60);
  });

  it('60 file downloads on fresh connections are byte-exact; requests, bytes and file events are all accounted', async () => {
    h.events.length = 0;
    const before = await metric(h, 'bootgate_http_bytes_sent_total', 'route="file"');
    const reqBefore = await metric(h, 'bootgate_http_requests_total', 'route="file",status="200"');
    const rs = await Promise.all(Array.from({ length: 60 }, () => curl([`${h.base}/4k.bin`])));
    for (const r of rs) assert.deepEqual(r.body, small);
    await until(
      async () => (await metric(h, 'bootgate_http_requests_total', 'route="file",status="200"')) - reqBefore === 60,
      'request counts from workers',
    );
    assert.equal((await metric(h, 'bootgate_http_bytes_sent_total', 'route="file"')) - before, 60 * 4096);
    await until(() => h.events.filter((e) => e.kind === 'file' && e.path === '/4k.bin').length === 60, 'file events from workers');
  });

  it('ranges and 416 answer the same from any process', async () => {
    const rs = await Promise.all(Array.from({ length: 20 }, () => curl(['-H', 'Range: bytes=0-511', `${h.base}/big.bin`])));
    for (const r of rs) {
      assert.equal(r.status, 206);
      assert.equal(r.headers.get('content-range'), `bytes 0-511/${big.length}`);
      assert.deepEqual(r.body, big.subarray(0, 512));
    }
    const e = await Promise.all(Array.from({ length: 10 }, () => curl(['-H', `Range: bytes=${big.length}-`, `${h.base}/big.bin`])));
    for (const r of e) assert.equal(r.status, 416);
  });

  it('20 MiB downloads in parallel are byte-exact', async () => {
    const want = createHash('sha256').update(big).digest('hex');
    const rs = await Promise.all(Array.from({ length: 6 }, () => curl([`${h.base}/big.bin`])));
    for (const r of rs) assert.equal(createHash('sha256').update(r.body).digest('hex'), want);
  });

  it('/booted (GET and POST) and path refusals work through workers', async () => {
    h.events.length = 0;
    const rs = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        curl(i % 2 ? ['-X', 'POST', '-d', 'x=1', `${h.base}/booted?mac=${MAC}`] : [`${h.base}/booted?mac=${MAC}`]),
      ),
    );
    for (const r of rs) assert.equal(r.status, 204);
    assert.equal(h.events.filter((e) => e.kind === 'booted').length, 10);
    const bad = await Promise.all(Array.from({ length: 10 }, () => curl(['--path-as-is', `${h.base}/../etc/passwd`])));
    for (const r of bad) assert.equal(r.status, 403);
    await until(async () => (await metric(h, 'bootgate_http_refused_total', 'reason="dot_segment"')) === 10, 'refusals from workers');
  });
});
