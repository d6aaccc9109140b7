/**
 * The service platforms under random input, in-process on 127.0.0.1 only (fast-check, fixed seeds).
 *
 * Heartbeats: random and mutated ids, Authorization headers (through bearerToken) and bodies (valid ones damaged key
 * by key, random JSON, JSON.parse of damaged text, __proto__ keys, non-JSON values) against a real PlatformRegistry
 * on a SQLite file. heartbeat() never throws; a refusal changes nothing (list() byte-identical, as JSON); an
 * acceptance only ever comes with the instance's own token.
 *
 * /svc: random request targets (damaged percent-escapes, dot segments, doubled slashes, bytes ≥ 0x80, class names in
 * and out of the grammar, absolute-form) and methods, sent as raw bytes to createSvcHandler on a node:http server
 * on a local http server, with and without a seat session. Never a 5xx other than 503, never a hang or an escaped
 * error; a redirect's Location starts with the base URL of the instance the registry counted the decision for; a 503
 * has a Retry-After. A normal request still works at the end.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { platformsConfigSchema } from '../../src/platforms/config.ts';
import { bearerToken } from '../../src/platforms/heartbeat.ts';
import { createSvcHandler, type SeatAtAddress } from '../../src/platforms/http-routes.ts';
import { createPlatformsMetrics } from '../../src/platforms/metrics.ts';
import { PlatformRegistry } from '../../src/platforms/registry.ts';
import { seededRandom } from '../../src/platforms/selector.ts';
import { openDatabase } from '../../src/store/database.ts';
import { PlatformRepository } from '../../src/store/platform-repository.ts';

const silent = pino({ level: 'silent' });
const T0 = Date.parse('2026-03-01T08:00:00.000Z');
const dirs: string[] = [];
const escaped: unknown[] = [];
const onEscape = (e: unknown) => void escaped.push(e);
before(() => {
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
});
after(() => {
  process.off('uncaughtException', onEscape);
  process.off('unhandledRejection', onEscape);
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

/** A registry on a fresh SQLite file with a fixed clock; game: g1, g2 healthy; video: v1 never heard from. */
function world(config: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'bootgate-platforms-fuzz-'));
  dirs.push(dir);
  const reg = new PlatformRegistry({
    repository: new PlatformRepository(openDatabase(join(dir, 'bootgate.db'))),
    config: platformsConfigSchema.parse({ classes: { game: { affinity: true } }, ...config }),
    now: () => T0,
    logger: silent,
    metrics: createPlatformsMetrics(new Registry()),
    random: seededRandom(7),
    probe: async () => true,
  });
  const added: Record<string, { id: string; token: string; url: string }> = {};
  for (const [cls, name, url] of [
    ['game', 'g1', 'http://10.0.5.1:8080/base/'],
    ['game', 'g2', 'http://10.0.5.2:8081'],
    ['video', 'v1', 'https://video.example.test/v'],
  ] as const) {
    const r = reg.add({ class: cls, name, url, capacity: 50 });
    assert.ok(r.ok);
    added[name] = { id: r.id, token: r.token, url };
  }
  for (const n of ['g1', 'g2']) assert.ok(reg.heartbeat(added[n]!.id, added[n]!.token, { activeSessions: 1, cpu: 0.1, memory: 0.1 }).ok);
  return { reg, added };
}

/** A string changed a little: one character replaced, removed or added, cut short, or cased differently. */
const mutated = (s: string): fc.Arbitrary<string> =>
  fc.oneof(
    fc
      .tuple(fc.nat(Math.max(0, s.length - 1)), fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }))
      .map(([i, c]) => s.slice(0, i) + c + s.slice(i + 1)),
    fc.nat(Math.max(0, s.length - 1)).map((i) => s.slice(0, i) + s.slice(i + 1)),
    fc.tuple(fc.nat(s.length), fc.string({ minLength: 1, maxLength: 3 })).map(([i, x]) => s.slice(0, i) + x + s.slice(i)),
    fc.nat(s.length).map((i) => s.slice(0, i)),
    fc.constant(s.toUpperCase()),
    fc.constant(`${s}\u0000`),
    fc.constant(` ${s}`),
  );

const VALID = { activeSessions: 3, cpu: 0.5, memory: 0.25, bandwidthBps: 1000, state: 'ready' };
const jsonish = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom(-1, 1.5, 2, Number.NaN, Infinity, -0, 1e308, 10_000_001, '3', '', null, true, [], {}, 'drain', 'ready', 'DRAIN'),
);
/** valid bodies damaged key by key: a value replaced, a key dropped, an unknown key added */
const damagedBody = fc
  .tuple(
    fc.subarray(Object.keys(VALID)),
    fc.dictionary(fc.constantFrom(...Object.keys(VALID)), jsonish, { maxKeys: 2 }),
    fc.option(fc.tuple(fc.constantFrom('extra', 'activesessions', '__proto__', 'constructor', 'toString'), jsonish), { nil: undefined }),
  )
  .map(([keep, replace, extra]) => {
    const o: Record<string, unknown> = {};
    for (const k of keep) o[k] = VALID[k as keyof typeof VALID];
    Object.assign(o, replace);
    if (extra) Object.defineProperty(o, extra[0], { value: extra[1], enumerable: true, configurable: true, writable: true });
    return o;
  });
