/** The scaling advisor (src/platforms/advisor.ts, advisor-service.ts) on scripted session series. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { ClassAdvisor, type AdviceEvent, type AdvisorParams } from '../../src/platforms/advisor.ts';
import { ScalingAdvisor } from '../../src/platforms/advisor-service.ts';
import { platformsConfigSchema } from '../../src/platforms/config.ts';
import { envOf } from '../../src/platforms/hooks.ts';
import { createPlatformsMetrics } from '../../src/platforms/metrics.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const P: AdvisorParams = {
  windowMs: 60_000,
  tolerance: 0.1,
  scaleDownStabilizationMs: 300_000,
  cooldownMs: 60_000,
  minInstances: 1,
  maxInstances: null,
};
const TICK = 10_000;

/** Runs a series of [seconds, current, sessions] steps, one sample per tick; returns the events with their time. */
function run(adv: ClassAdvisor, steps: Array<[number, number, number]>) {
  const events: AdviceEvent[] = [];
  let t = 0;
  for (const [seconds, current, sessions] of steps) {
    for (const end = t + seconds * 1000; t < end; t += TICK) {
      const { event } = adv.observe(t, { current, activeSessions: sessions });
      if (event) events.push(event);
    }
  }
  return events;
}

describe('HPA formula', () => {
  it('desired = ceil(current × average ÷ target), no change within the tolerance', () => {
    const a = new ClassAdvisor('game', { ...P, windowMs: 1 }, 10);
    assert.equal(a.observe(0, { current: 2, activeSessions: 21 }).recommendation.desired, 2, 'ratio 1.05 within 0.1');
    assert.equal(a.observe(1, { current: 2, activeSessions: 22 }).recommendation.desired, 2, 'ratio 1.1 is still within');
    const r = a.observe(2, { current: 2, activeSessions: 45 }).recommendation;
    assert.deepEqual([r.average, r.desired, r.direction], [22.5, 5, 'up']);
    assert.match(r.why, /scale out 2 → 5/);
  });

  it('min and max bound the advice; no instance and no sessions asks for minInstances', () => {
    const a = new ClassAdvisor('web', { ...P, windowMs: 1, maxInstances: 3 }, 10);
    assert.equal(a.observe(0, { current: 2, activeSessions: 1000 }).recommendation.desired, 3);
    const b = new ClassAdvisor('web', { ...P, windowMs: 1 }, 10);
    const r = b.observe(0, { current: 0, activeSessions: 0 }).recommendation;
    assert.deepEqual([r.desired, r.direction], [1, 'up']);
    assert.equal(new ClassAdvisor('web', { ...P, windowMs: 1 }, 10).observe(0, { current: 0, activeSessions: 35 }).recommendation.desired, 4);
  });
});

describe('events on a scripted series', () => {
  it('scale-out once per crossing, at once; scale-in once, only after the stabilization window', () => {
    const adv = new ClassAdvisor('game', P, 10);
    const events = run(adv, [
      [120, 2, 20], // on target
      [180, 2, 40], // load doubles: out
      [60, 4, 40], // the operator scaled to 4: on target again
      [600, 4, 12], // load falls: in, after 300 s
    ]);
    assert.deepEqual(
      events.map((e) => [e.at / 1000, e.direction, e.current, e.desired]),
      [
        [120, 'up', 2, 3],
        [670, 'down', 4, 3],
      ],
    );
    const up = events[0]!;
    assert.ok(up.average > 11 && up.average < 12, `the moving average lags: ${up.average}`);
    // the load fell at 360 s; the moving average still recommended 4 at 370 s, so the 300 s stabilization window
    // holds the count until 670 s. The advice then stands (no new event as it relaxes further) until the count changes.
    assert.match(events[1]!.why, /scale in 4 → 3/);
  });

  it('no scale-down advice inside the stabilization window, even after a long high period', () => {
    const adv = new ClassAdvisor('game', P, 10);
    const events = run(adv, [
      [300, 4, 40],
      [290, 4, 8],
    ]);
    assert.deepEqual(events, []);
    const later = adv.observe(600_000, { current: 4, activeSessions: 8 });
    assert.equal(later.event?.direction, 'down');
  });

  it('cooldown: a crossing inside it is announced after it if it still holds; a flap is not', () => {
    const adv = new ClassAdvisor('video', { ...P, windowMs: 1, scaleDownStabilizationMs: 0, cooldownMs: 60_000 }, 10);
    const events = run(adv, [
      [10, 2, 40], // up at 0
      [10, 2, 20], // back on target
      [30, 2, 40], // up again at 20 s: in cooldown, announced at 60 s
      [40, 2, 40],
    ]);
    assert.deepEqual(
      events.map((e) => [e.at / 1000, e.direction]),
      [
        [0, 'up'],
        [60, 'up'],
      ],
    );
  });

  it('while the advice stands, a change of the instance count is a new crossing', () => {
    const adv = new ClassAdvisor('web', { ...P, windowMs: 1, cooldownMs: 0 }, 10);
    const events = run(adv, [
      [30, 2, 60],
      [30, 3, 60],
      [30, 6, 60],
    ]);
    assert.deepEqual(
      events.map((e) => [e.current, e.desired]),
      [
        [2, 6],
        [3, 6],
      ],
    );
  });
});

