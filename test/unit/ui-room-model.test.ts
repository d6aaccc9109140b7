import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TileView } from '../../src/ui/wire.ts';
import { applyEvent, displayStage, formatDuration, matches, runningBill, waterfall } from '../../ui/src/model.ts';
import { message } from '../../ui/src/i18n.ts';

const NOW = 1_000_000_000;
const tile = (t: Partial<TileView> = {}): TileView => ({
  mac: '52:54:00:00:00:01',
  seat: 'S1',
  group: 'standard',
  ip: null,
  leaseExpiresAt: null,
  firmware: null,
  boot: null,
  session: null,
  overlay: null,
  ...t,
});
const boot = (stage: string, at = NOW - 1000) => ({
  id: 1,
  startedAt: at - 500,
  stage,
  events: [
    { stage: 'dhcp-offered', at: at - 500 },
    { stage, at },
  ],
});

describe('the room model (browser code, no DOM)', () => {
  it('a tile shows off, DHCP, loading, booted or in session', () => {
    const leased = { ip: '10.0.0.5', leaseExpiresAt: NOW + 60_000 };
    assert.equal(displayStage(tile(), NOW), 'off');
    assert.equal(displayStage(tile(leased), NOW), 'dhcp', 'a lease and no boot');
    assert.equal(displayStage(tile({ ip: '10.0.0.5', leaseExpiresAt: NOW - 1 }), NOW), 'off', 'the lease ran out');
    assert.equal(displayStage(tile({ ...leased, boot: boot('dhcp-acked') }), NOW), 'dhcp');
    assert.equal(displayStage(tile({ ...leased, boot: boot('kernel') }), NOW), 'loading');
    assert.equal(displayStage(tile({ ...leased, boot: boot('kernel', NOW - 10 * 60_000) }), NOW), 'dhcp', 'a stalled boot is no longer loading');
    assert.equal(displayStage(tile({ ...leased, boot: boot('booted') }), NOW), 'booted');
    assert.equal(displayStage(tile({ boot: boot('booted') }), NOW), 'off', 'booted, but the lease is gone');
    assert.equal(
      displayStage(
        tile({ ...leased, session: { id: 's', userName: 'Ann', openedAt: NOW - 1, rateMinorPerHour: 0, pausedAt: null, pausedMs: 0 } }),
        NOW,
      ),
      'session',
    );
  });

  it('events change the tile they name, and create one for a new MAC', () => {
    const tiles = new Map([['52:54:00:00:00:01', tile()]]);
    applyEvent(tiles, { type: 'lease', data: { mac: '52:54:00:00:00:01', ip: '10.0.0.7', expiresAt: NOW + 1 } });
    assert.equal(tiles.get('52:54:00:00:00:01')?.ip, '10.0.0.7');
    applyEvent(tiles, { type: 'boot', data: { mac: '52:54:00:00:00:02', boot: boot('script') } });
    assert.equal(tiles.size, 2);
    assert.equal(tiles.get('52:54:00:00:00:02')?.boot?.stage, 'script');
    applyEvent(tiles, { type: 'boot', data: { mac: '52:54:00:00:00:02', boot: { ...boot('nbp'), id: 0 } } });
    assert.equal(tiles.get('52:54:00:00:00:02')?.boot?.stage, 'script', 'an older boot does not replace a newer one');
    const s = { id: 'x', userName: 'Ann', openedAt: NOW, rateMinorPerHour: 0, pausedAt: null, pausedMs: 0 };
    applyEvent(tiles, { type: 'session', data: { type: 'open', mac: '52:54:00:00:00:01', seat: 'S1', group: 'vip', session: s } });
    assert.deepEqual(tiles.get('52:54:00:00:00:01')?.session, s);
    applyEvent(tiles, { type: 'session', data: { type: 'close', mac: '52:54:00:00:00:01', seat: 'S1', group: 'vip', session: s } });
    assert.equal(tiles.get('52:54:00:00:00:01')?.session, null);
  });

  it('a paused session shows as paused, keeps its person, and its running bill stops growing', () => {
    const running = { id: 'x', userName: 'Ann', openedAt: NOW - 30 * 60_000, rateMinorPerHour: 600, pausedAt: null, pausedMs: 0 };
    const tiles = new Map([['52:54:00:00:00:01', tile({ session: running })]]);
    assert.deepEqual(runningBill(tiles.get('52:54:00:00:00:01')!, NOW), { minutes: 30, chargeMinor: 300 });
    const paused = { ...running, pausedAt: NOW - 10 * 60_000 };
    applyEvent(tiles, { type: 'session', data: { type: 'pause', mac: '52:54:00:00:00:01', seat: 'S1', group: 'vip', session: paused } });
    const t = tiles.get('52:54:00:00:00:01')!;
    assert.equal(displayStage(t, NOW), 'paused');
    assert.equal(t.session?.userName, 'Ann');
    assert.deepEqual(runningBill(t, NOW), { minutes: 20, chargeMinor: 200 });
    assert.deepEqual(runningBill(t, NOW + 3_600_000), { minutes: 20, chargeMinor: 200 }, 'no charge while paused');
    assert.ok(matches(t, '', 'paused', NOW));
    applyEvent(tiles, {
      type: 'session',
      data: { type: 'resume', mac: '52:54:00:00:00:01', seat: 'S1', group: 'vip', session: { ...running, pausedMs: 10 * 60_000 } },
    });
    assert.equal(displayStage(tiles.get('52:54:00:00:00:01')!, NOW), 'session');
    assert.equal(runningBill(tile(), NOW), undefined, 'no session, no bill');
  });

  it('a lease end takes the address off its tile at once (only the address the tile shows); overlay use follows its events', () => {
    const tiles = new Map([['52:54:00:00:00:01', tile({ ip: '10.0.0.7', leaseExpiresAt: NOW + 60_000, boot: boot('booted') })]]);
    assert.equal(displayStage(tiles.get('52:54:00:00:00:01')!, NOW), 'booted');
    applyEvent(tiles, { type: 'lease-end', data: { mac: '52:54:00:00:00:01', ip: '10.0.0.8', reason: 'expired' } });
    assert.equal(tiles.get('52:54:00:00:00:01')?.ip, '10.0.0.7', 'another address: kept');
    applyEvent(tiles, { type: 'lease-end', data: { mac: '52:54:00:00:00:01', ip: '10.0.0.7', reason: 'released' } });
    assert.equal(displayStage(tiles.get('52:54:00:00:00:01')!, NOW), 'off');
    const use = { image: 'win', bytes: 5e9, limitBytes: 1e10, inUse: true, mode: 'keep' };
    applyEvent(tiles, { type: 'overlay', data: { mac: '52:54:00:00:00:01', overlay: use } });
    assert.deepEqual(tiles.get('52:54:00:00:00:01')?.overlay, use);
    applyEvent(tiles, { type: 'overlay', data: { mac: '52:54:00:00:00:01', overlay: null } });
    assert.equal(tiles.get('52:54:00:00:00:01')?.overlay, null);
  });

  it('search covers seat, group, MAC, IP and person; the stage filter applies on top', () => {
    const t = tile({
      ip: '10.0.0.5',
      leaseExpiresAt: NOW + 1,
      session: { id: 's', userName: 'Ana Pérez', openedAt: NOW, rateMinorPerHour: 0, pausedAt: null, pausedMs: 0 },
    });
    for (const q of ['s1', 'STANDARD', '00:00:01', '10.0.0.5', 'pérez', '']) assert.ok(matches(t, q, '', NOW), q);
    assert.equal(matches(t, 'bob', '', NOW), false);
    assert.equal(matches(t, '', 'session', NOW), true);
    assert.equal(matches(t, '', 'off', NOW), false);
  });

  it('the waterfall: offsets from the start and the time each step took; durations and messages read well', () => {
    const w = waterfall({
      startedAt: 1000,
      events: [
        { stage: 'dhcp-offered', at: 1000 },
        { stage: 'script', at: 1500 },
        { stage: 'booted', at: 4000 },
      ],
    });
    assert.equal(w.totalMs, 3000);
    assert.deepEqual(
      w.rows.map((r) => [r.stage, r.offsetMs, r.durationMs]),
      [
        ['dhcp-offered', 0, 0],
        ['script', 0, 500],
        ['booted', 500, 2500],
      ],
    );
    assert.equal(formatDuration(45_000), '45 s');
    assert.equal(formatDuration(12 * 60_000), '12 min');
    assert.equal(formatDuration(185 * 60_000), '3 h 05 min');
    const zh = (key: Parameters<typeof message>[1], params?: Record<string, string | number>) => message('zh-CN', key, params);
    assert.equal(formatDuration(185 * 60_000, zh), '3 小时 05 分钟');
    assert.equal(formatDuration(45_000, zh), '45 秒');
    assert.equal(message('fr', 'room.count', { shown: 2, total: 3 }), '2 terminaux sur 3');
    assert.equal(message('en', 'login.limited', { seconds: 30 }), 'Too many failed logins. Try again in 30 s.');
  });
});
