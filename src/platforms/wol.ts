import { macBytes, type Mac } from '../terminal/mac.ts';

/**
 * Wake-on-LAN, the pure parts: the magic packet, the spreading of a group's wake-up over time, and the daily
 * schedule ("07:30" on "mon-fri"). The sender is wol-sender.ts.
 *
 * Magic packet (AMD "Magic Packet Technology" white paper, 1995): 6 bytes 0xFF, then the target's 6-byte MAC 16
 * times = 102 bytes; with SecureOn a 4- or 6-byte password follows (106 or 108 bytes).
 * Sent as a UDP datagram (port 9, "discard", by convention) to the LAN broadcast address.
 */
export const MAGIC_SYNC_BYTES = 6;
export const MAGIC_MAC_REPEATS = 16;
export const MAGIC_PACKET_BYTES = MAGIC_SYNC_BYTES + MAGIC_MAC_REPEATS * 6; // 102

export function magicPacket(mac: Mac, password?: Buffer): Buffer {
  if (password !== undefined && password.length !== 4 && password.length !== 6)
    throw new RangeError(`a SecureOn password is 4 or 6 bytes, not ${password.length}`);
  const m = macBytes(mac);
  const out = Buffer.alloc(MAGIC_PACKET_BYTES + (password?.length ?? 0), 0xff);
  for (let i = 0; i < MAGIC_MAC_REPEATS; i++) m.copy(out, MAGIC_SYNC_BYTES + i * 6);
  password?.copy(out, MAGIC_PACKET_BYTES);
  return out;
}

/** A SecureOn password as configured ("01:02:03:04", "01-02-03-04-05-06", "010203040506") as bytes. */
export function parseSecureOn(text: string): Buffer {
  const hex = text.replace(/[:-]/g, '');
  if (!/^[0-9A-Fa-f]+$/.test(hex) || (hex.length !== 8 && hex.length !== 12)) throw new RangeError(`not a SecureOn password: ${text}`);
  return Buffer.from(hex, 'hex');
}

/**
 * Send times for `count` targets spread evenly over `spreadMs` from `start`: the first at `start`, the last at
 * `start + spreadMs × (count − 1) ÷ count`, so a room's wake-up is not itself a boot storm.
 */
export function spreadSchedule(count: number, start: number, spreadMs: number): number[] {
  return Array.from({ length: count }, (_, i) => start + Math.floor((spreadMs * i) / Math.max(1, count)));
}

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

export interface DailyTime {
  hour: number;
  minute: number;
  /** days of week, 0 = Sunday */
  days: ReadonlySet<number>;
}

/** "07:30" and "mon-fri" | "sat,sun" | "*" | "mon,wed-fri" → a daily time; throws RangeError on anything else. */
export function parseDailyTime(at: string, days = '*'): DailyTime {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(at);
  if (!m) throw new RangeError(`not a time HH:MM: ${at}`);
  const set = new Set<number>();
  for (const part of days.toLowerCase().split(',')) {
    const p = part.trim();
    if (p === '*') DAY_NAMES.forEach((_, i) => set.add(i));
    else {
      const [from, to] = p.split('-').map((d) => DAY_NAMES.indexOf(d as (typeof DAY_NAMES)[number]));
      if (from === undefined || from < 0 || (to !== undefined && to < 0) || p.split('-').length > 2)
        throw new RangeError(`not a day or day range: ${p}`);
      for (let d = from; ; d = (d + 1) % 7) {
        set.add(d);
        if (d === (to ?? from)) break;
      }
    }
  }
  return { hour: Number(m[1]), minute: Number(m[2]), days: set };
}

/**
 * The first moment strictly after `after` (unix ms) when `t` falls, in the time zone whose offset from UTC is
 * given per instant by `offsetMinutes` (default: the process's local zone, as Date does).
 */
export function nextDailyTime(
  t: DailyTime,
  after: number,
  offsetMinutes: (at: number) => number = (at) => -new Date(at).getTimezoneOffset(),
): number {
  const dayMs = 86_400_000;
  for (let k = 0; k <= 7; k++) {
    const local = new Date(after + offsetMinutes(after) * 60_000 + k * dayMs);
    const candidateLocal = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate(), t.hour, t.minute);
    const candidate = candidateLocal - offsetMinutes(candidateLocal - offsetMinutes(after) * 60_000) * 60_000;
    if (candidate > after && t.days.has(new Date(candidateLocal).getUTCDay())) return candidate;
  }
  throw new RangeError('a daily time with no day of week never falls');
}
