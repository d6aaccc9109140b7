import type { CustomerView, DeskSessionView, TileView } from '../../src/ui/wire.ts';
import { billAt } from '../../src/identity/billing.ts';

import { formatDuration } from './model.ts';
import { isLang, message } from './i18n.ts';

/** Pure helpers of the cashier screen (unit-tested in test/unit/ui-desk.test.ts). */

/** Minor units (cents) as a decimal amount per locale: 1250 → "12.50" (en), "12,50" (fr). Integers only. */
export function formatMoney(minor: number, lang: string): string {
  const sign = minor < 0 ? '-' : '';
  const abs = Math.abs(minor);
  const units = Math.floor(abs / 100);
  const cents = abs % 100;
  const sep = new Intl.NumberFormat(lang).format(1.5).charAt(1);
  return `${sign}${new Intl.NumberFormat(lang).format(units)}${sep}${String(cents).padStart(2, '0')}`;
}

/** "12.50" or "12,5" → 1250 minor units; undefined if not a positive amount with at most two decimals. */
export function parseMoney(text: string): number | undefined {
  const m = /^\s*(\d{1,9})(?:[.,](\d{1,2}))?\s*$/.exec(text);
  if (!m) return undefined;
  const minor = Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
  return minor > 0 ? minor : undefined;
}

/** Customers whose name or document number contains every word of the query (case- and accent-insensitive). */
export function findCustomers(all: readonly CustomerView[], query: string): CustomerView[] {
  const fold = (s: string): string => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
  const words = fold(query).split(/\s+/).filter(Boolean);
  if (words.length === 0) return [...all];
  return all.filter((c) => {
    const hay = fold(`${c.name} ${c.docNumber} ${c.docType} ${c.docCountry ?? ''}`);
    return words.every((w) => hay.includes(w));
  });
}

/** Registered seats without an open session, by name: where the cashier can open one. */
export function freeSeats(tiles: readonly TileView[], open: readonly DeskSessionView[]): string[] {
  const busy = new Set(open.map((s) => s.seat));
  return tiles
    .filter((t) => t.seat !== null && t.session === null && !busy.has(t.seat))
    .map((t) => t.seat!)
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
}

/** The lines of a receipt for a closed session, in order: what the printed page shows. */
export interface ReceiptLine {
  key:
    | 'receipt.customer'
    | 'receipt.seat'
    | 'receipt.opened'
    | 'receipt.closed'
    | 'receipt.minutes'
    | 'receipt.paused'
    | 'receipt.rate'
    | 'receipt.payment'
    | 'receipt.total';
  value: string;
}

export function receiptLines(s: DeskSessionView, lang: string, dateTime: (ms: number) => string, paymentLabel: (p: string) => string): ReceiptLine[] {
  return [
    { key: 'receipt.customer', value: s.userName ?? s.userId },
    { key: 'receipt.seat', value: s.seat },
    { key: 'receipt.opened', value: dateTime(Date.parse(s.openedAt)) },
    { key: 'receipt.closed', value: s.closedAt ? dateTime(Date.parse(s.closedAt)) : '–' },
    // paused time, not charged (only when there was a pause)
    ...(s.pausedMs > 0
      ? [{ key: 'receipt.paused' as const, value: formatDuration(s.pausedMs, (key, params) => message(isLang(lang) ? lang : 'en', key, params)) }]
      : []),
    { key: 'receipt.minutes', value: String(s.minutes ?? 0) },
    { key: 'receipt.rate', value: formatMoney(s.rateMinorPerHour, lang) },
    { key: 'receipt.payment', value: s.payment ? paymentLabel(s.payment) : '–' },
    { key: 'receipt.total', value: formatMoney(s.chargeMinor ?? 0, lang) },
  ];
}

/** What an open session would cost if closed at `now` (paused time not charged), from the desk's view of it. */
export function deskBill(s: DeskSessionView, now: number): { minutes: number; chargeMinor: number } {
  return billAt(
    {
      openedAt: Date.parse(s.openedAt),
      pausedMs: s.pausedMs,
      pausedAt: s.pausedAt === null ? null : Date.parse(s.pausedAt),
      rateMinorPerHour: s.rateMinorPerHour,
    },
    now,
  );
}
