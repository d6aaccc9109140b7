/** Sleep/wake of idle instances (src/platforms/sleep-service.ts) with a fake registry, advisor, waker and hooks. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { Recommendation } from '../../src/platforms/advisor.ts';
import { platformsConfigSchema } from '../../src/platforms/config.ts';
import { createPlatformsMetrics } from '../../src/platforms/metrics.ts';
import type { InstanceView } from '../../src/platforms/registry.ts';
import { SleepService, type InstanceAction } from '../../src/platforms/sleep-service.ts';
import type { Mac } from '../../src/terminal/mac.ts';

const IDLE = 60_000;
const INTERVAL = 10_000;

type Patch = { status?: 'healthy' | 'unhealthy' | 'unknown'; since?: number; activeSessions?: number; source?: 'config' | 'api' };

class FakeRegistry {
  readonly views = new Map<string, InstanceView>();
  readonly asleep = new Set<string>();
  readonly marks: Array<[string, boolean]> = [];

  add(id: string, cls = 'game', p: Patch = {}): void {
    this.views.set(id, {
      id,
      class: cls,
      name: id,
      url: `http://10.0.0.1/${id}/`,
      capacity: 10,
      weight: 1,
      source: p.source ?? 'config',
      createdAt: 0,
      health: {
        status: p.status ?? 'healthy',
        since: p.since ?? 0,
        drained: false,
        drainedBy: null,
        weightFactor: 1,
        lastHeartbeatAt: 0,
        heartbeat: 'up',
        poll: null,
      },
      effectiveWeight: 1,
      load: 0,
      activeSessions: p.activeSessions ?? 0,
      sentSinceHeartbeat: 0,
      heartbeat: null,
      decisions: 0,
      trafficShare: 0,
      sleeping: false,
    });
  }
  set(id: string, p: Patch): void {
    const v = this.views.get(id)!;
    this.views.set(id, {
      ...v,
      activeSessions: p.activeSessions ?? v.activeSessions,
      health: { ...v.health, status: p.status ?? v.health.status, since: p.since ?? v.health.since },
    });
  }
  list(): InstanceView[] {
    return [...this.views.values()].map((v) => ({ ...v, sleeping: this.asleep.has(v.id) }));
  }
  setSleeping(id: string, sleeping: boolean) {
    if (!this.views.has(id)) return { ok: false as const, error: 'unknown-instance' as const, message: 'no' };
    this.marks.push([id, sleeping]);
    if (sleeping) this.asleep.add(id);
    else this.asleep.delete(id);
    return { ok: true as const };
  }
}

function setup(opts: { instances?: unknown[]; sleep?: Record<string, unknown>; failPost?: boolean } = {}) {
  const config = platformsConfigSchema.parse({
    classes: { game: { targetSessionsPerInstance: 10 } },
    instances: opts.instances ?? [
      { class: 'game', name: 'a', url: 'http://10.0.0.1/a/', capacity: 10, mac: '52:54:00:00:00:0a', sleepUrl: 'http://10.0.0.1:9000/a/sleep' },
      { class: 'game', name: 'b', url: 'http://10.0.0.1/b/', capacity: 10, mac: '52:54:00:00:00:0b', sleepUrl: 'http://10.0.0.1:9000/b/sleep' },
      { class: 'game', name: 'c', url: 'http://10.0.0.1/c/', capacity: 10, mac: '52:54:00:00:00:0c', sleepUrl: 'http://10.0.0.1:9000/c/sleep' },
    ],
    health: { intervalMs: 2000, fall: 3 },
    advisor: { intervalMs: INTERVAL, minInstances: 1, hookTimeoutMs: 1000 },
    sleep: { idleMs: IDLE, ...opts.sleep },
  });
  const reg = new FakeRegistry();
  for (const i of config.instances) reg.add(i.name, i.class);
  const recs = new Map<string, number>([['game', 1]]);
  const posts: Array<{ url: string; body: InstanceAction }> = [];
  const commands: Array<{ argv: readonly string[]; body: InstanceAction; env: Record<string, string> }> = [];
  const packets: Mac[] = [];
  let t = 0;
  const metrics = createPlatformsMetrics(new Registry());
  const svc = new SleepService({
    registry: reg,
    advice: {
      recommendations: () =>
        [...recs].map(([cls, desired]): Recommendation => ({
          class: cls,
          desired,
          current: 0,
          average: 0,
          target: 10,
          direction: 'none',
          why: '',
          at: t,
        })),
    },
    waker: { send: (mac) => (packets.push(mac), Promise.resolve()) },
    config,
    now: () => t,
    logger: pino({ level: 'silent' }),
    metrics,
    postJson: (url, body) => {
      posts.push({ url, body: body as InstanceAction });
      return opts.failPost ? Promise.reject(new Error('connection refused')) : Promise.resolve();
    },
    runCommand: (argv, body, env) => {
      commands.push({ argv, body: body as InstanceAction, env });
      return Promise.resolve();
    },
  });
  const settle = () => new Promise((r) => setImmediate(r));
  /** one round at time `at` */
  const round = async (at: number) => {
    t = at;
    const r = svc.tick();
    await settle();
    return r;
  };
  const count = async (action: string, result: string): Promise<number> =>
    (await metrics.sleepActions.get()).values
      .filter((v) => v.labels.action === action && v.labels.result === result)
      .reduce((s, v) => s + v.value, 0);
  return { reg, recs, posts, commands, packets, svc, round, count, metrics };
}

