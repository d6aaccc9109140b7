/** The scheduled wake-up (src/platforms/wake-scheduler.ts) on a fake clock, and its API view (wake-routes.ts). */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import express from 'express';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { platformsConfigSchema } from '../../src/platforms/config.ts';
import { createPlatformsMetrics } from '../../src/platforms/metrics.ts';
import { createWakeRunsRouter } from '../../src/platforms/wake-routes.ts';
import { WakeScheduler, type WakeSender } from '../../src/platforms/wake-scheduler.ts';
import { parseMac, type Mac } from '../../src/terminal/mac.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

const M1 = parseMac('52:54:00:00:00:01');
const M2 = parseMac('52:54:00:00:00:02');
const M3 = parseMac('52:54:00:00:00:03');
const SEATS: Array<{ mac: Mac; group: string }> = [
  { mac: M1, group: 'front' },
  { mac: M2, group: 'front' },
  { mac: M3, group: 'back' },
];
const targets = (t: string): Mac[] => SEATS.filter((s) => t === 'all' || s.group === t).map((s) => s.mac);
const FRI_0800Z = Date.parse('2026-03-06T08:00:00Z'); // a Friday
const DAY = 86_400_000;

/** `skew.ms`: how far the scheduler's wall clock is behind the timers' (a clock stepped back) */
function setup(schedules: unknown[], sender?: WakeSender, skew = { ms: 0 }) {
  const clock = new FakeClock(FRI_0800Z);
  const calls: Array<{ macs: Mac[]; spreadMs: number; at: number }> = [];
  const metrics = createPlatformsMetrics(new Registry());
  const s = new WakeScheduler({
    schedules: platformsConfigSchema.parse({ wol: { schedules } }).wol.schedules,
    targets,
    sender: sender ?? {
      wakeAll: (macs, spreadMs) => {
        calls.push({ macs: [...macs], spreadMs, at: clock.now() });
        return Promise.resolve({ sent: macs.length, failed: 0 });
      },
    },
    now: () => clock.now() - skew.ms,
    timers: clock.timers,
    offsetMinutes: () => 0,
    logger: pino({ level: 'silent' }),
    metrics,
  });
  const count = async (result: string): Promise<number> =>
    (await metrics.scheduledWakes.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
  return { clock, calls, s, count };
}

describe('wake scheduler', () => {
  it('wakes the target at its daily time, spread as configured, and keeps the run with its MACs', async () => {
    const { clock, calls, s, count } = setup([{ at: '07:30', target: 'front', spreadMs: 30_000 }]);
    s.start();
    assert.equal(s.schedules()[0]!.nextAt, Date.parse('2026-03-07T07:30:00Z'), 'today 07:30 has passed: tomorrow');
    await clock.advanceTo(Date.parse('2026-03-07T07:29:59Z'));
    assert.deepEqual(calls, []);
    assert.deepEqual(s.lastRuns(), []);
    await clock.advanceTo(Date.parse('2026-03-07T07:30:00Z'));
    assert.deepEqual(calls, [{ macs: [M1, M2], spreadMs: 30_000, at: Date.parse('2026-03-07T07:30:00Z') }]);
    const [run] = s.lastRuns();
    assert.deepEqual(
      { ...run, finishedAt: undefined },
      {
        schedule: 0,
        at: '07:30',
        days: '*',
        target: 'front',
        spreadMs: 30_000,
        startedAt: Date.parse('2026-03-07T07:30:00Z'),
        finishedAt: undefined,
        macs: [M1, M2],
        sent: 2,
        failed: 0,
        error: null,
      },
    );
    assert.equal(await count('sent'), 1);
    assert.equal(s.schedules()[0]!.nextAt, Date.parse('2026-03-08T07:30:00Z'), 're-armed for the next day');
  });

  it('once a day, only on the listed days; the last run replaces the one before', async () => {
    const { clock, calls, s } = setup([{ at: '07:30', days: 'mon-fri', target: 'all', spreadMs: 0 }]);
    s.start();
    assert.equal(s.schedules()[0]!.nextAt, Date.parse('2026-03-09T07:30:00Z'), 'Friday after 07:30: next Monday');
    await clock.advanceTo(FRI_0800Z + 7 * DAY);
    assert.deepEqual(
      calls.map((c) => new Date(c.at).toISOString().slice(0, 10)),
      ['2026-03-09', '2026-03-10', '2026-03-11', '2026-03-12', '2026-03-13'],
    );
    assert.equal(s.lastRuns().length, 1);
    assert.equal(s.lastRuns()[0]!.startedAt, Date.parse('2026-03-13T07:30:00Z'));
    assert.deepEqual(s.lastRuns()[0]!.macs, [M1, M2, M3]);
  });

  it('several schedules each keep their own last run', async () => {
    const { clock, s } = setup([
      { at: '07:00', target: 'front' },
      { at: '07:10', target: 'back' },
    ]);
    s.start();
    await clock.advance(DAY);
    assert.deepEqual(
      s.lastRuns().map((r) => [r.schedule, r.target, r.macs]),
      [
        [0, 'front', [M1, M2]],
        [1, 'back', [M3]],
      ],
    );
  });

  it('a group with no seats is a run that sends nothing, recorded and counted as empty', async () => {
    const { clock, calls, s, count } = setup([{ at: '09:00', target: 'nobody' }]);
    s.start();
    await clock.advance(DAY);
    assert.deepEqual(calls, []);
    assert.equal(s.lastRuns()[0]!.error, 'no seats in nobody');
    assert.deepEqual(s.lastRuns()[0]!.macs, []);
    assert.equal(await count('empty'), 1);
  });

  it('a failing or partly failing sender is recorded and counted, and the schedule goes on', async () => {
    let mode: 'throw' | 'partial' = 'throw';
    const { clock, s, count } = setup([{ at: '09:00' }], {
      wakeAll: (macs) => (mode === 'throw' ? Promise.reject(new Error('sender not started')) : Promise.resolve({ sent: 1, failed: macs.length - 1 })),
    });
    s.start();
    await clock.advance(DAY);
    assert.equal(s.lastRuns()[0]!.error, 'sender not started');
    assert.equal(s.lastRuns()[0]!.failed, 3);
    assert.equal(await count('failed'), 1);
    mode = 'partial';
    await clock.advance(DAY);
    assert.deepEqual([s.lastRuns()[0]!.sent, s.lastRuns()[0]!.failed, s.lastRuns()[0]!.error], [1, 2, null]);
    assert.equal(await count('partial'), 1);
  });

  it('a run still spreading is not doubled; stop() clears the timers', async () => {
    let release: (() => void) | undefined;
    let sends = 0;
    const { clock, s } = setup([{ at: '09:00' }], {
      wakeAll: (macs) => {
        sends += 1;
        return new Promise((r) => (release = () => r({ sent: macs.length, failed: 0 })));
      },
    });
    s.start();
    await clock.advance(DAY);
    const a = s.run(0);
    assert.equal(sends, 1);
    assert.equal(s.lastRuns()[0]!.finishedAt, null, 'still spreading');
    release!();
    assert.equal((await a).sent, 3);
    assert.notEqual(s.lastRuns()[0]!.finishedAt, null);
    s.stop();
    assert.equal(clock.armed, 0);
    await clock.advance(3 * DAY);
    assert.equal(sends, 1);
    assert.equal(s.schedules()[0]!.nextAt, null);
  });

  it('a timer that ends early waits for the rest; a bad day list is refused when built', async () => {
    const skew = { ms: 0 };
    const { clock, calls, s } = setup([{ at: '09:00' }], undefined, skew);
    s.start();
    const due = s.schedules()[0]!.nextAt!;
    // the wall clock is stepped back an hour before the timer fires: it ends "early" and must not run yet
    skew.ms = 3_600_000;
    await clock.advanceTo(due);
    assert.equal(calls.length, 0);
    assert.equal(clock.next(), due + 3_600_000, 're-armed for the rest');
    await clock.advanceTo(due + 3_600_000);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.at, due + 3_600_000);
    assert.throws(() => setup([{ at: '09:00', days: 'someday' }]), RangeError);
  });
});

