/**
 * Prefill (src/cache/prefill.ts): URLs fetched into the cache ahead of the room under a bandwidth cap, against a real
 * loopback origin, with the fake clock standing for the night: the job waits on the clock between slices, fills every
 * slice once, skips what the cache would not store, and a second run costs no origin request and no wait.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cacheConfigSchema } from '../../src/cache/config.ts';
import { EdgeCache } from '../../src/cache/edge-cache.ts';
import { HttpOrigin } from '../../src/cache/origin.ts';
import { BootgateError } from '../../src/errors.ts';
import { parseRate } from '../../src/cli/cache-commands.ts';
import { deterministicBytes, TestOrigin } from '../helpers/cache-origin.ts';
import { cacheMetrics, silentLog, tempCacheDir } from '../helpers/cache-fixtures.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

const S = 64 * 1024;
const SIZE = 3 * S + 777; // four slices
const BODY = deterministicBytes(SIZE);
const T0 = Date.parse('2026-01-10T02:00:00Z');
const origin = new TestOrigin(BODY, { etag: '"p1"', cacheControl: 'max-age=86400' });
const clock = new FakeClock(T0);
let cache: EdgeCache;

before(async () => {
  await origin.start();
  cache = new EdgeCache({
    config: cacheConfigSchema.parse({ sliceBytes: S, builtinDomains: false }),
    directory: tempCacheDir(),
    origin: new HttpOrigin(async () => ({ address: '127.0.0.1', port: origin.port })),
    clock,
    metrics: cacheMetrics().metrics,
    log: silentLog,
    domains: [{ service: 'games', names: ['*.cdn.test'] }],
  });
  await cache.start();
});
after(async () => {
  await cache.stop();
  await origin.stop();
});

const settle = (ms = 50): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a prefill job fills every slice once, no faster than its cap, and skips what the cache would not store', async () => {
  const url = `http://a.cdn.test:${origin.port}/depot/night.bin`;
  const { job, done } = cache.prefill.start([url, `http://plain.test:${origin.port}/x`, 'ftp://a.cdn.test/y'], S);
  let finished = false;
  void done.then(() => (finished = true));
  // the clock does not move: after the first slice (prefill reads nothing ahead) the job waits for it
  while (origin.requests.length === 0) await settle(10);
  await settle(200);
  assert.equal(finished, false);
  assert.equal(origin.requests.length, 1, 'one origin request before the clock moved');
  assert.equal(job.items[0]!.state, 'running');
  assert.throws(
    () => cache.prefill.start([url], S),
    (e: unknown) => e instanceof BootgateError && e.code === 'PREFILL_RUNNING',
  );
  while (!finished) {
    await clock.advance(250);
    await settle(5);
  }
  // SIZE origin bytes at S bytes/s: the job ends only once they fit the budget
  assert.ok(clock.now() - T0 >= (SIZE / S) * 1000, `done after ${clock.now() - T0} ms of the night`);
  assert.equal(origin.requests.length, 4);
  assert.equal(cache.store.sliceCount, 4);
  assert.deepEqual(
    job.items.map((i) => [i.state, i.bytes, i.originBytes]),
    [
      ['done', SIZE, SIZE],
      ['skipped', 0, 0],
      ['skipped', 0, 0],
    ],
  );
  assert.match(job.items[1]!.reason!, /not-a-cache-domain/);
  assert.match(job.items[2]!.reason!, /only http/);
  assert.equal(cache.prefill.status(), job);
  assert.ok(job.finishedAt);
});

test('prefilling what is stored costs no origin request and no wait; the next job may start', async () => {
  const before = origin.requests.length;
  const now = clock.now();
  const { job, done } = cache.prefill.start([`http://b.cdn.test:${origin.port}/depot/night.bin`], 1);
  await done;
  assert.equal(clock.now(), now);
  assert.equal(origin.requests.length, before);
  assert.deepEqual(
    job.items.map((i) => [i.state, i.bytes, i.originBytes]),
    [['done', SIZE, 0]],
  );
});

test('bad jobs are refused before they start; the CLI rate parses K/M/G', () => {
  const refused = (f: () => unknown) => assert.throws(f, (e: unknown) => e instanceof BootgateError && e.code === 'VALIDATION');
  refused(() => cache.prefill.start([], 1000));
  refused(() => cache.prefill.start(['http://a.cdn.test/x'], 0));
  assert.equal(parseRate('500K'), 500 * 1024);
  assert.equal(parseRate('10M'), 10 * 1024 * 1024);
  assert.equal(parseRate('1.5g'), 1.5 * 1024 ** 3);
  assert.equal(parseRate('4096'), 4096);
  refused(() => parseRate('fast'));
  refused(() => parseRate('0'));
});