describe('sleep service: putting idle instances to sleep', () => {
  it('after idleMs, idle instances are marked sleeping and told by their sleepUrl, as far as the desired count allows', async () => {
    const { reg, posts, round, count } = setup();
    assert.deepEqual((await round(0)).slept, []);
    assert.deepEqual((await round(IDLE - 1)).slept, []);
    const r = await round(IDLE);
    assert.deepEqual(r.slept, ['a', 'b'], 'desired 1: one stays awake');
    assert.deepEqual(reg.marks, [
      ['a', true],
      ['b', true],
    ]);
    assert.deepEqual(
      posts.map((p) => p.url),
      ['http://10.0.0.1:9000/a/sleep', 'http://10.0.0.1:9000/b/sleep'],
    );
    assert.deepEqual(posts[0]!.body, { action: 'sleep', id: 'a', class: 'game', name: 'a', url: 'http://10.0.0.1/a/', mac: '52:54:00:00:00:0a' });
    assert.equal(await count('sleep', 'ok'), 2);
    assert.deepEqual((await round(IDLE * 3)).slept, [], 'the last one awake stays awake');
  });

  it('keeps the advisor’s desired count awake, and does not sleep classes with no advice', async () => {
    const { recs, round, reg } = setup();
    recs.set('game', 3);
    await round(0);
    assert.deepEqual((await round(IDLE)).slept, []);
    recs.delete('game');
    assert.deepEqual((await round(IDLE * 2)).slept, []);
    assert.deepEqual(reg.marks, []);
  });

  it('an instance with sessions is not idle; the idle clock starts again after its last session', async () => {
    const { reg, round } = setup();
    reg.set('a', { activeSessions: 2 });
    await round(0);
    reg.set('a', { activeSessions: 0 });
    await round(30_000);
    assert.deepEqual((await round(IDLE)).slept, ['b', 'c'], 'a has been idle for 30 s only, and keeps the class awake');
    assert.deepEqual((await round(IDLE + 30_000)).slept, [], 'a is the last one awake');
  });

  it('with no sleepUrl, sleep.command is run with the instance as JSON and BOOTGATE_PLATFORM_* in env', async () => {
    const { commands, round } = setup({
      instances: [
        { class: 'game', name: 'a', url: 'http://10.0.0.1/a/', capacity: 10, mac: '52:54:00:00:00:0a' },
        { class: 'game', name: 'b', url: 'http://10.0.0.1/b/', capacity: 10, mac: '52:54:00:00:00:0b' },
      ],
      sleep: { command: ['/usr/local/bin/platform-sleep', '--now'] },
    });
    await round(0);
    assert.deepEqual((await round(IDLE)).slept, ['a']);
    assert.equal(commands.length, 1);
    assert.deepEqual(commands[0]!.argv, ['/usr/local/bin/platform-sleep', '--now']);
    assert.equal(commands[0]!.body.action, 'sleep');
    assert.equal(commands[0]!.env.BOOTGATE_PLATFORM_ACTION, 'sleep');
    assert.equal(commands[0]!.env.BOOTGATE_PLATFORM_NAME, 'a');
    assert.equal(commands[0]!.env.BOOTGATE_PLATFORM_MAC, '52:54:00:00:00:0a');
  });

  it('an instance that could not be told, or not woken, is never put to sleep', async () => {
    const noWake = setup({
      instances: [
        { class: 'game', name: 'a', url: 'http://10.0.0.1/a/', capacity: 10, sleepUrl: 'http://10.0.0.1:9000/a/sleep' },
        { class: 'game', name: 'b', url: 'http://10.0.0.1/b/', capacity: 10, sleepUrl: 'http://10.0.0.1:9000/b/sleep' },
      ],
    });
    await noWake.round(0);
    assert.deepEqual((await noWake.round(IDLE)).slept, [], 'no mac and no wakeCommand');
    const noTell = setup({
      instances: [
        { class: 'game', name: 'a', url: 'http://10.0.0.1/a/', capacity: 10, mac: '52:54:00:00:00:0a' },
        { class: 'game', name: 'b', url: 'http://10.0.0.1/b/', capacity: 10, mac: '52:54:00:00:00:0b' },
      ],
    });
    await noTell.round(0);
    assert.deepEqual((await noTell.round(IDLE)).slept, [], 'no sleepUrl and no sleep command');
  });

  it('an instance that cannot sleep still counts as awake for the class', async () => {
    const { round } = setup({
      instances: [
        { class: 'game', name: 'a', url: 'http://10.0.0.1/a/', capacity: 10 }, // neither sleepUrl nor mac
        { class: 'game', name: 'b', url: 'http://10.0.0.1/b/', capacity: 10, mac: '52:54:00:00:00:0b', sleepUrl: 'http://10.0.0.1:9000/b/sleep' },
      ],
    });
    await round(0);
    assert.deepEqual((await round(IDLE)).slept, ['b'], 'a keeps the class awake');
  });

  it('a failed sleep hook leaves the instance awake and is counted', async () => {
    const { reg, round, count, svc } = setup({ failPost: true });
    await round(0);
    assert.deepEqual((await round(IDLE)).slept, ['a', 'b']);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual([...reg.asleep], []);
    assert.deepEqual(svc.sleeping(), []);
    assert.equal(await count('sleep', 'failed'), 2);
  });

  it('is off with sleep.idleMs null', async () => {
    const { round, reg } = setup({ sleep: { idleMs: null } });
    await round(0);
    assert.deepEqual(await round(IDLE * 10), { slept: [], woken: [], back: [] });
    assert.deepEqual(reg.marks, []);
  });
});