describe('GET /wake/runs', () => {
  it('shows each schedule with its last run and, per MAC, the boot begun after the run (null: not come up)', async () => {
    const { clock, s } = setup([{ at: '07:30', target: 'front' }]);
    s.start();
    await clock.advanceTo(Date.parse('2026-03-07T07:30:00Z'));
    const started = Date.parse('2026-03-07T07:30:00Z');
    const boots: Record<string, { startedAt: number; stage: string }> = {
      [M1]: { startedAt: started + 20_000, stage: 'booted' },
      [M2]: { startedAt: started - DAY, stage: 'booted' }, // yesterday's boot: M2 has not come up since
    };
    const app = express().use(
      '/api/v1',
      createWakeRunsRouter({
        scheduler: s,
        bootSince: (mac, since) => (boots[mac] && boots[mac].startedAt >= since ? boots[mac] : undefined),
        guard: (_req, _res, next) => next(),
        logger: pino({ level: 'silent' }),
      }),
    );
    const server = createServer(app).listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/wake/runs`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as Array<{
        target: string;
        nextAt: number;
        lastRun: { startedAt: number; terminals: Array<{ mac: string; boot: unknown }> };
      }>;
      assert.equal(body.length, 1);
      assert.equal(body[0]!.target, 'front');
      assert.equal(body[0]!.nextAt, Date.parse('2026-03-08T07:30:00Z'));
      assert.deepEqual(body[0]!.lastRun.terminals, [
        { mac: M1, boot: { startedAt: started + 20_000, stage: 'booted' } },
        { mac: M2, boot: null },
      ]);
    } finally {
      server.close();
    }
  });
});