describe('ScalingAdvisor service and its hooks', () => {
  const silent = pino({ level: 'silent' });

  it('samples the classes with a target, keeps recommendations and events, delivers each event once', async () => {
    const clock = { t: 0 };
    const load = { current: 2, activeSessions: 20 };
    const delivered: AdviceEvent[] = [];
    const svc = new ScalingAdvisor({
      source: { classNames: () => ['game', 'web'], classLoad: () => load },
      config: platformsConfigSchema.parse({ classes: { game: { targetSessionsPerInstance: 10 } }, advisor: { cooldownMs: 0 } }),
      now: () => clock.t,
      logger: silent,
      metrics: createPlatformsMetrics(new Registry()),
      deliver: async (e) => void delivered.push(e),
    });
    assert.deepEqual(svc.tick(), []);
    load.activeSessions = 80;
    for (let i = 1; i <= 8; i++) {
      clock.t = i * 10_000;
      svc.tick();
    }
    await svc.stop();
    assert.deepEqual(
      svc.recommendations().map((r) => r.class),
      ['game'],
    );
    assert.equal(delivered.length, 1);
    assert.equal(svc.events().length, 1);
    assert.equal(delivered[0]!.direction, 'up');
  });

  it('the default delivery POSTs the event as JSON and runs the command with it on stdin and in env', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bootgate-advice-'));
    dirs.push(dir);
    const bodies: unknown[] = [];
    const server = createServer((req, res) => {
      let s = '';
      req.on('data', (c: Buffer) => (s += c.toString()));
      req.on('end', () => {
        bodies.push({ type: req.headers['content-type'], body: JSON.parse(s) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const out = join(dir, 'out');
    const svc = new ScalingAdvisor({
      source: { classNames: () => ['game'], classLoad: () => ({ current: 1, activeSessions: 50 }) },
      config: platformsConfigSchema.parse({
        classes: { game: { targetSessionsPerInstance: 10 } },
        advisor: {
          webhookUrl: `http://127.0.0.1:${port}/advice`,
          command: ['sh', '-c', `cat > ${out}; echo >> ${out}; echo "$BOOTGATE_ADVICE_DESIRED" >> ${out}`],
        },
      }),
      now: () => 1000,
      logger: silent,
      metrics: createPlatformsMetrics(new Registry()),
    });
    svc.tick();
    await svc.stop();
    server.close();
    assert.equal(bodies.length, 1);
    assert.deepEqual(bodies[0], { type: 'application/json', body: svc.events()[0] });
    const [json, desired] = readFileSync(out, 'utf8').split('\n');
    assert.equal(JSON.parse(json!).desired, 5);
    assert.equal(desired, '5');
  });

  it('envOf names variables by the keys in upper snake case', () => {
    assert.deepEqual(envOf('BOOTGATE_ADVICE_', { class: 'game', desired: 3, retryAfter: 1, nested: {} }), {
      BOOTGATE_ADVICE_CLASS: 'game',
      BOOTGATE_ADVICE_DESIRED: '3',
      BOOTGATE_ADVICE_RETRY_AFTER: '1',
    });
  });
});
