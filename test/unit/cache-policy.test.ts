import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cacheKey, normalisePath, slicesOf } from '../../src/cache/key.ts';
import { cacheConfigSchema } from '../../src/cache/config.ts';
import { expiresAt, ifRangeHolds, parseRange, requestVerdict, responseVerdict } from '../../src/cache/policy.ts';

const cfg = cacheConfigSchema.parse({});
const NOW = Date.parse('2026-01-10T00:00:00Z');
const reason = (v: { ok: boolean; reason?: string }) => (v.ok ? 'ok' : v.reason);

test('requests: only GET (and HEAD, answered from what GET stored), no Cookie, no Authorization unless allowed, no no-store / no-cache', () => {
  assert.equal(reason(requestVerdict('GET', {}, cfg)), 'ok');
  assert.equal(reason(requestVerdict('HEAD', {}, cfg)), 'ok');
  assert.equal(reason(requestVerdict('POST', {}, cfg)), 'method');
  assert.equal(reason(requestVerdict('GET', { cookie: 'a=b' }, cfg)), 'cookie');
  assert.equal(reason(requestVerdict('GET', { authorization: 'Bearer x' }, cfg)), 'authorization');
  assert.equal(reason(requestVerdict('GET', { authorization: 'Bearer x' }, { allowAuthorization: true })), 'ok');
  assert.equal(reason(requestVerdict('GET', { 'cache-control': 'no-store' }, cfg)), 'request-no-store');
  assert.equal(reason(requestVerdict('GET', { 'cache-control': 'max-age=0, no-cache' }, cfg)), 'request-no-cache');
  assert.equal(reason(requestVerdict('GET', { pragma: 'no-cache' }, cfg)), 'request-no-cache');
  // RFC 9111 §5.4: Pragma is ignored when Cache-Control is present
  assert.equal(reason(requestVerdict('GET', { pragma: 'no-cache', 'cache-control': 'max-age=60' }, cfg)), 'ok');
});

test('responses: RFC 9111 §3 for a shared cache', () => {
  assert.equal(reason(responseVerdict(200, {}, false)), 'ok');
  assert.equal(reason(responseVerdict(206, { 'cache-control': 'public, max-age=60' }, false)), 'ok');
  assert.equal(reason(responseVerdict(404, {}, false)), 'status');
  assert.equal(reason(responseVerdict(302, {}, false)), 'status');
  assert.equal(reason(responseVerdict(200, { 'cache-control': 'no-store' }, false)), 'no-store');
  assert.equal(reason(responseVerdict(200, { 'cache-control': 'max-age=60, private' }, false)), 'private');
  assert.equal(reason(responseVerdict(200, { 'cache-control': 'private="set-cookie"' }, false)), 'private');
  assert.equal(reason(responseVerdict(200, { 'cache-control': 'no-cache' }, false)), 'no-cache');
  assert.equal(reason(responseVerdict(200, { 'set-cookie': 'id=1' }, false)), 'set-cookie');
  assert.equal(reason(responseVerdict(200, { vary: 'Accept-Encoding' }, false)), 'ok');
  assert.equal(reason(responseVerdict(200, { vary: 'accept-encoding, User-Agent' }, false)), 'vary');
  // §3.5: a response to an authorised request is shared only when it says so
  assert.equal(reason(responseVerdict(200, { 'cache-control': 'max-age=60' }, true)), 'authorization');
  assert.equal(reason(responseVerdict(200, { 'cache-control': 'public' }, true)), 'ok');
  assert.equal(reason(responseVerdict(200, { 'cache-control': 's-maxage=10' }, true)), 'ok');
  assert.equal(reason(responseVerdict(200, { 'cache-control': 'must-revalidate' }, true)), 'ok');
});

