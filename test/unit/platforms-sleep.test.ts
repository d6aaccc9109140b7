/** Choosing idle instances to sleep (src/platforms/sleep.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IdlePlanner, type SleepCandidate } from '../../src/platforms/sleep.ts';

const i = (id: string, activeSessions = 0, extra: Partial<SleepCandidate> = {}): SleepCandidate => ({
  id,
  class: 'game',
  healthy: true,
  drained: false,
  activeSessions,
  sentSinceHeartbeat: 0,
  ...extra,
});

describe('idle planner', () => {
  it('sleeps an instance idle for idleMs, keeping minAwake of its class awake', () => {
    const p = new IdlePlanner(60_000, 1);
    assert.deepEqual(p.observe(0, [i('a'), i('b'), i('c', 3)]), []);
    assert.deepEqual(p.observe(59_999, [i('a'), i('b'), i('c', 3)]), []);
    assert.deepEqual(p.observe(60_000, [i('a'), i('b'), i('c', 3)]), ['a', 'b']);
    assert.deepEqual(new IdlePlanner(1000, 1).observe(0, [i('a')]), []);
    const q = new IdlePlanner(1000, 1);
    q.observe(0, [i('a'), i('b')]);
    assert.deepEqual(q.observe(1000, [i('a'), i('b')]), ['a'], 'one stays awake');
  });
  it('a session or a request resets the idle clock; drained or unhealthy instances are not counted awake', () => {
    const p = new IdlePlanner(1000, 1);
    p.observe(0, [i('a'), i('b')]);
    p.observe(500, [i('a', 0, { sentSinceHeartbeat: 1 }), i('b')]);
    assert.deepEqual(p.observe(1000, [i('a'), i('b')]), ['b']);
    const q = new IdlePlanner(1000, 1);
    q.observe(0, [i('a'), i('b', 0, { drained: true })]);
    assert.deepEqual(q.observe(2000, [i('a'), i('b', 0, { drained: true })]), []);
  });
});