const body = fc.oneof(
  { weight: 2, arbitrary: fc.constant(VALID) },
  { weight: 5, arbitrary: damagedBody },
  { weight: 2, arbitrary: fc.jsonValue() },
  {
    weight: 2,
    arbitrary: mutated(JSON.stringify(VALID)).map((t) =>
      (() => {
        try {
          return JSON.parse(t) as unknown;
        } catch {
          return t;
        }
      })(),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      JSON.parse('{"__proto__":{"activeSessions":1}}') as unknown,
      undefined,
      Object.create(null) as unknown,
      new Date(0),
      () => 1,
      Symbol('x'),
    ),
  },
  { weight: 1, arbitrary: fc.anything() },
);

describe('fuzz: platform heartbeats', () => {
  it('never throw; a refusal changes nothing; an acceptance needs the instance’s own token and a valid body', () => {
    const { reg, added } = world();
    const insts = Object.values(added);
    /** mostly about one instance: its id (or a damaged one) with its own token, another's, or a damaged one */
    const attempt = fc.nat(insts.length - 1).chain((k) => {
      const own = insts[k]!;
      const id = fc.oneof(
        { weight: 6, arbitrary: fc.constant(own.id) },
        { weight: 2, arbitrary: mutated(own.id) },
        { weight: 1, arbitrary: fc.string() },
        { weight: 1, arbitrary: fc.constantFrom('', '..', '%00', 'a'.repeat(5000)) },
      );
      const token = fc.oneof(
        { weight: 6, arbitrary: fc.constant(own.token) },
        { weight: 2, arbitrary: fc.constantFrom(...insts.map((a) => a.token)) },
        { weight: 2, arbitrary: mutated(own.token) },
        { weight: 1, arbitrary: fc.string({ unit: 'binary' }) },
      );
      const header = fc.oneof(
        { weight: 1, arbitrary: fc.constant(undefined) },
        { weight: 6, arbitrary: token.map((t) => `Bearer ${t}`) },
        {
          weight: 3,
          arbitrary: fc
            .tuple(
              fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Basic', 'Bearer:', 'Token'),
              fc.constantFrom(' ', '\t', '  ', ''),
              token,
              fc.constantFrom('', ' ', '\t', ' x'),
            )
            .map(([s, sep, t, tail]) => `${s}${sep}${t}${tail}`),
        },
        { weight: 1, arbitrary: fc.string({ unit: 'binary' }) },
      );
      return fc.tuple(id, header, body);
    });
    const tally = { accepted: 0, refused: 0 };
    fc.assert(
      fc.property(attempt, ([i, h, b]) => {
        const before = JSON.stringify(reg.list());
        let bearer: string | undefined;
        let r: ReturnType<PlatformRegistry['heartbeat']>;
        try {
          bearer = bearerToken(h);
          r = reg.heartbeat(i, bearer, b);
        } catch (e) {
          assert.fail(`threw ${String(e)} for id=${JSON.stringify(i)} header=${JSON.stringify(h)}`);
        }
        if (r.ok) {
          tally.accepted++;
          const inst = Object.values(added).find((a) => a.id === i);
          assert.ok(inst, 'accepted for a registered id only');
          assert.equal(bearer, inst.token, 'accepted with the instance’s own token only');
        } else {
          tally.refused++;
          assert.ok(['unknown-instance', 'bad-token', 'bad-body'].includes(r.error));
          assert.equal(JSON.stringify(reg.list()), before, `refused (${r.error}) yet changed`);
        }
      }),
      { seed: 0x0b5e_a7ed, numRuns: 3000, includeErrorInReport: true },
    );
    assert.ok(tally.accepted > 100 && tally.refused > 1000, JSON.stringify(tally));
    assert.deepEqual(escaped, []);
  });
});

interface RawResponse {
  status: number;
  headers: Record<string, string>;
}

