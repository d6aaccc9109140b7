import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cacheConfigSchema, type CacheConfig } from '../../src/cache/config.ts';
import { cacheKey } from '../../src/cache/key.ts';
import { bodyBytes, EdgeCache, type CacheRequest, type CacheResponse } from '../../src/cache/edge-cache.ts';
import { HttpOrigin } from '../../src/cache/origin.ts';
import { BootgateError } from '../../src/errors.ts';
import { deterministicBytes, TestOrigin, type OriginOptions } from '../helpers/cache-origin.ts';
import { cacheMetrics, metricValue, silentLog, tempCacheDir } from '../helpers/cache-fixtures.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

const S = 64 * 1024;
const SIZE = 3 * S + 12_345; // four slices, the last one short
const BODY = deterministicBytes(SIZE);
const T0 = Date.parse('2026-01-10T00:00:00Z');

function setup(opts: OriginOptions = {}, config: Partial<CacheConfig> = {}, directory = tempCacheDir()) {
  const origin = new TestOrigin(BODY, opts);
  const clock = new FakeClock(T0);
  const { registry, metrics } = cacheMetrics();
  const cfg = cacheConfigSchema.parse({ sliceBytes: S, builtinDomains: false, ...config });
  const make = () =>
    new EdgeCache({
      config: cfg,
      directory,
      origin: new HttpOrigin(async () => ({ address: '127.0.0.1', port: origin.port })),
      clock,
      metrics,
      log: silentLog,
      domains: [{ service: 'games', names: ['*.cdn.test'] }],
    });
  return { origin, clock, registry, cache: make(), make, directory };
}

const req = (target: string, headers: Record<string, string> = {}, host = 'a.cdn.test'): CacheRequest => ({
  method: 'GET',
  host,
  port: 80,
  target,
  headers,
});

async function fetchVia(cache: EdgeCache, r: CacheRequest): Promise<{ res: CacheResponse; body: Buffer }> {
  const d = cache.classify(r);
  assert.equal(d.cache, true, `classified ${JSON.stringify(d)}`);
  if (!d.cache) throw new Error('unreachable');
  const res = await cache.serve(r, d);
  const parts: Buffer[] = [];
  for await (const c of bodyBytes(res.body)) parts.push(c);
  return { res, body: Buffer.concat(parts) };
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof BootgateError && e.code === code);
}

let shared: ReturnType<typeof setup>;
before(async () => {
  shared = setup({ chunkBytes: 8 * 1024, chunkDelayMs: 2, etag: '"v1"' });
  await shared.origin.start();
  await shared.cache.start();
});
after(async () => {
  await shared.cache.stop();
  await shared.origin.stop();
});

test('20 concurrent readers of a cold object: every slice fetched once upstream, every reader byte-exact', async () => {
  const { cache, origin, registry } = shared;
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => fetchVia(cache, req('/depot/big.bin', {}, `h${i}.cdn.test`))));
  for (const { res, body } of results) {
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], String(SIZE));
    assert.equal(res.headers['etag'], '"v1"');
    assert.ok(body.equals(BODY));
  }
  assert.equal(origin.requests.length, 4, origin.requests.map((r) => r.range).join(' '));
  assert.deepEqual(origin.requests.map((r) => r.range).sort(), [0, 1, 2, 3].map((i) => `bytes=${i * S}-${i * S + S - 1}`).sort());
  assert.ok(origin.requests.every((r) => r.headers['accept-encoding'] === 'identity'));
  assert.equal(origin.bytesSent, SIZE);
  assert.equal(await metricValue(registry, 'bootgate_cache_origin_bytes_total'), SIZE);
  assert.equal(await metricValue(registry, 'bootgate_cache_misses_total'), 4);
  assert.ok((await metricValue(registry, 'bootgate_cache_coalesced_total')) > 0);
  while (cache.fetcher.fetching > 0) await new Promise((r) => setTimeout(r, 5)); // stores settle
  assert.equal(cache.store.sliceCount, 4);
});

test('a second round is served with zero origin bytes', async () => {
  const { cache, origin, registry } = shared;
  const before = origin.requests.length;
  const fromStore = await metricValue(registry, 'bootgate_cache_served_bytes_total', { source: 'store' }); // round one's late readers
  const results = await Promise.all(Array.from({ length: 5 }, () => fetchVia(cache, req('/depot/big.bin'))));
  for (const { body } of results) assert.ok(body.equals(BODY));
  assert.equal(origin.requests.length, before);
  assert.equal((await metricValue(registry, 'bootgate_cache_served_bytes_total', { source: 'store' })) - fromStore, 5 * SIZE);
});

