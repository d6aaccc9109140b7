/**
 * The platform registry (src/platforms/registry.ts) over a real SQLite file: add/list/drain/remove, heartbeats and
 * their refusals, choice with TTL expiry and recovery, affinity, decision counters, and a reopen of the store.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { platformsConfigSchema } from '../../src/platforms/config.ts';
import { createPlatformsMetrics } from '../../src/platforms/metrics.ts';
import { PlatformRegistry, type PlatformRegistryDeps } from '../../src/platforms/registry.ts';
import { seededRandom } from '../../src/platforms/selector.ts';
import { openDatabase } from '../../src/store/database.ts';
import { PlatformRepository } from '../../src/store/platform-repository.ts';

const silent = pino({ level: 'silent' });
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const T0 = Date.parse('2026-03-01T08:00:00.000Z');

function world(configDoc: Record<string, unknown> = {}, file?: string) {
  if (!file) {
    const dir = mkdtempSync(join(tmpdir(), 'bootgate-platforms-'));
    dirs.push(dir);
    file = join(dir, 'bootgate.db');
  }
  const clock = { t: T0 };
  const db = openDatabase(file);
  const promRegistry = new Registry();
  const deps: PlatformRegistryDeps = {
    repository: new PlatformRepository(db),
    config: platformsConfigSchema.parse({ classes: { game: { affinity: true } }, ...configDoc }),
    now: () => clock.t,
    logger: silent,
    metrics: createPlatformsMetrics(promRegistry),
    random: seededRandom(1),
    probe: async () => true,
  };
  return { reg: new PlatformRegistry(deps), clock, db, file, promRegistry };
}
const hb = (activeSessions = 0, extra = {}) => ({ activeSessions, cpu: 0.2, memory: 0.3, ...extra });

describe('registry', () => {
  it('add returns an id and a token; the token heartbeats; the store keeps only its SHA-256', () => {
    const { reg, db } = world();
    const r = reg.add({ class: 'game', name: 'g1', url: 'http://10.0.0.5:8080', capacity: 10 });
    assert.ok(r.ok);
    assert.match(r.token, /^bgp_[A-Za-z0-9_-]{43}$/);
    const row = db.prepare('SELECT token_hash FROM platform_instances WHERE id = ?').get(r.id) as { token_hash: string };
    assert.match(row.token_hash, /^[0-9a-f]{64}$/);
    assert.ok(!row.token_hash.includes(r.token));
    assert.deepEqual(reg.heartbeat(r.id, r.token, hb(1)), { ok: true });
    assert.deepEqual(
      reg.list().map((v) => [v.name, v.health.status, v.activeSessions]),
      [['g1', 'healthy', 1]],
    );
  });

  it('refuses bad input and duplicate names', () => {
    const { reg } = world();
    assert.ok(reg.add({ class: 'game', name: 'g1', url: 'http://a', capacity: 1 }).ok);
    const dup = reg.add({ class: 'game', name: 'g1', url: 'http://b', capacity: 1 });
    assert.ok(!dup.ok && dup.error === 'duplicate-name');
    const bad = reg.add({ class: 'Game!', name: 'g2', url: 'ftp://x', capacity: 0 });
    assert.ok(!bad.ok && bad.error === 'bad-input');
    assert.match(bad.message, /class/);
    assert.ok(reg.add({ class: 'web', name: 'g1', url: 'http://c', capacity: 1 }).ok, 'the same name in another class');
  });

  it('a refused heartbeat (unknown id, wrong token, bad body) changes nothing', () => {
    const { reg, clock, promRegistry } = world();
    const r = reg.add({ class: 'game', name: 'g1', url: 'http://a', capacity: 10 });
    assert.ok(r.ok);
    reg.heartbeat(r.id, r.token, hb(3));
    const before = JSON.stringify(reg.list());
    clock.t += 1000;
    const cases: Array<[string, string | undefined, unknown, string]> = [
      ['nope', r.token, hb(9), 'unknown-instance'],
      [r.id, undefined, hb(9), 'bad-token'],
      [r.id, 'bgp_wrong', hb(9), 'bad-token'],
      [r.id, r.token, { activeSessions: -1, cpu: 0, memory: 0 }, 'bad-body'],
      [r.id, r.token, { activeSessions: 1.5, cpu: 0, memory: 0 }, 'bad-body'],
      [r.id, r.token, { activeSessions: 1, cpu: 2, memory: 0 }, 'bad-body'],
      [r.id, r.token, { activeSessions: 1, cpu: 0, memory: 0, state: 'sleep' }, 'bad-body'],
      [r.id, r.token, { activeSessions: 1, cpu: 0, memory: 0, extra: 1 }, 'bad-body'],
      [r.id, r.token, 'not json', 'bad-body'],
      [r.id, r.token, null, 'bad-body'],
    ];
    for (const [id, token, body, error] of cases) {
      const res = reg.heartbeat(id, token, body);
      assert.ok(!res.ok && res.error === error, `${JSON.stringify(body)} → ${JSON.stringify(res)}`);
    }
    clock.t -= 1000;
    assert.equal(JSON.stringify(reg.list()), before);
    const m = await_metric(promRegistry, 'bootgate_platforms_heartbeats_total');
    return m.then((v) => assert.equal(v['bad-body'], 7));
  });

  it('an instance that stops heartbeating gets nothing after the TTL; back, it ramps up again', () => {
    const { reg, clock } = world({ slowStartMs: 10_000 });
    const a = reg.add({ class: 'web', name: 'a', url: 'http://a', capacity: 100 });
    const b = reg.add({ class: 'web', name: 'b', url: 'http://b', capacity: 100 });
    const c = reg.add({ class: 'web', name: 'c', url: 'http://c', capacity: 100 });
    assert.ok(a.ok && b.ok && c.ok);
    const beat = (ids: Array<{ id: string; token: string }>) =>
      ids.forEach((i) => assert.deepEqual(reg.heartbeat(i.id, i.token, hb(0)), { ok: true }));
    beat([a, b, c]);
    const counts = (n: number) => {
      const m: Record<string, number> = {};
      for (let i = 0; i < n; i++) {
        const d = reg.choose('web');
        assert.ok(d.ok, JSON.stringify(d));
        m[d.instance.name] = (m[d.instance.name] ?? 0) + 1;
      }
      return m;
    };
    // b stops; a and c go on every 2 s
    for (let t = 2000; t <= 6000; t += 2000) {
      clock.t = T0 + t;
      beat([a, c]);
    }
    clock.t = T0 + 6001; // TTL = 2000 × 3 after b's last heartbeat at T0
    assert.equal(counts(100).b, undefined);
    assert.equal(reg.get(b.id)!.health.status, 'unhealthy');
    // b comes back: rise 2, then slow start over 10 s
    clock.t = T0 + 8000;
    beat([a, b, c]);
    clock.t = T0 + 9000;
    beat([b]);
    assert.equal(reg.get(b.id)!.health.status, 'healthy');
    const early = counts(300).b ?? 0;
    for (let t = 10_500; t <= 19_500; t += 1500) {
      clock.t = T0 + t;
      beat([a, b, c]);
    }
    const late = counts(300).b ?? 0;
    assert.ok(early < 15, `early share ${early}`);
    assert.ok(late > 80, `late share ${late}`);
  });

  it('drain and undrain; remove; none healthy → a decision that says so with Retry-After', () => {
    const { reg } = world({ classes: { video: { retryAfterSeconds: 7 } } });
    const v = reg.add({ class: 'video', name: 'v1', url: 'http://v', capacity: 5 });
    assert.ok(v.ok);
    const none = reg.choose('video');
    assert.ok(!none.ok && none.reason === 'none-healthy' && none.retryAfterSeconds === 7);
    assert.match(none.message, /video/);
    reg.heartbeat(v.id, v.token, hb());
    assert.ok(reg.choose('video').ok);
    assert.deepEqual(reg.drain(v.id), { ok: true });
    const d = reg.choose('video');
    assert.ok(!d.ok && d.reason === 'all-drained');
    reg.undrain(v.id);
    assert.ok(reg.choose('video').ok);
    reg.heartbeat(v.id, v.token, hb(0, { state: 'drain' }));
    assert.ok(!reg.choose('video').ok, 'agent drain');
    assert.deepEqual(reg.remove(v.id), { ok: true });
    assert.ok(!reg.remove(v.id).ok);
    const gone = reg.choose('video');
    assert.ok(!gone.ok && gone.reason === 'no-instances');
    assert.equal(reg.drain('nope').ok, false);
  });

  it('a sleeping instance gets nothing new and is not awake for the advisor; awake again, it is chosen', () => {
    const { reg } = world();
    const a = reg.add({ class: 'game', name: 'a', url: 'http://10.0.0.5:8080', capacity: 10 });
    const b = reg.add({ class: 'game', name: 'b', url: 'http://10.0.0.6:8080', capacity: 10 });
    assert.ok(a.ok && b.ok);
    reg.heartbeat(a.id, a.token, hb(0));
    reg.heartbeat(b.id, b.token, hb(5));
    assert.deepEqual(reg.setSleeping(a.id, true), { ok: true });
    assert.deepEqual(reg.classLoad('game'), { current: 1, activeSessions: 5 });
    for (let i = 0; i < 5; i++) assert.equal((reg.choose('game') as { instance: { name: string } }).instance.name, 'b');
    assert.equal(reg.get(a.id)!.sleeping, true);
    reg.setSleeping(a.id, false);
    assert.equal((reg.choose('game') as { instance: { name: string } }).instance.name, 'a');
    assert.equal(reg.setSleeping('nope', true).ok, false);
  });

  it('affinity keeps a session on its instance until that instance is drained', () => {
    const { reg } = world();
    const ids = ['g1', 'g2', 'g3'].map((name) => reg.add({ class: 'game', name, url: `http://${name}`, capacity: 10 }));
    for (const i of ids) assert.ok(i.ok && reg.heartbeat(i.id, i.token, hb()).ok);
    const first = reg.choose('game', { seat: 'S1', sessionKey: 'sess-1' });
    assert.ok(first.ok);
    for (let i = 0; i < 20; i++) {
      const again = reg.choose('game', { seat: 'S1', sessionKey: 'sess-1' });
      assert.ok(again.ok && again.instance.id === first.instance.id && again.reason === 'affinity');
    }
    reg.drain(first.instance.id);
    const moved = reg.choose('game', { seat: 'S1', sessionKey: 'sess-1' });
    assert.ok(moved.ok && moved.instance.id !== first.instance.id);
    reg.undrain(first.instance.id);
    const stays = reg.choose('game', { seat: 'S1', sessionKey: 'sess-1' });
    assert.ok(stays.ok && stays.instance.id === moved.instance.id, 'the new binding holds');
    reg.releaseSession('sess-1');
    const free = reg.choose('game', { seat: 'S1', sessionKey: 'sess-1' });
    assert.ok(free.ok && free.reason !== 'affinity');
  });

  it('survives a reopen: instances, tokens, drain, last heartbeat and decision counts', () => {
    const w1 = world();
    const r = w1.reg.add({ class: 'game', name: 'g1', url: 'http://g1', capacity: 10 });
    const s = w1.reg.add({ class: 'game', name: 'g2', url: 'http://g2', capacity: 10 });
    assert.ok(r.ok && s.ok);
    w1.reg.heartbeat(r.id, r.token, hb(4, { bandwidthBps: 1e6 }));
    w1.reg.drain(s.id);
    for (let i = 0; i < 5; i++) w1.reg.choose('game');
    w1.reg.stop();
    w1.db.close();

    const w2 = world({}, w1.file);
    w2.clock.t = T0 + 3000; // restarted within the TTL: the reported load stands
    const v = w2.reg.list();
    assert.deepEqual(
      v.map((x) => [x.name, x.health.status, x.health.drained, x.activeSessions, x.decisions, x.heartbeat?.bandwidthBps ?? null]),
      [
        ['g1', 'healthy', false, 4, 5, 1e6],
        ['g2', 'unknown', true, 0, 0, null],
      ],
    );
    assert.equal(v[0]!.trafficShare, 1);
    assert.ok(w2.reg.heartbeat(r.id, r.token, hb(1)).ok, 'the token still works');
    assert.equal(w2.reg.heartbeat(s.id, r.token, hb(1)).ok, false, "one instance's token is not another's");
    w2.db.close();
  });

  it('config instances are stored, kept in step with the file, polled, and not removable by the API', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bootgate-platforms-'));
    dirs.push(dir);
    const file = join(dir, 'bootgate.db');
    const conf = (capacity: number, extra: object[] = []) => ({
      instances: [{ class: 'web', name: 'w1', url: 'http://10.1.0.1', capacity, healthUrl: 'http://10.1.0.1/health' }, ...extra],
    });
    const w1 = world(conf(10, [{ class: 'web', name: 'w2', url: 'http://10.1.0.2', capacity: 5 }]), file);
    assert.deepEqual(
      w1.reg.list().map((x) => [x.name, x.source, x.health.status]),
      [
        ['w1', 'config', 'unknown'],
        ['w2', 'config', 'unknown'],
      ],
    );
    w1.reg.tick(); // polls w1 (the probe answers true)
    await new Promise((r) => setImmediate(r));
    assert.equal(w1.reg.list()[0]!.health.status, 'healthy');
    const d = w1.reg.choose('web');
    assert.ok(d.ok && d.instance.name === 'w1' && d.mode === 'redirect');
    const id = w1.reg.list()[0]!.id;
    assert.equal((w1.reg.remove(id) as { error: string }).error, 'config-instance');
    const t = w1.reg.rotateToken(w1.reg.list()[1]!.id);
    assert.ok(t.ok && w1.reg.heartbeat(w1.reg.list()[1]!.id, t.token, hb()).ok, 'a config instance can be given a token');
    w1.db.close();
    const w2 = world(conf(20), file);
    assert.deepEqual(
      w2.reg.list().map((x) => [x.id, x.name, x.capacity]),
      [[id, 'w1', 20]],
    );
    w2.db.close();
  });

  it('deregisters API instances dead longer than deregisterAfterMs, and only when set', () => {
    for (const deregisterAfterMs of [null, 60_000]) {
      const { reg, clock } = world({ deregisterAfterMs });
      const r = reg.add({ class: 'web', name: 'w', url: 'http://w', capacity: 1 });
      assert.ok(r.ok);
      reg.heartbeat(r.id, r.token, hb());
      clock.t = T0 + 60_000;
      reg.tick();
      assert.equal(reg.list().length, 1);
      clock.t = T0 + 60_001;
      reg.tick();
      assert.equal(reg.list().length, deregisterAfterMs === null ? 1 : 0);
    }
  });
});

describe('registry: panic and the decision counters', () => {
  it('fewer than half healthy: decisions spread over all non-drained, each counted as panic, by class and by instance', async () => {
    const { reg, clock, promRegistry } = world({ health: { intervalMs: 1000, fall: 3, rise: 2 } });
    const ids = ['p1', 'p2', 'p3'].map((name) => {
      const r = reg.add({ class: 'game', name, url: `http://10.0.0.${name.at(-1)}:8080`, capacity: 10 });
      assert.ok(r.ok);
      assert.ok(reg.heartbeat(r.id, r.token, hb(0)).ok);
      return r;
    });
    clock.t = T0 + 2000;
    assert.ok(reg.heartbeat(ids[0]!.id, ids[0]!.token, hb(0)).ok); // p1 alone keeps heartbeating
    clock.t = T0 + 3500; // p2 and p3 past their TTL (3 s): 1 of 3 healthy < 50 %
    const reasons = Array.from({ length: 30 }, () => reg.choose('game')).map((d) => d.reason);
    assert.ok(
      reasons.every((r) => r === 'panic'),
      reasons.join(),
    );
    const panics = (await promRegistry.getSingleMetric('bootgate_platforms_panic_decisions_total')!.get()).values;
    assert.deepEqual(
      panics.map((v) => [v.labels.class, v.value]),
      [['game', 30]],
    );
    // the per-instance counter (counted as plain numbers, added when scraped) adds up, and the unhealthy got some
    const decisions = (await promRegistry.getSingleMetric('bootgate_platforms_decisions_total')!.get()).values;
    assert.equal(
      decisions.reduce((n, v) => n + v.value, 0),
      30,
    );
    assert.ok(decisions.every((v) => v.labels.reason === 'panic'));
    assert.ok(decisions.filter((v) => v.labels.instance !== 'p1').length > 0, 'panic spreads over the unhealthy too');
    // a second scrape does not count them again
    const again = (await promRegistry.getSingleMetric('bootgate_platforms_decisions_total')!.get()).values;
    assert.equal(
      again.reduce((n, v) => n + v.value, 0),
      30,
    );
  });
});

async function await_metric(r: Registry, name: string): Promise<Record<string, number>> {
  const m = await r.getSingleMetric(name)!.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.result), v.value]));
}
