import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/log/logger.ts';
import { platformsConfigSchema } from '../../src/platforms/config.ts';
import { createHeartbeatRouter, createSvcHandler, heartbeatReply, svcReply, type SvcRoutesDeps } from '../../src/platforms/http-routes.ts';
import { createPlatformsMetrics } from '../../src/platforms/metrics.ts';
import { PlatformRegistry } from '../../src/platforms/registry.ts';
import { openDatabase } from '../../src/store/database.ts';
import { PlatformRepository } from '../../src/store/platform-repository.ts';
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

/**
 * The platforms' `/svc/` and heartbeat on the terminal-facing port with `http.workers: 2`: whichever process accepts
 * the connection, the registry (in the main process only) gets the heartbeat and makes the choice.
 */
describe('service platforms on the HTTP boot port with worker processes', () => {
  let h: HttpBootHarness;
  let dir: string;
  let db: ReturnType<typeof openDatabase>;
  let registry: PlatformRegistry;
  const relayed: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bghttp-plat-'));
    db = openDatabase(join(dir, 'bootgate.db'));
    const config = platformsConfigSchema.parse({ classes: { game: {} } });
    const logger = createLogger('silent');
    registry = new PlatformRegistry({
      repository: new PlatformRepository(db),
      config,
      now: Date.now,
      logger,
      metrics: createPlatformsMetrics(new Registry()),
    });
    const deps: SvcRoutesDeps = { registry, config, proxyPort: 8090, sessionAt: () => undefined, recordRedirect: async () => {}, logger };
    const svc = createSvcHandler(deps);
    const heartbeats = express().use('/api/v1', createHeartbeatRouter(registry, logger));
    h = await startHttpBoot({
      config: { workers: 2 },
      routes: [
        {
          prefix: '/svc/',
          handle: svc,
          relay: (r) => {
            relayed.push(r.url);
            return svcReply(deps, { method: r.method, target: r.url, ip: r.clientIp, localAddress: r.localAddress });
          },
        },
        {
          prefix: '/api/v1/platforms/',
          handle: (req, res) => void heartbeats(req, res),
          relay: (r) => {
            relayed.push(r.url);
            return heartbeatReply(registry, r);
          },
        },
      ],
    });
  });
  after(async () => {
    await h?.close();
    registry?.stop();
    db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('heartbeats on fresh connections are all accepted, wrong tokens and bodies refused, by any process', async () => {
    const added = registry.add({ class: 'game', name: 'a', url: 'http://10.0.0.1:8080/', capacity: 10 });
    assert.ok(added.ok);
    const hb = (token: string, body: string) =>
      curl([
        '-X',
        'POST',
        '-H',
        `authorization: Bearer ${token}`,
        '-H',
        'content-type: application/json',
        '--data',
        body,
        `${h.base}/api/v1/platforms/${added.id}/heartbeat`,
      ]);
    const ok = await Promise.all(Array.from({ length: 30 }, (_, i) => hb(added.token, JSON.stringify({ activeSessions: i, cpu: 0.1, memory: 0.2 }))));
    for (const r of ok) assert.equal(r.status, 204);
    assert.equal(registry.get(added.id)!.health.status, 'healthy');
    const bad = await Promise.all(Array.from({ length: 10 }, () => hb('bgp_wrong', '{"activeSessions":1,"cpu":0,"memory":0}')));
    for (const r of bad) {
      assert.equal(r.status, 401);
      assert.equal(JSON.parse(r.body.toString()).error, 'PLATFORM_BAD_TOKEN');
    }
    const malformed = await Promise.all(Array.from({ length: 10 }, () => hb(added.token, '{"activeSessions":-1')));
    for (const r of malformed) assert.equal(r.status, 400);
    assert.ok(
      relayed.some((u) => u.includes('/heartbeat')),
      'some went through a worker',
    );
  });

  it('/svc/ on fresh connections: every one a 302 to the instance, path and query kept', async () => {
    relayed.length = 0;
    const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => curl([`${h.base}/svc/game/x/y?n=${i}`])));
    rs.forEach((r, i) => {
      assert.equal(r.status, 302);
      assert.equal(r.headers.get('location'), `http://10.0.0.1:8080/x/y?n=${i}`);
    });
    assert.ok(
      relayed.some((u) => u.startsWith('/svc/')),
      'some went through a worker',
    );
  });
});
