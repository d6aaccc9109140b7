/**
 * Wake-on-LAN paced by the boot queue (src/boot/wake-pacing.ts with the real AdmissionQueue and WolSender): a
 * room-wide wake sends a packet only while woken-but-unseen + waiting + booting terminals stay under 2 × bound,
 * in order; a terminal the queue sees stops being pending; one that never comes stops counting after
 * wakePendingSeconds; stop() lets every held turn go.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { AdmissionQueue } from '../../src/boot/admission.ts';
import { admissionConfigSchema } from '../../src/boot/config.ts';
import { WakePacer } from '../../src/boot/wake-pacing.ts';
import { createPlatformsMetrics } from '../../src/platforms/metrics.ts';
import { WolSender } from '../../src/platforms/wol-sender.ts';
import { parseMac } from '../../src/terminal/mac.ts';

const macOf = (i: number): string => `52:54:00:28:00:${i.toString(16).padStart(2, '0')}`;
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A queue with bound 2 and a pacer on it, sharing one fake clock; timers are collected to be fired by hand. */
function setup(pendingSeconds = 120) {
  const clock = { t: 1_000_000 };
  const timers: Array<{ fn: () => void; at: number }> = [];
  let pacer: WakePacer | undefined;
  const queue = new AdmissionQueue({
    config: admissionConfigSchema.parse({ enabled: true, maxInHeavyPhase: 2 }),
    clock: () => clock.t,
    onEvent: (e) => pacer?.onAdmissionEvent(e),
  });
  pacer = new WakePacer({
    bound: () => queue.bound,
    counts: () => queue.counts(),
    pendingSeconds,
    clock: () => clock.t,
    setTimer: (fn, ms) => timers.push({ fn, at: clock.t + ms }),
    clearTimer: () => undefined,
  });
  /** moves the clock and fires the timers due by then */
  const advance = (ms: number): void => {
    clock.t += ms;
    for (const due of timers.filter((x) => x.at <= clock.t)) {
      timers.splice(timers.indexOf(due), 1);
      due.fn();
    }
  };
  return { queue, pacer, advance };
}

describe('Wake-on-LAN paced by the boot queue', () => {
  it('lets 2 × bound go, holds the next until the queue moves, in order', async () => {
    const { queue, pacer } = setup();
    const woken: number[] = [];
    const wakeAll = (async () => {
      for (let i = 1; i <= 6; i++) {
        await pacer.turn(macOf(i));
        woken.push(i);
      }
    })();
    await settle();
    assert.deepEqual(woken, [1, 2, 3, 4], '4 = 2 × bound pending before any terminal reached the queue');
    assert.equal(pacer.pendingCount, 4);
    // terminals 1 and 2 ask for their script: admitted (slots 2); 3 asks: queued. Still 4 in play.
    for (const i of [1, 2, 3]) queue.request(macOf(i));
    await settle();
    assert.deepEqual(woken, [1, 2, 3, 4]);
    assert.equal(pacer.pendingCount, 1, 'only terminal 4 is still unseen');
    // terminal 1 boots and releases its slot: 3 is admitted, one place is free → terminal 5 goes
    queue.release(macOf(1), 'booted');
    await settle();
    assert.deepEqual(woken, [1, 2, 3, 4, 5]);
    queue.release(macOf(2), 'booted');
    await settle();
    assert.deepEqual(woken, [1, 2, 3, 4, 5, 6]);
    await wakeAll;
  });

  it('a woken terminal that never comes stops counting after wakePendingSeconds', async () => {
    const { pacer, advance } = setup(60);
    const woken: number[] = [];
    void (async () => {
      for (let i = 1; i <= 5; i++) {
        await pacer.turn(macOf(i));
        woken.push(i);
      }
    })();
    await settle();
    assert.deepEqual(woken, [1, 2, 3, 4]);
    advance(59_000);
    await settle();
    assert.deepEqual(woken, [1, 2, 3, 4], 'not before the pending time ends');
    advance(1_000);
    await settle();
    assert.deepEqual(woken, [1, 2, 3, 4, 5]);
  });

  it('stop() lets every held turn go', async () => {
    const { pacer } = setup();
    const woken: number[] = [];
    const run = (async () => {
      for (let i = 1; i <= 6; i++) {
        await pacer.turn(macOf(i));
        woken.push(i);
      }
    })();
    await settle();
    assert.equal(woken.length, 4);
    pacer.stop();
    await run;
    assert.equal(woken.length, 6);
  });

  it('WolSender with the pace: the packets leave in order, each only when its turn comes', async () => {
    const { queue, pacer } = setup();
    const rx = createSocket('udp4');
    const got: string[] = [];
    rx.on('message', (m) => got.push(m.subarray(6, 12).toString('hex')));
    await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
    const sender = new WolSender({
      lan: () => ({ broadcast: '127.0.0.1', address: '127.0.0.1' }),
      port: rx.address().port,
      metrics: createPlatformsMetrics(new Registry()),
      pace: (mac) => pacer.turn(mac),
    });
    await sender.start();
    try {
      const macs = [1, 2, 3, 4, 5].map((i) => parseMac(macOf(i)));
      const done = sender.wakeAll(macs, 0);
      const hex = (i: number): string => macOf(i).replaceAll(':', '');
      const until = async (n: number): Promise<void> => {
        while (got.length < n) await new Promise((r) => setTimeout(r, 5));
      };
      await until(4);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(got, [1, 2, 3, 4].map(hex), 'the fifth waits for the queue');
      queue.request(macOf(1));
      queue.request(macOf(2));
      queue.release(macOf(1), 'booted');
      assert.deepEqual(await done, { sent: 5, failed: 0 });
      await until(5);
      assert.deepEqual(got, [1, 2, 3, 4, 5].map(hex));
    } finally {
      sender.stop();
      rx.close();
    }
  });
});
