/** Wake-on-LAN (src/platforms/wol.ts, wol-sender.ts): exact magic-packet bytes, spreading, daily times, a real send. */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createPlatformsMetrics } from '../../src/platforms/metrics.ts';
import { magicPacket, nextDailyTime, parseDailyTime, parseSecureOn, spreadSchedule } from '../../src/platforms/wol.ts';
import { WolSender } from '../../src/platforms/wol-sender.ts';
import { parseMac } from '../../src/terminal/mac.ts';

const MAC = parseMac('52:54:00:12:34:56');
const macHex = '525400123456';

describe('magic packet', () => {
  it('is 6 × 0xFF then 16 × the MAC: 102 bytes', () => {
    const p = magicPacket(MAC);
    assert.equal(p.length, 102);
    assert.equal(p.toString('hex'), 'ff'.repeat(6) + macHex.repeat(16));
  });
  it('with a SecureOn password of 4 or 6 bytes appended', () => {
    assert.equal(magicPacket(MAC, parseSecureOn('01:02:03:04')).toString('hex'), 'ff'.repeat(6) + macHex.repeat(16) + '01020304');
    assert.equal(magicPacket(MAC, parseSecureOn('a1-b2-c3-d4-e5-f6')).subarray(102).toString('hex'), 'a1b2c3d4e5f6');
    assert.throws(() => magicPacket(MAC, Buffer.alloc(5)), RangeError);
    assert.throws(() => parseSecureOn('01:02:03'), RangeError);
  });
});

describe('spread schedule', () => {
  it('spreads N sends evenly over the window, the first at once', () => {
    assert.deepEqual(spreadSchedule(4, 1000, 60_000), [1000, 16_000, 31_000, 46_000]);
    assert.deepEqual(spreadSchedule(3, 0, 0), [0, 0, 0]);
    assert.deepEqual(spreadSchedule(0, 0, 1000), []);
  });
});

describe('daily times', () => {
  it('parses HH:MM and day lists and ranges', () => {
    assert.deepEqual([...parseDailyTime('07:30', 'mon-fri').days].sort(), [1, 2, 3, 4, 5]);
    assert.deepEqual([...parseDailyTime('07:30', 'fri-mon').days].sort(), [0, 1, 5, 6]);
    assert.deepEqual([...parseDailyTime('00:00', 'sat,sun').days].sort(), [0, 6]);
    assert.equal(parseDailyTime('23:59').days.size, 7);
    for (const bad of [['7:30'], ['24:00'], ['07:60'], ['07:30', 'monday'], ['07:30', 'mon-tue-wed']] as const)
      assert.throws(() => parseDailyTime(bad[0], bad[1]), RangeError, bad.join(' '));
  });
  it('finds the next time, skipping days not listed, in a given zone', () => {
    const t = parseDailyTime('07:30', 'mon-fri');
    const utc = () => 0;
    const fri = Date.parse('2026-03-06T08:00:00Z'); // a Friday, after 07:30
    assert.equal(new Date(nextDailyTime(t, fri, utc)).toISOString(), '2026-03-09T07:30:00.000Z', 'next Monday');
    const monEarly = Date.parse('2026-03-09T06:00:00Z');
    assert.equal(new Date(nextDailyTime(t, monEarly, utc)).toISOString(), '2026-03-09T07:30:00.000Z');
    const plus2 = () => 120; // 07:30 at UTC+2 is 05:30Z
    assert.equal(new Date(nextDailyTime(t, monEarly - 2 * 3600_000, plus2)).toISOString(), '2026-03-09T05:30:00.000Z');
  });
});

describe('sender', () => {
  it('sends the packet by UDP to the broadcast address and port, and spreads a group', async () => {
    const rx = createSocket('udp4');
    const got: Buffer[] = [];
    rx.on('message', (m) => got.push(m));
    await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
    const timers: number[] = [];
    const sender = new WolSender({
      lan: () => ({ broadcast: '127.0.0.1', address: '127.0.0.1' }),
      port: rx.address().port,
      metrics: createPlatformsMetrics(new Registry()),
      now: () => 0,
      setTimer: (fn, ms) => {
        timers.push(ms);
        return setTimeout(fn, 0);
      },
    });
    await sender.start();
    const macs = ['52:54:00:00:00:01', '52:54:00:00:00:02', '52:54:00:00:00:03'].map(parseMac);
    assert.deepEqual(await sender.wakeAll(macs, 30_000), { sent: 3, failed: 0 });
    assert.deepEqual(timers, [0, 10_000, 20_000]);
    while (got.length < 3) await new Promise((r) => setTimeout(r, 5));
    sender.stop();
    rx.close();
    assert.deepEqual(
      got.map((b) => b.toString('hex')).sort(),
      macs.map((m) => magicPacket(m).toString('hex')),
    );
  });
});