describe('sleep service: waking before it is needed, and back when healthy', () => {
  /** a and b asleep (and down) from IDLE; c awake */
  async function asleep() {
    const s = setup();
    await s.round(0);
    await s.round(IDLE);
    s.reg.set('a', { status: 'unhealthy', since: IDLE + 6000 });
    s.reg.set('b', { status: 'unhealthy', since: IDLE + 6000 });
    await s.round(IDLE + INTERVAL);
    return s;
  }

  it('when the advice wants more than are awake, the longest asleep is woken by Wake-on-LAN, once', async () => {
    const { recs, packets, round, svc } = await asleep();
    recs.set('game', 2);
    const r = await round(IDLE + 2 * INTERVAL);
    assert.deepEqual(r.woken, ['a']);
    assert.deepEqual(packets, ['52:54:00:00:00:0a']);
    assert.deepEqual((await round(IDLE + 3 * INTERVAL)).woken, [], 'being woken: not woken again');
    assert.equal(svc.sleeping().find((x) => x.id === 'a')!.wakeAt, IDLE + 2 * INTERVAL);
    recs.set('game', 3);
    assert.deepEqual((await round(IDLE + 4 * INTERVAL)).woken, ['b'], 'one more wanted');
  });

  it('a woken instance not healthy within wakeTimeoutMs is woken again', async () => {
    const { recs, packets, round } = await asleep();
    recs.set('game', 2);
    const w = IDLE + 2 * INTERVAL;
    await round(w);
    await round(w + 119_000);
    assert.equal(packets.length, 1);
    assert.deepEqual((await round(w + 120_000)).woken, ['a']);
    assert.equal(packets.length, 2);
  });

  it('it is un-slept at its first healthy round after it went down, and gets traffic again', async () => {
    const { reg, recs, round, count, svc } = await asleep();
    recs.set('game', 2);
    await round(IDLE + 2 * INTERVAL);
    reg.set('a', { status: 'healthy', since: IDLE + 2 * INTERVAL + 30_000 });
    const r = await round(IDLE + 6 * INTERVAL);
    assert.deepEqual(r.back, ['a']);
    assert.ok(!reg.asleep.has('a'));
    assert.deepEqual(
      svc.sleeping().map((x) => x.id),
      ['b'],
    );
    assert.equal(await count('awake', 'ok'), 1);
  });

  it('down and up again between two rounds still counts as having slept (its health changed since)', async () => {
    const s = setup();
    await s.round(0);
    await s.round(IDLE);
    s.reg.set('a', { status: 'healthy', since: IDLE + 4000 }); // went down and came back between rounds
    assert.deepEqual((await s.round(IDLE + 5000)).back, ['a'], 'b is still going down');
    assert.equal(await s.count('awake', 'ok'), 1);
  });

  it('one told to sleep that is still up after TTL + one interval did not sleep: awake again, a failed sleep', async () => {
    const { round, count, reg } = setup();
    await round(0);
    await round(IDLE);
    assert.deepEqual((await round(IDLE + 8000)).back, [], 'within TTL (6 s) + interval (2 s): still going down');
    assert.deepEqual((await round(IDLE + 8001)).back, ['a', 'b']);
    assert.deepEqual([...reg.asleep], []);
    assert.equal(await count('sleep', 'failed'), 2);
  });

  it('with no mac, sleep.wakeCommand wakes it', async () => {
    const s = setup({
      instances: [
        { class: 'game', name: 'a', url: 'http://10.0.0.1/a/', capacity: 10, sleepUrl: 'http://10.0.0.1:9000/a/sleep' },
        { class: 'game', name: 'b', url: 'http://10.0.0.1/b/', capacity: 10, sleepUrl: 'http://10.0.0.1:9000/b/sleep' },
      ],
      sleep: { wakeCommand: ['virsh', 'start'] },
    });
    await s.round(0);
    assert.deepEqual((await s.round(IDLE)).slept, ['a']);
    s.reg.set('a', { status: 'unhealthy', since: IDLE + 6000 });
    s.recs.set('game', 2);
    assert.deepEqual((await s.round(IDLE + INTERVAL)).woken, ['a']);
    assert.deepEqual(s.packets, []);
    assert.deepEqual(
      s.commands.map((c) => [c.argv, c.body.action, c.env.BOOTGATE_PLATFORM_NAME]),
      [[['virsh', 'start'], 'wake', 'a']],
    );
  });

  it('a removed sleeping instance is forgotten', async () => {
    const { reg, round, svc } = await asleep();
    reg.views.delete('a');
    await round(IDLE + 2 * INTERVAL);
    assert.deepEqual(
      svc.sleeping().map((x) => x.id),
      ['b'],
    );
  });
});
