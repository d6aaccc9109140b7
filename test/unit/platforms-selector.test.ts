/** Choosing an instance (src/platforms/selector.ts): P2C on a burst, panic, ties, affinity, drained instances. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { loadOf, seededRandom, select, type Candidate } from '../../src/platforms/selector.ts';

const inst = (id: string, capacity: number, extra: Partial<Candidate> = {}): Candidate => ({
  id,
  capacity,
  weight: 1,
  weightFactor: 1,
  activeSessions: 0,
  sentSinceHeartbeat: 0,
  healthy: true,
  drained: false,
  ...extra,
});
const opts = (seed = 1, extra = {}) => ({ random: seededRandom(seed), panicThreshold: 0.5, ...extra });

/** 1,000 requests between two heartbeats; the sessions they open are only known to the selector as "sent". */
function burst(pick: (cands: Candidate[]) => Candidate, start: Candidate[], n = 1000): number {
  const cands = start.map((c) => ({ ...c }));
  for (let i = 0; i < n; i++) pick(cands).sentSinceHeartbeat += 1;
  const loads = cands.map((c) => loadOf(c));
  return Math.max(...loads) / (loads.reduce((s, l) => s + l, 0) / loads.length);
}

describe('placement on a burst between two heartbeats', () => {
  // unequal capacity, and a stale report from the last heartbeat
  const fleet = [
    inst('a', 100, { activeSessions: 20 }),
    inst('b', 200, { activeSessions: 30 }),
    inst('c', 300, { activeSessions: 90 }),
    inst('d', 400, { activeSessions: 100 }),
  ];

  it('P2C counting sent requests keeps max ÷ mean load ≤ 1.1', () => {
    for (const seed of [1, 2, 3, 42, 1234]) {
      const o = opts(seed);
      const ratio = burst((cs) => {
        const c = select(cs, o);
        assert.ok(c.ok);
        return c.instance;
      }, fleet);
      assert.ok(ratio <= 1.1, `seed ${seed}: max/mean ${ratio}`);
    }
  });

  it('least-connections on the stale heartbeat load sends the whole burst to one instance', () => {
    const stale = burst((cs) => cs.reduce((best, c) => (c.activeSessions / c.capacity < best.activeSessions / best.capacity ? c : best)), fleet);
    assert.ok(stale > 2, `stale leastconn max/mean ${stale}`);
  });

  it('P2C spreads over the instances in proportion to capacity', () => {
    const cands = [inst('a', 100), inst('b', 300)];
    const o = opts(7);
    for (let i = 0; i < 4000; i++) {
      const c = select(cands, o);
      assert.ok(c.ok);
      c.instance.sentSinceHeartbeat += 1;
    }
    assert.ok(Math.abs(cands[0]!.sentSinceHeartbeat - 1000) <= 10, String(cands[0]!.sentSinceHeartbeat));
  });
});

describe('determinism', () => {
  it('equal loads go to the smaller id; the same seed gives the same sequence', () => {
    const cands = [inst('b', 10), inst('a', 10)];
    const r = select(cands, { random: () => 0.99, panicThreshold: 0.5 });
    assert.ok(r.ok && r.instance.id === 'a');
    const seq = (seed: number) => {
      const cs = [inst('x', 10), inst('y', 20), inst('z', 30)];
      const o = opts(seed);
      return Array.from({ length: 50 }, () => {
        const c = select(cs, o);
        assert.ok(c.ok);
        c.instance.sentSinceHeartbeat += 1;
        return c.instance.id;
      }).join('');
    };
    assert.equal(seq(5), seq(5));
  });

  it('never chooses an unhealthy or drained instance outside panic (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ healthy: fc.boolean(), drained: fc.boolean(), capacity: fc.integer({ min: 1, max: 500 }), active: fc.nat(1000) }), {
          minLength: 1,
          maxLength: 12,
        }),
        fc.integer(),
        (spec, seed) => {
          const cands = spec.map((s, i) =>
            inst(`i${String(i).padStart(2, '0')}`, s.capacity, { healthy: s.healthy, drained: s.drained, activeSessions: s.active }),
          );
          const r = select(cands, { random: seededRandom(seed), panicThreshold: 0 });
          const usable = cands.filter((c) => c.healthy && !c.drained);
          if (usable.length === 0) return !r.ok;
          return r.ok && r.instance.healthy && !r.instance.drained;
        },
      ),
    );
  });
});

describe('slow start in selection', () => {
  it('an instance ramping up gets a small share at first', () => {
    const cands = [inst('a', 100), inst('b', 100, { weightFactor: 0.1 })];
    const o = opts(3);
    for (let i = 0; i < 1100; i++) {
      const c = select(cands, o);
      assert.ok(c.ok);
      c.instance.sentSinceHeartbeat += 1;
    }
    assert.ok(cands[1]!.sentSinceHeartbeat <= 110, String(cands[1]!.sentSinceHeartbeat));
  });
});

describe('panic', () => {
  it('below the threshold the choice spreads over all non-drained instances and says panic', () => {
    const cands = [
      inst('a', 10),
      inst('b', 10, { healthy: false }),
      inst('c', 10, { healthy: false }),
      inst('d', 10, { drained: true, healthy: false }),
    ];
    const o = opts(11);
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const r = select(cands, o);
      assert.ok(r.ok);
      assert.equal(r.reason, 'panic');
      assert.equal(r.panic, true);
      r.instance.sentSinceHeartbeat += 1;
      seen.add(r.instance.id);
    }
    assert.deepEqual([...seen].sort(), ['a', 'b', 'c'], 'drained d never');
  });

  it('at the threshold (half healthy) there is no panic; with none healthy there is no choice', () => {
    const half = select([inst('a', 10), inst('b', 10, { healthy: false })], opts());
    assert.ok(half.ok && !half.panic && half.instance.id === 'a' && half.reason === 'only');
    assert.deepEqual(select([inst('a', 10, { healthy: false })], opts()), { ok: false, reason: 'none-healthy' });
    assert.deepEqual(select([inst('a', 10, { drained: true })], opts()), { ok: false, reason: 'all-drained' });
    assert.deepEqual(select([], opts()), { ok: false, reason: 'no-instances' });
  });

  it('panicThreshold 0 never panics', () => {
    const r = select([inst('a', 10), inst('b', 10, { healthy: false }), inst('c', 10, { healthy: false })], opts(1, { panicThreshold: 0 }));
    assert.ok(r.ok && r.instance.id === 'a' && !r.panic);
  });
});

describe('affinity', () => {
  it('a sticky instance that is healthy and not drained is kept even when more loaded', () => {
    const cands = [inst('a', 10, { activeSessions: 9 }), inst('b', 10)];
    const r = select(cands, opts(1, { stickyId: 'a' }));
    assert.ok(r.ok && r.instance.id === 'a' && r.reason === 'affinity');
  });
  it('an unhealthy or drained sticky instance is not kept', () => {
    for (const bad of [{ healthy: false }, { drained: true }]) {
      const r = select([inst('a', 10, bad), inst('b', 10), inst('c', 10)], opts(1, { stickyId: 'a' }));
      assert.ok(r.ok && r.instance.id !== 'a' && r.reason !== 'affinity');
    }
  });
});