test('Range requests across slice boundaries are byte-exact; 416 past the end', async () => {
  const { cache } = shared;
  const cases: [string, number, number][] = [
    [`bytes=${S - 10}-${S + 9}`, S - 10, S + 9],
    [`bytes=${S - 1}-${3 * S}`, S - 1, 3 * S],
    ['bytes=0-0', 0, 0],
    [`bytes=${S}-${2 * S - 1}`, S, 2 * S - 1],
    [`bytes=${SIZE - 5}-`, SIZE - 5, SIZE - 1],
    ['bytes=-70000', SIZE - 70000, SIZE - 1],
    [`bytes=100-${SIZE + 1000}`, 100, SIZE - 1],
  ];
  let seed = 7;
  for (let k = 0; k < 30; k++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const a = seed % SIZE;
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const b = a + (seed % (SIZE - a));
    cases.push([`bytes=${a}-${b}`, a, b]);
  }
  for (const [range, first, last] of cases) {
    const { res, body } = await fetchVia(cache, req('/depot/big.bin', { range }));
    assert.equal(res.status, 206, range);
    assert.equal(res.headers['content-range'], `bytes ${first}-${last}/${SIZE}`);
    assert.equal(res.headers['content-length'], String(last - first + 1));
    assert.ok(body.equals(BODY.subarray(first, last + 1)), range);
  }
  const { res } = await fetchVia(cache, req('/depot/big.bin', { range: `bytes=${SIZE}-` }));
  assert.equal(res.status, 416);
  assert.equal(res.headers['content-range'], `bytes */${SIZE}`);
  // several ranges, or an If-Range for another version: the whole object
  assert.equal((await fetchVia(cache, req('/depot/big.bin', { range: 'bytes=0-1,5-6' }))).res.status, 200);
  assert.equal((await fetchVia(cache, req('/depot/big.bin', { range: 'bytes=0-1', 'if-range': '"v0"' }))).res.status, 200);
  assert.equal((await fetchVia(cache, req('/depot/big.bin', { range: 'bytes=0-1', 'if-range': '"v1"' }))).res.status, 206);
});

test('a cold Range request fetches only the slices it crosses', async () => {
  const t = setup();
  await t.origin.start();
  await t.cache.start();
  const { body } = await fetchVia(t.cache, req('/x.bin', { range: `bytes=${2 * S + 5}-${3 * S + 5}` }));
  assert.ok(body.equals(BODY.subarray(2 * S + 5, 3 * S + 6)));
  assert.deepEqual(
    t.origin.requests.map((r) => r.range),
    [`bytes=${2 * S}-${3 * S - 1}`, `bytes=${3 * S}-${4 * S - 1}`],
  );
  await t.cache.stop();
  await t.origin.stop();
});

test('an origin that ignores Range: one 200 fills every slice; concurrent readers join it', async () => {
  const t = setup({ ignoreRange: true, chunkBytes: 4096, chunkDelayMs: 1 });
  await t.origin.start();
  await t.cache.start();
  const rs = await Promise.all([
    fetchVia(t.cache, req('/whole.bin')),
    fetchVia(t.cache, req('/whole.bin', { range: `bytes=${S + 1}-${2 * S + 1}` })),
    fetchVia(t.cache, req('/whole.bin')),
  ]);
  assert.ok(rs[0]!.body.equals(BODY));
  assert.ok(rs[1]!.body.equals(BODY.subarray(S + 1, 2 * S + 2)));
  assert.ok(rs[2]!.body.equals(BODY));
  while (t.cache.fetcher.fetching > 0) await new Promise((r) => setTimeout(r, 5));
  const n = t.origin.requests.length;
  assert.ok(n <= 2, `origin requests ${n}`); // the ranged reader may have started its own 200 before the first one's head arrived
  const again = await fetchVia(t.cache, req('/whole.bin'));
  assert.ok(again.body.equals(BODY));
  assert.equal(t.origin.requests.length, n);
  await t.cache.stop();
  await t.origin.stop();
});