test('freshness: s-maxage over max-age over Expires, the Last-Modified heuristic, the default, minus the age', () => {
  const date = new Date(NOW).toUTCString();
  assert.equal(expiresAt({ 'cache-control': 'max-age=60, s-maxage=600', date }, NOW, cfg), NOW + 600_000);
  assert.equal(expiresAt({ 'cache-control': 'max-age=60', date }, NOW, cfg), NOW + 60_000);
  assert.equal(expiresAt({ 'cache-control': 'max-age=60', date, age: '20' }, NOW, cfg), NOW + 40_000);
  assert.equal(expiresAt({ 'cache-control': 'max-age=60', date: new Date(NOW - 90_000).toUTCString() }, NOW, cfg), NOW); // already stale
  assert.equal(expiresAt({ date, expires: new Date(NOW + 3_600_000).toUTCString() }, NOW, cfg), NOW + 3_600_000);
  assert.equal(expiresAt({ date, expires: '0' }, NOW, cfg), NOW); // an invalid Expires is in the past (§5.3)
  // §4.2.2: 10 % of the time since Last-Modified (10 days → 1 day)
  assert.equal(expiresAt({ date, 'last-modified': new Date(NOW - 10 * 86_400_000).toUTCString() }, NOW, cfg), NOW + 86_400_000);
  // capped at heuristicMaxSeconds
  assert.equal(expiresAt({ date, 'last-modified': new Date(NOW - 1000 * 86_400_000).toUTCString() }, NOW, cfg), NOW + cfg.heuristicMaxSeconds * 1000);
  assert.equal(expiresAt({}, NOW, cfg), NOW + cfg.heuristicFreshSeconds * 1000);
});

test('Range: one range resolved against the length; several, odd units and invalid ones mean the whole object', () => {
  assert.deepEqual(parseRange(undefined, 100), { kind: 'full' });
  assert.deepEqual(parseRange('bytes=0-9', 100), { kind: 'partial', first: 0, last: 9 });
  assert.deepEqual(parseRange('bytes=90-', 100), { kind: 'partial', first: 90, last: 99 });
  assert.deepEqual(parseRange('bytes=90-1000', 100), { kind: 'partial', first: 90, last: 99 });
  assert.deepEqual(parseRange('bytes=-10', 100), { kind: 'partial', first: 90, last: 99 });
  assert.deepEqual(parseRange('bytes=-1000', 100), { kind: 'partial', first: 0, last: 99 });
  assert.deepEqual(parseRange('bytes=100-', 100), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=-0', 100), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=0-1,5-9', 100), { kind: 'full' });
  assert.deepEqual(parseRange('items=0-1', 100), { kind: 'full' });
  assert.deepEqual(parseRange('bytes=9-1', 100), { kind: 'full' });
});

test('If-Range holds only for the same strong ETag or the same date', () => {
  assert.equal(ifRangeHolds(undefined, undefined, undefined), true);
  assert.equal(ifRangeHolds('"v1"', '"v1"', undefined), true);
  assert.equal(ifRangeHolds('"v2"', '"v1"', undefined), false);
  assert.equal(ifRangeHolds('W/"v1"', 'W/"v1"', undefined), false);
  const lm = 'Tue, 06 Jan 2026 10:00:00 GMT';
  assert.equal(ifRangeHolds(lm, '"v1"', lm), true);
  assert.equal(ifRangeHolds('Tue, 06 Jan 2026 10:00:01 GMT', '"v1"', lm), false);
});

test('keys: service + normalised path (host and query dropped); origins keep both', () => {
  const a = cacheKey('/depot/1/chunk/ab?token=1', 'cache1.steamcontent.com', 'steam');
  const b = cacheKey('/depot/./1/x/../chunk/%61%62?token=2', 'cache9.steamcontent.com', 'steam');
  assert.equal(a.text, 'steam /depot/1/chunk/ab');
  assert.equal(a.id, b.id);
  assert.equal(a.service, 'steam');
  const o = cacheKey('/img/boot.iso?v=2#frag', 'Images.Example.LAN', undefined);
  assert.equal(o.text, 'origin:images.example.lan /img/boot.iso?v=2');
  assert.notEqual(o.id, cacheKey('/img/boot.iso?v=3', 'images.example.lan', undefined).id);
  assert.equal(normalisePath('/a%2fb%7e'), '/a%2Fb~');
  assert.equal(normalisePath(''), '/');
  assert.equal(normalisePath('/../../x'), '/x');
  assert.deepEqual(slicesOf(0, 1024 * 1024, 1024 * 1024), { from: 0, to: 1 });
});
