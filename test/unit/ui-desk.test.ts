import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CustomerView, DeskSessionView, TileView } from '../../src/ui/wire.ts';
import { deskBill, findCustomers, formatMoney, freeSeats, parseMoney, receiptLines } from '../../ui/src/desk.ts';
import { pickExport } from '../../ui/src/audit-view.ts';
import { SCREENS, screenFromHash } from '../../ui/src/shell.ts';

const customer = (id: string, name: string, docNumber: string): CustomerView => ({
  id,
  name,
  docType: 'passport',
  docNumber,
  docCountry: 'FR',
  member: false,
  balanceMinor: 0,
  createdAt: 0,
});
const tile = (mac: string, seat: string | null, session = false): TileView => ({
  mac,
  seat,
  group: 'default',
  ip: null,
  leaseExpiresAt: null,
  firmware: null,
  boot: null,
  session: session ? { id: 's', userName: 'x', openedAt: 0, rateMinorPerHour: 0, pausedAt: null, pausedMs: 0 } : null,
  overlay: null,
});

/** Ada's session at A1 since 10:00, open, not paused, unless `o` says otherwise. */
const deskSession = (o: Partial<DeskSessionView> = {}): DeskSessionView => ({
  id: 'sid',
  userId: 'u',
  userName: 'Ada',
  seat: 'A1',
  openedAt: '2026-01-01T10:00:00.000Z',
  closedAt: null,
  openedBy: 'operator:c',
  closedBy: null,
  rateMinorPerHour: 0,
  minutes: null,
  chargeMinor: null,
  payment: null,
  pausedAt: null,
  pausedMs: 0,
  ...o,
});

describe('cashier screen helpers', () => {
  it('money: integer minor units per locale, and parsing what a cashier types', () => {
    assert.equal(formatMoney(1250, 'en'), '12.50');
    assert.equal(formatMoney(1250, 'fr'), '12,50');
    assert.equal(formatMoney(5, 'en'), '0.05');
    assert.equal(formatMoney(123456789, 'en'), '1,234,567.89');
    assert.equal(formatMoney(-300, 'en'), '-3.00');
    assert.equal(parseMoney('12.5'), 1250);
    assert.equal(parseMoney('12,05'), 1205);
    assert.equal(parseMoney(' 7 '), 700);
    for (const bad of ['', '0', '1.234', '-3', 'abc', '1e3', '0.00']) assert.equal(parseMoney(bad), undefined, bad);
  });

  it('finds customers by every word of name or document, ignoring case and accents', () => {
    const all = [customer('1', 'Zoé Durand', 'AB123'), customer('2', 'Ada Lovelace', 'P999')];
    assert.deepEqual(
      findCustomers(all, 'zoe').map((c) => c.id),
      ['1'],
    );
    assert.deepEqual(
      findCustomers(all, 'p999 ada').map((c) => c.id),
      ['2'],
    );
    assert.equal(findCustomers(all, '').length, 2);
    assert.equal(findCustomers(all, 'nobody').length, 0);
  });

  it('free seats: registered, no open session, in natural order', () => {
    const tiles = [tile('m1', 'A10'), tile('m2', 'A2'), tile('m3', null), tile('m4', 'A3', true), tile('m5', 'A4')];
    const open = [{ seat: 'A4' } as DeskSessionView];
    assert.deepEqual(freeSeats(tiles, open), ['A2', 'A10']);
  });

  it('a receipt lists the bill of a closed session', () => {
    const s = deskSession({
      closedAt: '2026-01-01T11:30:00.000Z',
      closedBy: 'operator:c',
      rateMinorPerHour: 200,
      minutes: 90,
      chargeMinor: 300,
      payment: 'desk',
    });
    const lines = receiptLines(
      s,
      'en',
      (ms) => new Date(ms).toISOString(),
      (p) => `paid:${p}`,
    );
    assert.deepEqual(Object.fromEntries(lines.map((l) => [l.key, l.value])), {
      'receipt.customer': 'Ada',
      'receipt.seat': 'A1',
      'receipt.opened': '2026-01-01T10:00:00.000Z',
      'receipt.closed': '2026-01-01T11:30:00.000Z',
      'receipt.minutes': '90',
      'receipt.rate': '2.00',
      'receipt.payment': 'paid:desk',
      'receipt.total': '3.00',
    });
  });

  it('a paused session: the receipt names the paused time, the running bill leaves it out', () => {
    const s = deskSession({ rateMinorPerHour: 600, pausedAt: '2026-01-01T10:20:00.000Z', pausedMs: 5 * 60_000 });
    // 40 min after open: 5 min of ended pauses and 20 min of the one under way are free → 15 min → 1.50
    assert.deepEqual(deskBill(s, Date.parse('2026-01-01T10:40:00.000Z')), { minutes: 15, chargeMinor: 150 });
    assert.deepEqual(deskBill({ ...s, pausedAt: null, pausedMs: 0 }, Date.parse('2026-01-01T10:40:00.000Z')), { minutes: 40, chargeMinor: 400 });
    const lines = receiptLines({ ...s, closedAt: '2026-01-01T11:00:00.000Z', pausedAt: null, pausedMs: 45 * 60_000 }, 'en', String, String);
    assert.equal(lines.find((l) => l.key === 'receipt.paused')?.value, '45 min');
    assert.equal(
      receiptLines({ ...s, pausedMs: 0 }, 'en', String, String).some((l) => l.key === 'receipt.paused'),
      false,
      'no line without a pause',
    );
  });

  it('each role reaches only its screens; an unknown or forbidden hash falls back to the room', () => {
    assert.deepEqual(SCREENS.cashier, ['room', 'cashier']);
    assert.deepEqual(SCREENS.auditor, ['room', 'audit']);
    assert.equal(screenFromHash('#audit', 'cashier'), 'room');
    assert.equal(screenFromHash('#cashier', 'auditor'), 'room');
    assert.equal(screenFromHash('#cashier', 'cashier'), 'cashier');
    assert.equal(screenFromHash('#audit', 'admin'), 'audit');
    assert.equal(screenFromHash('#nope', 'admin'), 'room');
  });

  it('an upload is the export and its .manifest.json in either order, or one export stream file', () => {
    const file = { name: 'a.ndjson', text: '{"seq":1}\n' };
    const man = { name: 'a.ndjson.manifest.json', text: '{"m":1}' };
    assert.deepEqual(pickExport([man, file]), { content: file.text, manifestText: man.text });
    assert.deepEqual(pickExport([file, man]), { content: file.text, manifestText: man.text });
    assert.deepEqual(pickExport([{ name: 'stream', text: '{"seq":1}\n{"m":1}' }]), { content: '{"seq":1}\n', manifestText: '{"m":1}' });
    assert.equal(pickExport([]), undefined);
    assert.equal(pickExport([file, { ...file, name: 'b.ndjson' }]), undefined);
  });
});
