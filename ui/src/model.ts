/**
 * The room's state in the browser, without the DOM: what stage a tile shows, how an event changes a tile, what a
 * filter keeps. Pure functions, unit-tested under Node (test/unit/ui-room-model.test.ts).
 */
import type { QueueEventData, QueueView, RoomEvent, TileView } from '../../src/ui/wire.ts';
import { billAt } from '../../src/identity/billing.ts';
import { emptyTile } from '../../src/ui/tile.ts';
import { message } from './i18n.ts';

export type DisplayStage = 'off' | 'dhcp' | 'loading' | 'booted' | 'session' | 'paused';
export const DISPLAY_STAGES: readonly DisplayStage[] = ['off', 'dhcp', 'loading', 'booted', 'session', 'paused'];

/** A boot with no step for this long is no longer "under way" (matches the timeline's own in-progress window). */
const STALLED_MS = 5 * 60_000;
const DHCP_STAGES = new Set(['dhcp-offered', 'dhcp-acked']);
/** stages after which the OS runs (sanboot hands over to the OS, which may never report /booted) */
const RUNNING_STAGES = new Set(['booted', 'sanboot']);

export function displayStage(t: TileView, now: number): DisplayStage {
  if (t.session) return t.session.pausedAt === null ? 'session' : 'paused';
  const leased = t.ip !== null && t.leaseExpiresAt !== null && t.leaseExpiresAt > now;
  const b = t.boot;
  if (b) {
    if (RUNNING_STAGES.has(b.stage)) return leased ? 'booted' : 'off';
    const last = b.events.reduce((m, e) => Math.max(m, e.at), b.startedAt);
    if (now - last < STALLED_MS) return DHCP_STAGES.has(b.stage) ? 'dhcp' : 'loading';
  }
  return leased ? 'dhcp' : 'off';
}

/** Applies one event from the stream; returns the tile it changed (created when the MAC is new to the room). */
export function applyEvent(tiles: Map<string, TileView>, e: RoomEvent): TileView {
  let t = tiles.get(e.data.mac);
  if (!t) {
    t = emptyTile(e.data.mac);
    tiles.set(t.mac, t);
  }
  switch (e.type) {
    case 'boot':
      if (!t.boot || e.data.boot.id >= t.boot.id) t.boot = e.data.boot;
      break;
    case 'lease':
      t.ip = e.data.ip;
      t.leaseExpiresAt = e.data.expiresAt;
      break;
    case 'lease-end':
      // only the lease the tile shows (a newer one for another address stays)
      if (t.ip === e.data.ip) Object.assign(t, { ip: null, leaseExpiresAt: null });
      break;
    case 'overlay':
      t.overlay = e.data.overlay;
      break;
    case 'queue':
      break; // the tile exists now (a queued terminal has no boot yet); the room's queue changes (applyQueueEvent)
    case 'session':
      t.seat = e.data.seat;
      t.group = e.data.group;
      // pause and resume carry the session with its pause fields; only close ends it
      t.session = e.data.type === 'close' ? null : e.data.session;
      break;
  }
  return t;
}

/** The running bill of a tile's session at `now` (the server's own arithmetic: paused time is not charged). */
export function runningBill(t: TileView, now: number): { minutes: number; chargeMinor: number } | undefined {
  return t.session ? billAt(t.session, now) : undefined;
}

/**
 * The boot queue after one of its events: `queued` takes its place (terminals ahead), `admitted` moves it to the
 * heavy phase, `released` and `abandoned` drop it. `consistent` is false when the counts the event carries differ
 * from the result (an event missed): the room then reloads its snapshot.
 */
export function applyQueueEvent(q: QueueView | null, e: QueueEventData): { queue: QueueView; consistent: boolean } {
  const waiting = (q?.waiting ?? []).filter((m) => m !== e.mac);
  const heavy = (q?.inHeavyPhase ?? []).filter((m) => m !== e.mac);
  if (e.kind === 'queued') waiting.splice(Math.min(e.ahead ?? waiting.length, waiting.length), 0, e.mac);
  if (e.kind === 'admitted') heavy.push(e.mac);
  const queue = { bound: e.bound, waiting, inHeavyPhase: heavy };
  return { queue, consistent: waiting.length === e.waiting && heavy.length === e.inHeavyPhase };
}

/** Where a terminal is in the boot queue: waiting (1-based position of how many), in the heavy phase, or neither. */
export function queuePlace(
  q: QueueView | null,
  mac: string,
): { state: 'waiting'; position: number; of: number } | { state: 'heavy'; holders: number; bound: number } | undefined {
  if (!q) return undefined;
  const i = q.waiting.indexOf(mac);
  if (i >= 0) return { state: 'waiting', position: i + 1, of: q.waiting.length };
  if (q.inHeavyPhase.includes(mac)) return { state: 'heavy', holders: q.inHeavyPhase.length, bound: q.bound };
  return undefined;
}

/** Whether a tile passes the search text (seat, group, MAC, IP, person) and the stage filter ('' = any). */
export function matches(t: TileView, query: string, stage: DisplayStage | '', now: number): boolean {
  if (stage !== '' && displayStage(t, now) !== stage) return false;
  const q = query.trim().toLowerCase();
  if (q === '') return true;
  return [t.seat, t.group, t.mac, t.ip, t.session?.userName].some((v) => v != null && v.toLowerCase().includes(q));
}

/** The waterfall of one boot: each step with its offset from the start and the time since the step before. */
export function waterfall(b: { startedAt: number; events: Array<{ stage: string; at: number; detail?: string }> }): {
  totalMs: number;
  rows: Array<{ stage: string; detail?: string; offsetMs: number; durationMs: number }>;
} {
  const events = [...b.events].sort((x, y) => x.at - y.at);
  const totalMs = Math.max(0, ...events.map((e) => e.at - b.startedAt));
  let prev = b.startedAt;
  const rows = events.map((e) => {
    const row = { stage: e.stage, offsetMs: prev - b.startedAt, durationMs: e.at - prev, ...(e.detail !== undefined ? { detail: e.detail } : {}) };
    prev = e.at;
    return row;
  });
  return { totalMs, rows };
}

/** "3 h 05 min", "12 min", "45 s" in English; the words from the catalogue of `t` (zh-CN "3 小时 05 分钟") */
export function formatDuration(ms: number, t: Translate = (key, params) => message('en', key, params)): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return t('duration.seconds', { s });
  const m = Math.floor(s / 60);
  if (m < 60) return t('duration.minutes', { m });
  return t('duration.hours', { h: Math.floor(m / 60), m: String(m % 60).padStart(2, '0') });
}

type Translate = (key: 'duration.seconds' | 'duration.minutes' | 'duration.hours', params: Record<string, string | number>) => string;
