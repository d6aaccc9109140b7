/**
 * The edge cache wired into the explicit proxy (docs/cache.md), with curl as the terminal: a GET to a cache domain
 * is answered from slices (origin asked once per slice, records marked miss then hit, stats per service and
 * terminal), Cookie and Authorization pass through uncached and unshared, a destination the policy refuses is not
 * reached through the cache either, and a name that is not a cache domain is relayed as before.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { cacheConfigSchema } from '../../src/cache/config.ts';
import { EdgeCache } from '../../src/cache/edge-cache.ts';
import { createCacheMetrics } from '../../src/cache/metrics.ts';
import { HttpOrigin } from '../../src/cache/origin.ts';
import { policyDial } from '../../src/compose/cache.ts';
import { createGatewayMetrics } from '../../src/gateway/metrics.ts';
import { HttpProxy } from '../../src/gateway/proxy/http-proxy.ts';
import { createLogger } from '../../src/log/logger.ts';
import { deterministicBytes, TestOrigin } from '../helpers/cache-origin.ts';
import { silentLog, tempCacheDir } from '../helpers/cache-fixtures.ts';
import { MemoryAudit, MemorySeats, loopbackDestinations, session } from '../helpers/gateway-harness.ts';

const run = promisify(execFile);
const S = 64 * 1024;
const BODY = deterministicBytes(5 * S + 999);
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

describe('edge cache in the explicit proxy (curl)', () => {
  const seats = new MemorySeats();
  let audit = new MemoryAudit();
  const origin = new TestOrigin(BODY, { etag: '"v1"', cacheControl: 'max-age=3600' });
  let proxy: HttpProxy;
  let refusing: HttpProxy;
  let cache: EdgeCache;
  let port = 0;
  let refusingPort = 0;

  before(async () => {
    await origin.start();
    const cfg = cacheConfigSchema.parse({ enabled: true, sliceBytes: S, builtinDomains: false });
    const clock = {
      now: Date.now,
      timers: { set: (fn: () => void, ms: number) => setTimeout(fn, ms), clear: (t: unknown) => clearTimeout(t as NodeJS.Timeout) },
    };
    const make = (allow: string[]) => {
      const destinations = loopbackDestinations({ 'a.cdn.test': '127.0.0.1', 'b.cdn.test': '127.0.0.1', 'plain.test': '127.0.0.1' }, allow);
      const c = new EdgeCache({
        config: cfg,
        directory: tempCacheDir(),
        origin: new HttpOrigin(policyDial(destinations, 2000)),
        clock,
        metrics: createCacheMetrics(new Registry()),
        log: silentLog,
        domains: [{ service: 'games', names: ['*.cdn.test'] }],
      });
      const p = new HttpProxy({
        seats,
        audit: { append: (r) => audit.append(r) },
        logger: createLogger('silent'),
        metrics: createGatewayMetrics(new Registry()),
        destinations,
        cache: c,
        options: { mode: 'explicit', host: '127.0.0.1', port: 0, connectTimeoutMs: 2000, idleTimeoutMs: 5000 },
      });
      return { c, p };
    };
    const a = make(['127.0.0.0/8']);
    cache = a.c;
    proxy = a.p;
    await cache.start();
    port = await proxy.start();
    // loopback not allow-listed: the gateway's own address, refused for seats on every path
    const b = make([]);
    await b.c.start();
    refusing = b.p;
    refusingPort = await refusing.start();
    seats.byIp.set('127.0.0.1', session('S1'));
  });
  after(async () => {
    await proxy.stop();
    await refusing.stop();
    await cache.stop();
    await origin.stop();
  });
  beforeEach(() => {
    audit = new MemoryAudit();
    origin.requests.length = 0;
  });

  const curl = async (url: string, args: string[] = [], via = port): Promise<{ body: Buffer; code: string }> => {
    const { stdout } = await run('curl', ['-s', '-x', `http://127.0.0.1:${via}`, '-o', '-', '-w', '\n%{http_code}', ...args, url], {
      encoding: 'buffer',
      maxBuffer: 64 << 20,
    });
    const nl = stdout.lastIndexOf(10);
    return { body: stdout.subarray(0, nl), code: stdout.subarray(nl + 1).toString() };
  };

  it('a cold GET fills every slice once; the same file from another CDN host is a hit with no origin request', async () => {
    const url = `http://a.cdn.test:${origin.port}/depot/file.bin?token=1`;
    const first = await curl(url);
    assert.equal(first.code, '200');
    assert.equal(sha(first.body), sha(BODY));
    assert.equal(origin.requests.length, 6, 'one Range request per slice');
    assert.ok(origin.requests.every((r) => r.range?.startsWith('bytes=')));
    const second = await curl(`http://b.cdn.test:${origin.port}/depot/file.bin?token=2`, ['-r', `${S - 10}-${3 * S + 5}`]);
    assert.equal(second.code, '206');
    assert.equal(sha(second.body), sha(BODY.subarray(S - 10, 3 * S + 6)));
    assert.equal(origin.requests.length, 6, 'no origin request for the hit');
    const rec = await audit.waitFor(2);
    assert.deepEqual(
      rec.map((r) => [r.kind, r.seat, r.status, r.bytesDown, JSON.parse(r.detail!).cache]),
      [
        ['http', 'S1', 200, BODY.length, 'miss'],
        ['http', 'S1', 206, 3 * S + 6 - (S - 10), 'hit'],
      ],
    );
    const st = cache.statsSnapshot();
    assert.equal(st.services['games']!.hits, 1);
    assert.equal(st.services['games']!.misses, 1);
    assert.equal(st.services['games']!.originBytes, BODY.length);
    assert.equal(st.services['games']!.servedBytes, BODY.length + 3 * S + 6 - (S - 10));
    assert.equal(st.terminals['S1']!.hits, 1);
  });

  it('HEAD: relayed while the object is unknown; once a GET stored it, answered from the cache with the GET fields', async () => {
    const head = async (url: string, args: string[] = []) => {
      const { stdout } = await run('curl', ['-s', '-I', '-x', `http://127.0.0.1:${port}`, ...args, url]);
      return stdout;
    };
    const unknown = await head(`http://a.cdn.test:${origin.port}/depot/new.bin`);
    assert.match(unknown, /^HTTP\/1\.1 200/);
    assert.equal(origin.requests.length, 1, 'relayed to the origin');
    assert.equal(origin.requests[0]!.range, undefined);
    // file.bin was stored by the GET above; asked through another CDN host of the service
    const known = await head(`http://b.cdn.test:${origin.port}/depot/file.bin`);
    assert.match(known, /^HTTP\/1\.1 200/);
    assert.match(known, new RegExp(`content-length: ${BODY.length}\r\n`, 'i'));
    assert.match(known, /etag: "v1"/i);
    assert.match(known, /^age: \d+/im);
    const ranged = await head(`http://a.cdn.test:${origin.port}/depot/file.bin`, ['-r', '10-19']);
    assert.match(ranged, /^HTTP\/1\.1 206/);
    assert.match(ranged, new RegExp(`content-range: bytes 10-19/${BODY.length}`, 'i'));
    assert.equal(origin.requests.length, 1, 'no origin request for the known object');
    const rec = await audit.waitFor(3);
    assert.deepEqual(
      rec.map((r) => [r.method, r.status, r.bytesDown, JSON.parse(r.detail!).cache]),
      [
        ['HEAD', 200, 0, 'bypass'],
        ['HEAD', 200, 0, 'hit'],
        ['HEAD', 206, 0, 'hit'],
      ],
    );
    // the next test counts from here
    const st = cache.statsSnapshot().services['games']!;
    assert.equal(st.hits, 3);
    assert.equal(st.bypasses, 1);
  });

  it('a request with Cookie or Authorization is relayed to the origin as sent, not answered from the shared cache', async () => {
    for (const h of ['Cookie: a=1', 'Authorization: Bearer x']) {
      const r = await curl(`http://a.cdn.test:${origin.port}/depot/file.bin`, ['-H', h]);
      assert.equal(r.code, '200');
      assert.equal(sha(r.body), sha(BODY));
    }
    assert.equal(origin.requests.length, 2, 'each went to the origin');
    assert.ok(origin.requests.every((r) => r.range === undefined));
    assert.equal(origin.requests[0]!.headers.cookie, 'a=1');
    assert.equal(origin.requests[1]!.headers.authorization, 'Bearer x');
    const rec = await audit.waitFor(2);
    for (const r of rec) assert.equal(JSON.parse(r.detail!).cache, 'bypass', r.detail);
    assert.equal(cache.statsSnapshot().services['games']!.bypasses, 3); // and the unknown HEAD before
  });

  it('a cache domain that resolves to a refused address is not reached through the cache: 403 and a refused record', async () => {
    const r = await curl(`http://a.cdn.test:${origin.port}/other.bin`, [], refusingPort);
    assert.equal(r.code, '403');
    assert.equal(origin.requests.length, 0);
    const [rec] = await audit.waitFor(1);
    assert.equal(rec!.verdict, 'refused');
    assert.match(rec!.detail!, /"reason":"loopback"/);
  });

  it('a name that is not a cache domain is relayed as before (no cache mark)', async () => {
    const r = await curl(`http://plain.test:${origin.port}/depot/file.bin`);
    assert.equal(sha(r.body), sha(BODY));
    assert.equal(origin.requests.length, 1);
    const [rec] = await audit.waitFor(1);
    assert.equal(JSON.parse(rec!.detail!).cache, undefined);
  });

  it('purge by URL drops the object: the next request fetches from the origin again', async () => {
    assert.equal(await cache.purgeUrl(`http://x.cdn.test:${origin.port}/depot/file.bin`), true);
    const r = await curl(`http://a.cdn.test:${origin.port}/depot/file.bin`);
    assert.equal(sha(r.body), sha(BODY));
    assert.equal(origin.requests.length, 6);
    assert.equal(await cache.purgeService('games'), 1);
  });
});