/** Sends `method target` as raw bytes (latin1) with Connection: close, reads the response head; rejects on a hang. */
function rawRequest(port: number, method: string, target: string, hasBody: boolean): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer for ${method} ${JSON.stringify(target)}`));
    }, 5000);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => undefined); // a reset after the answer is fine; no answer is caught below
    s.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const head = text.split('\r\n\r\n')[0]!;
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (!m) return reject(new Error(`no status line for ${method} ${JSON.stringify(target)}: ${JSON.stringify(text.slice(0, 200))}`));
      const headers: Record<string, string> = {};
      for (const line of head.split('\r\n').slice(1)) {
        const c = line.indexOf(':');
        if (c > 0) headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
      }
      resolve({ status: Number(m[1]), headers });
    });
    const extra = hasBody ? 'content-type: application/x-www-form-urlencoded\r\ncontent-length: 3\r\n\r\nx=1' : '\r\n';
    s.end(Buffer.from(`${method} ${target} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n${extra}`, 'latin1'));
  });
}

describe('fuzz: /svc requests', () => {
  const { reg, added } = world();
  let server: http.Server;
  let port = 0;
  let seat: SeatAtAddress | undefined;
  let records = 0;

  before(async () => {
    server = http.createServer(
      createSvcHandler({
        registry: reg,
        config: platformsConfigSchema.parse({}),
        proxyPort: 8090,
        sessionAt: () => seat,
        recordRedirect: async () => void records++,
        logger: silent,
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const safe = "- . _ ~ / // .. %2F %2e%2E %00 % %z %zz %E9 %C3%A9 ? & = # ; : @ ! $ ' ( * + , [ ]".split(' ');
  const piece = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('a', 'Z', '0', 'maps', 'x.pak') },
    { weight: 6, arbitrary: fc.constantFrom(...safe) },
    // refused by the HTTP parser (or not): either way never a 5xx
    { weight: 1, arbitrary: fc.constantFrom(' ', '\t', '"', '<', '>', '\\', '^', '`', '{', '|', '}', '\u00e9', '\u0080', '\u00ff') },
  );
  const chars = fc.array(piece, { maxLength: 12 }).map((xs) => xs.join(''));
  const cls = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('game', 'game', 'game', 'video', 'nothing') },
    { weight: 2, arbitrary: fc.constantFrom('Game', '', 'g'.repeat(40), '-x', '%67ame', 'game%2f', '..', '.', 'game;x', 'ga me') },
    { weight: 1, arbitrary: chars },
  );
  const prefix = fc.oneof(
    { weight: 8, arbitrary: fc.constant('/svc/') },
    { weight: 1, arbitrary: fc.constantFrom('/svc', '//svc/', '/svc//', '/SVC/', '/svc%2F', 'http://127.0.0.1/svc/', '*', '/svc/./') },
  );
  const target = fc
    .tuple(prefix, cls, fc.option(chars, { nil: undefined }), fc.option(chars, { nil: undefined }))
    .map(([p, c, rest, q]) => `${p}${c}${rest === undefined ? '' : `/${rest}`}${q === undefined ? '' : `?${q}`}`);
  const method = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH') },
    { weight: 1, arbitrary: fc.constantFrom('BREW', 'get', 'G ET') }, // refused by the HTTP parser
  );

  it('never a 5xx but 503, never a hang; Location starts with the chosen instance’s base URL', async (t) => {
    const statuses: number[] = [];
    const base = (u: string) => `${u.replace(/\/+$/, '')}/`;
    await fc.assert(
      fc.asyncProperty(target, method, fc.boolean(), async (tgt, m, withSeat) => {
        seat = withSeat ? { seat: 'S1', sessionId: 'sess-1' } : undefined;
        const before = new Map(reg.list().map((v) => [v.id, v.decisions]));
        const r = await rawRequest(port, m, tgt, m === 'POST' || m === 'PUT');
        statuses.push(r.status);
        assert.ok(r.status < 500 || r.status === 503, `${r.status} for ${m} ${JSON.stringify(tgt)}`);
        const chosen = reg.list().filter((v) => v.decisions !== before.get(v.id));
        if (r.status === 302 || r.status === 307) {
          assert.equal(chosen.length, 1, 'one decision per redirect');
          const inst = Object.values(added).find((a) => a.id === chosen[0]!.id)!;
          assert.ok(r.headers.location?.startsWith(base(inst.url)), `Location ${r.headers.location} for ${inst.url}`);
          assert.equal(r.status, m === 'GET' || m === 'HEAD' ? 302 : 307);
        } else {
          assert.equal(chosen.length, 0, `no decision counted for a ${r.status}`);
          assert.equal(r.headers.location, undefined);
        }
        if (r.status === 503) assert.match(r.headers['retry-after'] ?? '', /^\d+$/);
      }),
      { seed: 0x5e_c0de, numRuns: 600, includeErrorInReport: true, endOnFailure: true },
    );
    const tally = Object.fromEntries([...new Set(statuses)].sort().map((s) => [s, statuses.filter((x) => x === s).length]));
    t.diagnostic(`statuses: ${JSON.stringify(tally)}; audit records: ${records}`);
    assert.ok((tally[302] ?? 0) + (tally[307] ?? 0) > 150 && (tally[503] ?? 0) > 30, JSON.stringify(tally));
    assert.deepEqual(escaped, []);
    seat = undefined;
    const ok = await rawRequest(port, 'GET', '/svc/game/maps/x?y=1', false);
    assert.equal(ok.status, 302);
    assert.match(ok.headers.location!, /^http:\/\/10\.0\.5\.[12]:808[01]\/(base\/)?maps\/x\?y=1$/);
  });
});
