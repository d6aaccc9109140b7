import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { activeMs, billAt, chargeMinor, choosePayment, startedMinutes } from '../../src/identity/billing.ts';

describe('billing arithmetic (integer minor units)', () => {
  it('counts started minutes', () => {
    assert.equal(startedMinutes(0, 0), 0);
    assert.equal(startedMinutes(0, 1), 1);
    assert.equal(startedMinutes(0, 60_000), 1);
    assert.equal(startedMinutes(0, 60_001), 2);
    assert.equal(startedMinutes(1000, 1000 + 3_600_000), 60);
    assert.equal(startedMinutes(5000, 1000), 0, 'a clock that stepped back charges nothing');
    assert.throws(() => startedMinutes(0.5, 1), RangeError);
  });

  it('charges ceil(minutes × rate / 60) minor units', () => {
    assert.equal(chargeMinor(60, 300), 300);
    assert.equal(chargeMinor(1, 300), 5);
    assert.equal(chargeMinor(1, 100), 2, '1.67 rounds up to 2');
    assert.equal(chargeMinor(7, 250), 30, '29.17 → 30');
    assert.equal(chargeMinor(0, 999), 0);
    assert.equal(chargeMinor(90, 0), 0);
    assert.throws(() => chargeMinor(1, 1.5), RangeError);
    assert.throws(() => chargeMinor(-1, 100), RangeError);
  });

  it('property: the charge is exact — never below the true amount, and less than one minor unit above it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 0, max: 10_000_000 }), (minutes, rate) => {
        const c = BigInt(chargeMinor(minutes, rate));
        const exact60 = BigInt(minutes) * BigInt(rate);
        assert.ok(c * 60n >= exact60);
        assert.ok((c - 1n) * 60n < exact60 || c === 0n);
      }),
    );
  });

  it('property: a longer session never costs less', () => {
    fc.assert(
      fc.property(fc.nat(10_000_000), fc.nat(10_000_000), fc.nat(100_000), (a, b, rate) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        assert.ok(chargeMinor(startedMinutes(0, lo), rate) <= chargeMinor(startedMinutes(0, hi), rate));
      }),
    );
  });

  it('payment: member balance when it covers the charge, else the desk; explicit choices are checked', () => {
    assert.deepEqual(choosePayment(undefined, { member: true, balanceMinor: 500 }, 500), { payment: 'member' });
    assert.deepEqual(choosePayment(undefined, { member: true, balanceMinor: 499 }, 500), { payment: 'desk' });
    assert.deepEqual(choosePayment(undefined, { member: false, balanceMinor: 0 }, 0), { payment: 'desk' });
    assert.deepEqual(choosePayment('desk', { member: true, balanceMinor: 1000 }, 5), { payment: 'desk' });
    assert.deepEqual(choosePayment('member', { member: false, balanceMinor: 0 }, 5), { error: 'NOT_A_MEMBER' });
    assert.deepEqual(choosePayment('member', { member: true, balanceMinor: 4 }, 5), { error: 'INSUFFICIENT_BALANCE' });
  });
  it('paused time is not charged: ended pauses and the one under way are subtracted', () => {
    const open = { openedAt: 1000, pausedMs: 0, pausedAt: null, rateMinorPerHour: 600 };
    assert.equal(activeMs(open, 1000 + 10 * 60_000), 10 * 60_000);
    // 10 min run, then paused since minute 10: at minute 40 still 10 charged minutes
    const paused = { ...open, pausedAt: 1000 + 10 * 60_000 };
    assert.equal(activeMs(paused, 1000 + 40 * 60_000), 10 * 60_000);
    assert.deepEqual(billAt(paused, 1000 + 40 * 60_000), { minutes: 10, chargeMinor: 100 });
    // resumed at minute 40 (30 min of pauses ended), closed at minute 45 + 1 ms: 15 min 1 ms → 16 started minutes
    const resumed = { ...open, pausedMs: 30 * 60_000 };
    assert.deepEqual(billAt(resumed, 1000 + 45 * 60_000 + 1), { minutes: 16, chargeMinor: 160 });
    assert.equal(activeMs({ ...open, pausedMs: 99 * 60_000 }, 2000), 0, 'never negative');
    assert.equal(activeMs(open, 0), 0, 'a clock before the open charges nothing');
  });

  it('property: pausing never makes a session cost more, and a session with no pause bills as before', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        (run, pausedMs, sincePause, rate) => {
          const at = run + pausedMs + sincePause;
          const plain = billAt({ openedAt: 0, pausedMs: 0, pausedAt: null, rateMinorPerHour: rate }, at);
          assert.deepEqual(plain, { minutes: startedMinutes(0, at), chargeMinor: chargeMinor(startedMinutes(0, at), rate) });
          const paused = billAt({ openedAt: 0, pausedMs, pausedAt: at - sincePause, rateMinorPerHour: rate }, at);
          assert.ok(paused.chargeMinor <= plain.chargeMinor);
          assert.equal(paused.minutes, startedMinutes(0, run));
        },
      ),
    );
  });
});
