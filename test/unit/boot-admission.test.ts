import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { AdmissionQueue, createAdmissionMetrics, waitingScript, type AdmissionEvent } from '../../src/boot/admission.ts';
import { admissionConfigSchema } from '../../src/boot/config.ts';

function setup(over: Record<string, unknown> = {}, priority: string[] = []) {
  const now = { t: 1_000_000 };
  const events: AdmissionEvent[] = [];
  const registry = new Registry();
  const config = admissionConfigSchema.parse({
    enabled: true,
    maxInHeavyPhase: 2,
    pollSeconds: 3,
    abandonSeconds: 10,
    slotTimeoutSeconds: 60,
    ...over,
  });
  const q = new AdmissionQueue({
    config,
    clock: () => now.t,
    isPriority: (m) => priority.includes(m),
    metrics: createAdmissionMetrics(registry),
    onEvent: (e) => events.push(e),
  });
  return { q, now, events, registry };
}

const mac = (i: number) => `52:54:00:00:00:${i.toString(16).padStart(2, '0')}`;

describe('boot admission queue', () => {
  it('admits up to the bound, then queues in arrival order and admits in that order as slots free', () => {
    const { q } = setup();
    assert.deepEqual(q.request(mac(1)), { admitted: true });
    assert.deepEqual(q.request(mac(2)), { admitted: true });
    const d3 = q.request(mac(3));
    const d4 = q.request(mac(4));
    assert.equal(d3.admitted, false);
    assert.equal(d4.admitted, false);
    if (!d3.admitted && !d4.admitted) {
      assert.equal(d3.ahead, 0);
      assert.equal(d4.ahead, 1);
      assert.equal(d3.retrySeconds, 3);
    }
    // a repeated ask keeps the place, it does not jump or rejoin at the end
    const again = q.request(mac(3));
    assert.ok(!again.admitted && again.ahead === 0);
    assert.equal(q.release(mac(2), 'booted'), true);
    assert.deepEqual(q.request(mac(4)).admitted, false, 'mac 4 is still behind mac 3');
    assert.deepEqual(q.request(mac(3)), { admitted: true });
    assert.equal(q.release(mac(1), 'iscsi-login'), true);
    assert.deepEqual(q.request(mac(4)), { admitted: true });
    assert.deepEqual(
      q.snapshot().inHeavyPhase.map((h) => h.mac),
      [mac(3), mac(4)],
    );
  });

  it('a holder asking again stays admitted; releasing a terminal without a slot is a no-op', () => {
    const { q } = setup({ maxInHeavyPhase: 1 });
    assert.deepEqual(q.request(mac(1)), { admitted: true });
    assert.deepEqual(q.request(mac(1)), { admitted: true });
    assert.equal(q.release(mac(9), 'booted'), false);
    assert.equal(q.snapshot().inHeavyPhase.length, 1);
  });

  it('seats with an open session go ahead of the waiting others, FIFO among themselves', () => {
    const { q } = setup({ maxInHeavyPhase: 1 }, [mac(5), mac(6)]);
    q.request(mac(1));
    q.request(mac(2));
    q.request(mac(3));
    const p5 = q.request(mac(5));
    const p6 = q.request(mac(6));
    assert.ok(!p5.admitted && p5.ahead === 0);
    assert.ok(!p6.admitted && p6.ahead === 1);
    const n2 = q.request(mac(2));
    assert.ok(!n2.admitted && n2.ahead === 2, 'the normal seat was pushed back by the two priority ones');
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      const holder = q.snapshot().inHeavyPhase[0]!.mac;
      q.release(holder, 'booted');
      order.push(q.snapshot().inHeavyPhase[0]!.mac);
    }
    assert.deepEqual(order, [mac(5), mac(6), mac(2), mac(3)]);
    assert.deepEqual(
      q.snapshot().waiting.map((w) => w.mac),
      [],
    );
  });

  it('aging: a terminal without priority that waited agingSeconds goes ahead of priority seats that came later', () => {
    const prio = [10, 11, 12, 13].map(mac);
    const { q, now } = setup({ maxInHeavyPhase: 1, abandonSeconds: 600, agingSeconds: 30 }, prio);
    q.request(mac(1)); // holds the slot
    q.request(mac(2)); // normal, waits from t0
    now.t += 10_000;
    q.request(prio[0]!); // priority, arrived 10 s later: goes ahead for now
    const early = q.request(mac(2));
    assert.ok(!early.admitted && early.ahead === 1, 'before aging the priority seat is ahead');
    now.t += 20_000; // mac 2 has waited 30 s
    q.request(prio[1]!); // a priority seat arriving after the aging point
    const aged = q.request(mac(2));
    assert.ok(!aged.admitted && aged.ahead === 0, 'aged: ahead of both priority seats (it came first)');
    assert.deepEqual(
      q.snapshot().waiting.map((w) => w.mac),
      [mac(2), prio[0], prio[1]],
    );
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      q.release(q.snapshot().inHeavyPhase[0]!.mac, 'booted');
      order.push(q.snapshot().inHeavyPhase[0]!.mac);
    }
    assert.deepEqual(order, [mac(2), prio[0], prio[1]]);
  });

  it('agingSeconds 0 is strict priority: a stream of priority seats keeps the other waiting', () => {
    const prio = [10, 11, 12].map(mac);
    const { q, now } = setup({ maxInHeavyPhase: 1, abandonSeconds: 3600, slotTimeoutSeconds: 3600, agingSeconds: 0 }, prio);
    q.request(mac(1));
    q.request(mac(2));
    for (const p of prio) {
      now.t += 100_000; // far past the default 60 s aging
      q.request(p);
      q.request(mac(2));
      q.release(q.snapshot().inHeavyPhase[0]!.mac, 'booted');
      assert.equal(q.snapshot().inHeavyPhase[0]!.mac, p);
    }
  });

  it('frees a slot held past slotTimeoutSeconds and admits the next', () => {
    const { q, now, registry } = setup({ maxInHeavyPhase: 1, slotTimeoutSeconds: 60, abandonSeconds: 100 });
    q.request(mac(1));
    q.request(mac(2));
    now.t += 59_000;
    q.request(mac(2));
    assert.equal(q.snapshot().inHeavyPhase[0]!.mac, mac(1));
    now.t += 1_000;
    q.expire();
    assert.equal(q.snapshot().inHeavyPhase[0]!.mac, mac(2));
    return registry.getSingleMetricAsString('bootgate_boot_queue_released_total').then((m) => assert.match(m, /reason="timeout"} 1/));
  });

  it('drops a waiting terminal that stopped polling, and the ones behind it move up', () => {
    const { q, now, events } = setup({ maxInHeavyPhase: 1, abandonSeconds: 10 });
    q.request(mac(1));
    q.request(mac(2));
    q.request(mac(3));
    now.t += 6_000;
    q.request(mac(3)); // 3 polls, 2 does not
    now.t += 5_000;
    const d = q.request(mac(3));
    assert.ok(!d.admitted && d.ahead === 0);
    assert.ok(events.some((e) => e.kind === 'abandoned' && e.mac === mac(2)));
    q.release(mac(1), 'booted');
    assert.deepEqual(q.request(mac(3)), { admitted: true });
  });

  it('estimates the wait from the observed slot hold times, in waves of the bound', () => {
    const { q, now } = setup({ maxInHeavyPhase: 2, initialSlotSeconds: 10, abandonSeconds: 1000, slotTimeoutSeconds: 1000 });
    q.request(mac(1));
    q.request(mac(2));
    for (let i = 3; i <= 7; i++) q.request(mac(i));
    const w = q.snapshot().waiting;
    // ahead 0,1 → the first wave (10 s); 2,3 → the second (20 s); 4 → 30 s
    assert.deepEqual(
      w.map((x) => x.etaSeconds),
      [10, 10, 20, 20, 30],
    );
    now.t += 4_000;
    assert.equal(q.snapshot().waiting[0]!.etaSeconds, 6, 'the current holders have used 4 s of their estimate');
    // slots released after 40 s pull the estimate up (EWMA)
    now.t += 36_000;
    q.release(mac(1), 'booted');
    assert.ok(q.snapshot().slotSecondsEstimate > 10);
  });

  it('publishes events, gauges and the wait histogram', async () => {
    const { q, now, events, registry } = setup({ maxInHeavyPhase: 1 });
    q.request(mac(1));
    q.request(mac(2));
    now.t += 5_000;
    q.request(mac(2));
    q.release(mac(1), 'booted');
    assert.deepEqual(
      events.map((e) => e.kind),
      ['admitted', 'queued', 'released', 'admitted'],
    );
    const queued = events[1]!;
    assert.equal(queued.ahead, 0);
    assert.equal(queued.waiting, 1);
    assert.equal(events[3]!.waitedSeconds, 5);
    assert.match(await registry.getSingleMetricAsString('bootgate_boot_queue_admitted_total'), /priority="false"} 2/);
    assert.match(await registry.getSingleMetricAsString('bootgate_boot_queue_wait_seconds'), /bootgate_boot_queue_wait_seconds_count 2/);
    assert.match(await registry.getSingleMetricAsString('bootgate_boot_queue_waiting'), /bootgate_boot_queue_waiting 0/);
  });

  it('renders the waiting script: place and estimate, a sleep, the script URL again', () => {
    assert.equal(
      waitingScript({ ahead: 12, etaSeconds: 40, retrySeconds: 3 }, 'http://10.0.0.1/boot.ipxe?mac=52-54-00-00-00-01'),
      '#!ipxe\necho bootgate: waiting: 12 ahead, about 40 s\nsleep 3\nchain --replace --autofree http://10.0.0.1/boot.ipxe?mac=52-54-00-00-00-01\n',
    );
  });

  it('the held variant has no sleep: the server holds the next request', () => {
    assert.equal(
      waitingScript({ ahead: 0, etaSeconds: 5, retrySeconds: 3 }, 'http://10.0.0.1/boot.ipxe?mac=52-54-00-00-00-01&queued=1', true),
      '#!ipxe\necho bootgate: waiting: 0 ahead, about 5 s\nchain --replace --autofree http://10.0.0.1/boot.ipxe?mac=52-54-00-00-00-01&queued=1\n',
    );
  });

  it('waitForAdmission resolves true when a released slot goes to the held terminal, false when it times out', async () => {
    const { q, now } = setup({ maxInHeavyPhase: 1, abandonSeconds: 10 });
    q.request(mac(1));
    q.request(mac(2));
    q.request(mac(3));
    assert.equal(await q.waitForAdmission(mac(9), 1000), false, 'not queued: answered at once');
    const held2 = q.waitForAdmission(mac(2), 60_000);
    const held3 = q.waitForAdmission(mac(3), 1);
    // a held terminal is present even when its last poll is old
    now.t += 20_000;
    q.expire();
    assert.equal(q.snapshot().waiting.length, 2);
    q.release(mac(1), 'booted');
    assert.equal(await held2, true);
    assert.equal(await held3, false);
    assert.deepEqual(q.request(mac(2)), { admitted: true });
  });

  it('config: bad values are refused with the key and the reason', () => {
    const bad = admissionConfigSchema.safeParse({ maxInHeavyPhase: 0 });
    assert.equal(bad.success, false);
    assert.deepEqual(bad.error!.issues[0]!.path, ['maxInHeavyPhase']);
    const poll = admissionConfigSchema.safeParse({ pollSeconds: 10, abandonSeconds: 10 });
    assert.equal(poll.success, false);
    assert.deepEqual(poll.error!.issues[0]!.path, ['abandonSeconds']);
    assert.match(poll.error!.issues[0]!.message, /longer than pollSeconds/);
    assert.equal(admissionConfigSchema.safeParse({ releaseOn: ['never'] }).success, false);
    assert.equal(admissionConfigSchema.parse({}).enabled, false);
  });
});
