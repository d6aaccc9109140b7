/** The per-instance health state machine (src/platforms/health.ts), driven by an explicit clock. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InstanceHealth, SLOW_START_FLOOR } from '../../src/platforms/health.ts';

const P = { intervalMs: 2000, fall: 3, rise: 2, slowStartMs: 30_000 };
const TTL = P.intervalMs * P.fall;

describe('heartbeat TTL', () => {
  it('a heartbeating instance is healthy on its first heartbeat, unhealthy once TTL passes without one', () => {
    const h = new InstanceHealth(P, { polled: false }, 0);
    assert.equal(h.evaluate(0), 'unknown');
    h.heartbeat(1000);
    assert.equal(h.evaluate(1000), 'healthy');
    assert.equal(h.evaluate(1000 + TTL), 'healthy', 'exactly TTL after the heartbeat it still stands');
    assert.equal(h.evaluate(1000 + TTL + 1), 'unhealthy');
    assert.equal(h.snapshot(1000 + TTL + 500).since, 1000 + TTL, 'the change is dated when the TTL ran out');
  });

  it('a sweep every interval notices within TTL + one interval', () => {
    const h = new InstanceHealth(P, { polled: false }, 0);
    h.heartbeat(0);
    let noticed = -1;
    for (let t = 300; t <= 20_000 && noticed < 0; t += P.intervalMs) if (h.evaluate(t) === 'unhealthy') noticed = t;
    assert.ok(noticed > TTL && noticed <= TTL + P.intervalMs, `noticed at ${noticed}`);
  });

  it('regular heartbeats keep it healthy indefinitely', () => {
    const h = new InstanceHealth(P, { polled: false }, 0);
    for (let t = 0; t < 100_000; t += P.intervalMs) {
      h.heartbeat(t);
      assert.equal(h.evaluate(t + P.intervalMs - 1), 'healthy');
    }
  });

  it('after going down it needs `rise` heartbeats in a row to come back', () => {
    const h = new InstanceHealth(P, { polled: false }, 0);
    h.heartbeat(0);
    assert.equal(h.evaluate(10_000), 'unhealthy');
    h.heartbeat(10_000);
    assert.equal(h.evaluate(10_000), 'unhealthy', 'one heartbeat is not enough (rise 2)');
    h.heartbeat(12_000);
    assert.equal(h.evaluate(12_000), 'healthy');
  });

  it('heartbeats further apart than TTL do not add up to a rise', () => {
    const h = new InstanceHealth(P, { polled: false }, 0);
    h.heartbeat(0);
    for (const t of [10_000, 20_000, 30_000]) {
      h.heartbeat(t);
      assert.equal(h.evaluate(t), 'unhealthy', `at ${t}`);
    }
  });

  it('a heartbeat restored from the store within TTL stands; a stale one is down', () => {
    assert.equal(new InstanceHealth(P, { polled: false, lastHeartbeatAt: 95_000 }, 100_000).evaluate(100_000), 'healthy');
    const stale = new InstanceHealth(P, { polled: false, lastHeartbeatAt: 10_000 }, 100_000);
    assert.equal(stale.evaluate(100_000), 'unhealthy');
    stale.heartbeat(100_000);
    assert.equal(stale.evaluate(100_000), 'unhealthy');
    stale.heartbeat(101_000);
    assert.equal(stale.evaluate(101_000), 'healthy');
  });
});

describe('active polls: rise and fall', () => {
  it('the first result decides, then fall failures take it down and rise passes bring it back', () => {
    const h = new InstanceHealth(P, { polled: true }, 0);
    assert.equal(h.evaluate(0), 'unknown');
    h.pollResult(1, true);
    assert.equal(h.evaluate(1), 'healthy');
    h.pollResult(2, false);
    h.pollResult(3, false);
    assert.equal(h.evaluate(3), 'healthy', 'two failures < fall 3');
    h.pollResult(4, true);
    h.pollResult(5, false);
    h.pollResult(6, false);
    assert.equal(h.evaluate(6), 'healthy', 'a pass in between resets the count');
    h.pollResult(7, false);
    assert.equal(h.evaluate(7), 'unhealthy');
    h.pollResult(8, true);
    assert.equal(h.evaluate(8), 'unhealthy');
    h.pollResult(9, true);
    assert.equal(h.evaluate(9), 'healthy');
  });

  it('a polled instance that also heartbeats is unhealthy when its heartbeats stop', () => {
    const h = new InstanceHealth(P, { polled: true }, 0);
    h.pollResult(0, true);
    h.heartbeat(0);
    h.pollResult(TTL + 1, true);
    assert.equal(h.evaluate(TTL + 1), 'unhealthy');
  });
});

describe('slow start', () => {
  it('after recovery the weight factor ramps linearly from the floor to 1 over slowStartMs', () => {
    const h = new InstanceHealth(P, { polled: false }, 0);
    h.heartbeat(0);
    assert.equal(h.weightFactor(0), 1, 'coming up from unknown is not a recovery');
    h.evaluate(10_000);
    h.heartbeat(10_000);
    h.heartbeat(12_000); // healthy again at 12 000
    assert.equal(h.evaluate(12_000), 'healthy');
    assert.equal(h.weightFactor(12_000), SLOW_START_FLOOR);
    h.heartbeat(13_000);
    assert.ok(Math.abs(h.weightFactor(12_000 + 7500) - 0.25) < 1e-9);
    h.heartbeat(18_000);
    h.heartbeat(24_000);
    assert.ok(Math.abs(h.weightFactor(12_000 + 15_000) - 0.5) < 1e-9);
    h.heartbeat(30_000);
    h.heartbeat(36_000);
    h.heartbeat(41_000);
    assert.equal(h.evaluate(42_000), 'healthy');
    assert.equal(h.weightFactor(42_000), 1);
  });

  it('slowStartMs 0 turns it off', () => {
    const h = new InstanceHealth({ ...P, slowStartMs: 0 }, { polled: true }, 0);
    h.pollResult(0, true);
    for (let i = 1; i <= 3; i++) h.pollResult(i, false);
    h.pollResult(4, true);
    h.pollResult(5, true);
    assert.equal(h.evaluate(5), 'healthy');
    assert.equal(h.weightFactor(5), 1);
  });
});

describe('drain', () => {
  it('the agent drains with state drain and undrains with ready; the operator drain is separate', () => {
    const h = new InstanceHealth(P, { polled: false }, 0);
    h.heartbeat(0, 'drain');
    assert.equal(h.evaluate(0), 'healthy');
    assert.equal(h.drained, true);
    assert.equal(h.snapshot(0).drainedBy, 'agent');
    h.heartbeat(1000, 'ready');
    assert.equal(h.drained, false);
    h.setOperatorDrained(true);
    h.heartbeat(2000, 'ready');
    assert.equal(h.drained, true);
    assert.equal(h.snapshot(2000).drainedBy, 'operator');
    h.setOperatorDrained(false);
    assert.equal(h.drained, false);
  });
});