test('Content-MD5: a matching slice is stored, a mismatching one is cut and never stored', async () => {
  const good = setup({ md5: 'right' });
  await good.origin.start();
  await good.cache.start();
  assert.ok((await fetchVia(good.cache, req('/m.bin'))).body.equals(BODY));
  while (good.cache.fetcher.fetching > 0) await new Promise((r) => setTimeout(r, 5));
  assert.equal(good.cache.store.sliceCount, 4);
  await good.cache.stop();
  await good.origin.stop();

  const bad = setup({ md5: 'corrupt' });
  await bad.origin.start();
  await bad.cache.start();
  await rejectsWith(fetchVia(bad.cache, req('/m.bin')), 'CACHE_DIGEST');
  assert.equal(bad.cache.store.sliceCount, 0);
  assert.equal(await metricValue(bad.registry, 'bootgate_cache_digest_mismatches_total'), 1);
  await bad.cache.stop();
  await bad.origin.stop();
});

test('a response RFC 9111 forbids storing is passed through, and the key is bypassed afterwards', async () => {
  const t = setup({ cacheControl: 'private, max-age=600' });
  await t.origin.start();
  await t.cache.start();
  const r = req('/private.bin');
  const d = t.cache.classify(r);
  assert.ok(d.cache);
  await rejectsWith(t.cache.serve(r, d), 'CACHE_BYPASS');
  assert.deepEqual(t.cache.classify(r), { cache: false, reason: 'not-storable' });
  await t.clock.advance(t.cache['deps'].config.bypassSeconds * 1000);
  assert.equal(t.cache.classify(r).cache, true);
  assert.equal(t.cache.store.sliceCount, 0);
  await t.cache.stop();
  await t.origin.stop();
});

test('the object changes at the origin between slices: refused and purged', async () => {
  const t = setup({ etag: '"v1"' });
  await t.origin.start();
  await t.cache.start();
  await fetchVia(t.cache, req('/c.bin', { range: 'bytes=0-10' }));
  while (t.cache.fetcher.fetching > 0) await new Promise((r) => setTimeout(r, 5));
  t.origin.opts.etag = '"v2"';
  const r = req('/c.bin', { range: `bytes=0-${S + 10}` });
  const d = t.cache.classify(r);
  assert.ok(d.cache);
  const res = await t.cache.serve(r, d);
  await rejectsWith(
    (async () => {
      for await (const _ of res.body);
    })(),
    'CACHE_ORIGIN_CHANGED',
  );
  assert.equal(t.cache.store.sliceCount, 0);
  // the next request learns the new version
  assert.equal((await fetchVia(t.cache, r)).res.headers['etag'], '"v2"');
  await t.cache.stop();
  await t.origin.stop();
});

test('freshness: an object past its max-age is fetched again', async () => {
  const t = setup({ cacheControl: 'max-age=60' });
  await t.origin.start();
  await t.cache.start();
  assert.equal((await fetchVia(t.cache, req('/f.bin', { range: 'bytes=0-0' }))).res.headers['age'], '0');
  while (t.cache.fetcher.fetching > 0) await new Promise((r) => setTimeout(r, 5));
  await t.clock.advance(42_500);
  const hit = (await fetchVia(t.cache, req('/f.bin', { range: 'bytes=0-0' }))).res;
  assert.equal(hit.headers['age'], '42', 'RFC 9111 §5.1: seconds since the object was fetched');
  assert.equal(hit.headers['date'], new Date(t.clock.now()).toUTCString());
  assert.match(hit.headers['date']!, /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/, 'IMF-fixdate');
  assert.equal(t.origin.requests.length, 1);
  await t.clock.advance(18_500);
  await fetchVia(t.cache, req('/f.bin', { range: 'bytes=0-0' }));
  assert.equal(t.origin.requests.length, 2);
  await t.cache.stop();
  await t.origin.stop();
});

test('revalidation: a stale object with an ETag is validated with one conditional request; a 304 keeps its slices', async () => {
  const t = setup({ cacheControl: 'max-age=60', etag: '"v1"' });
  await t.origin.start();
  await t.cache.start();
  assert.ok((await fetchVia(t.cache, req('/v.bin'))).body.equals(BODY));
  while (t.cache.fetcher.fetching > 0) await new Promise((r) => setTimeout(r, 5));
  assert.equal(t.origin.requests.length, 4);
  await t.clock.advance(61_000);
  const stale = await Promise.all([fetchVia(t.cache, req('/v.bin')), fetchVia(t.cache, req('/v.bin', { range: 'bytes=5-9' }))]);
  assert.ok(stale[0].body.equals(BODY));
  assert.ok(stale[1].body.equals(BODY.subarray(5, 10)));
  assert.equal(t.origin.requests.length, 5); // one conditional request for both readers
  assert.equal(t.origin.requests[4]!.headers['if-none-match'], '"v1"');
  await fetchVia(t.cache, req('/v.bin')); // fresh again for 60 s
  assert.equal(t.origin.requests.length, 5);
  // the object changes: the validation fails, the object is purged and fetched again
  t.origin.opts.etag = '"v2"';
  await t.clock.advance(61_000);
  const changed = await fetchVia(t.cache, req('/v.bin'));
  assert.equal(changed.res.headers['etag'], '"v2"');
  assert.ok(changed.body.equals(BODY));
  assert.equal(t.origin.requests.length, 5 + 1 + 4);
  await t.cache.stop();
  await t.origin.stop();
});

test('after a restart the store serves what it holds without the origin', async () => {
  const t = setup();
  await t.origin.start();
  await t.cache.start();
  await fetchVia(t.cache, req('/r.bin'));
  while (t.cache.fetcher.fetching > 0) await new Promise((r) => setTimeout(r, 5));
  await t.cache.stop();
  const n = t.origin.requests.length;
  const restarted = t.make();
  await restarted.start();
  assert.ok((await fetchVia(restarted, req('/r.bin'))).body.equals(BODY));
  assert.equal(t.origin.requests.length, n);
  await restarted.stop();
  await t.origin.stop();
});

test('origin failures: a 5xx fails with CACHE_ORIGIN, a 404 is passed through, a stalled origin times out', async () => {
  const t = setup({ status: 503 }, { originTimeoutMs: 1000 });
  await t.origin.start();
  await t.cache.start();
  const r = req('/e.bin');
  const d = t.cache.classify(r);
  assert.ok(d.cache);
  await rejectsWith(t.cache.serve(r, d), 'CACHE_ORIGIN');
  t.origin.opts = { status: 404 };
  await rejectsWith(t.cache.serve(r, d), 'CACHE_BYPASS');
  t.origin.opts = { stall: true };
  const r2 = req('/stall.bin', { range: 'bytes=0-10' }); // one slice: nothing read ahead, one fetch to time out
  const d2 = t.cache.classify(r2);
  assert.ok(d2.cache);
  const res = await t.cache.serve(r2, d2); // the head arrived
  const reading = (async () => {
    for await (const _ of res.body);
  })();
  reading.catch(() => {}); // settles during advance(), before rejectsWith looks
  await t.clock.advance(1000);
  await rejectsWith(reading, 'CACHE_ORIGIN');
  assert.equal(await metricValue(t.registry, 'bootgate_cache_origin_failures_total', { reason: 'CACHE_ORIGIN' }), 2);
  await t.cache.stop();
  await t.origin.stop();
});

test('a store that cannot write passes traffic through: readers get every byte, the failure is counted', async () => {
  const t = setup();
  await t.origin.start();
  await t.cache.start();
  const id = cacheKey('/full.bin', 'a.cdn.test', 'games').id;
  writeFileSync(join(t.directory, 'slices', id.slice(0, 2)), 'not a directory'); // every slice write of the object fails
  for (let round = 0; round < 2; round++) {
    assert.ok((await fetchVia(t.cache, req('/full.bin'))).body.equals(BODY));
    while (t.cache.fetcher.fetching > 0) await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(t.cache.store.sliceCount, 0);
  assert.equal(t.origin.requests.length, 8);
  assert.equal(await metricValue(t.registry, 'bootgate_cache_store_failures_total', { reason: 'io' }), 8);
  await t.cache.stop();
  await t.origin.stop();
});

test('classify: cache domains and configured origins only; cookies and other methods pass through', () => {
  const t = setup({}, { origins: ['images.lan'] });
  assert.deepEqual(t.cache.classify(req('/x', {}, 'example.org')), { cache: false, reason: 'not-a-cache-domain' });
  assert.deepEqual(t.cache.classify(req('/x', { cookie: 'a=1' })), { cache: false, reason: 'cookie' });
  assert.deepEqual(t.cache.classify({ ...req('/x'), method: 'POST' }), { cache: false, reason: 'method' });
  const a = t.cache.classify(req('/x?tok=1', {}, 'one.cdn.test'));
  const b = t.cache.classify(req('/x?tok=2', {}, 'two.cdn.test'));
  assert.ok(a.cache && b.cache && a.key.id === b.key.id && a.key.service === 'games');
  const o = t.cache.classify(req('/boot.iso', {}, 'images.lan'));
  assert.ok(o.cache && o.key.service === 'origin:images.lan');
});
