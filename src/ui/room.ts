import type { BootRecord, TerminalRecord } from '../store/boot-repository.ts';
import type { SeatRecord, SessionRecord, UserRecord } from '../store/identity-repository.ts';
import type { LeaseRecord } from '../store/lease-repository.ts';
import type { SessionChange } from '../identity/service.ts';
import { tryParseMac } from '../terminal/mac.ts';
import { emptyTile } from './tile.ts';
import { intToIp } from '../wire/ipv4.ts';
import type {
  BootEventData,
  BootView,
  LeaseEndEventData,
  LeaseEventData,
  OverlayUseView,
  QueueView,
  SeatSessionView,
  SessionEventData,
  TileView,
} from './wire.ts';

/** What the room screen is built from (the identity service, the boot and lease repositories). */
export interface RoomSources {
  seats(): SeatRecord[];
  openSessions(): SessionRecord[];
  user(id: string): UserRecord | undefined;
  terminals(): TerminalRecord[];
  latestBoot(mac: string): BootRecord | undefined;
  leases(): LeaseRecord[];
  /** the overlay use last sampled (OverlayWatch); absent without images */
  overlay?(mac: string): OverlayUseView | null;
  /** the boot queue now; absent when admission is off */
  queue?(): QueueView;
}

export const bootView = (b: BootRecord): BootView => ({ id: b.id, startedAt: b.startedAt, stage: b.stage, events: b.events });

/**
 * Every terminal of the room, one tile per MAC: registered seats first (by name), then terminals seen booting
 * or holding a lease that no seat names (by MAC).
 */
export function roomTiles(src: RoomSources, now: number, queue?: QueueView | null): TileView[] {
  const tiles = new Map<string, TileView>();
  const tile = (rawMac: string): TileView | undefined => {
    const mac = tryParseMac(rawMac);
    if (!mac) return undefined;
    let t = tiles.get(mac);
    if (!t) {
      t = emptyTile(mac, src.overlay?.(mac) ?? null);
      tiles.set(mac, t);
    }
    return t;
  };
  const seats = [...src.seats()].sort((a, b) => a.name.localeCompare(b.name));
  for (const s of seats) {
    const t = tile(s.mac);
    if (t) Object.assign(t, { seat: s.name, group: s.group });
  }
  const bySeat = new Map(seats.map((s) => [s.name, s]));
  for (const term of src.terminals()) {
    const t = tile(term.mac);
    if (!t) continue;
    t.firmware = term.firmware;
    const b = src.latestBoot(t.mac);
    if (b) t.boot = bootView(b);
  }
  for (const l of src.leases()) {
    if (l.state !== 'bound' || l.expiresAt <= now) continue;
    const t = tile(l.mac);
    if (t && (t.leaseExpiresAt === null || l.expiresAt > t.leaseExpiresAt)) Object.assign(t, { ip: intToIp(l.ip), leaseExpiresAt: l.expiresAt });
  }
  for (const s of src.openSessions()) {
    const seat = bySeat.get(s.seat);
    const t = seat ? tile(seat.mac) : undefined;
    if (t) t.session = seatSessionView(s, src.user(s.userId)?.name ?? null);
  }
  // a terminal waiting in the boot queue has no boot yet (its script is the waiting one): it gets a tile too
  for (const mac of [...(queue?.inHeavyPhase ?? []), ...(queue?.waiting ?? [])]) tile(mac);
  const named = [...tiles.values()].filter((t) => t.seat !== null);
  const unnamed = [...tiles.values()].filter((t) => t.seat === null).sort((a, b) => a.mac.localeCompare(b.mac));
  return [...named, ...unnamed];
}

export function bootEvent(b: BootRecord): BootEventData | undefined {
  const mac = tryParseMac(b.mac);
  return mac ? { mac, boot: bootView(b) } : undefined;
}

export function leaseEvent(l: LeaseRecord): LeaseEventData | undefined {
  const mac = tryParseMac(l.mac);
  return mac && l.state === 'bound' ? { mac, ip: intToIp(l.ip), expiresAt: l.expiresAt } : undefined;
}

export function leaseEndEvent(l: LeaseRecord): LeaseEndEventData | undefined {
  const mac = tryParseMac(l.mac);
  return mac && (l.state === 'released' || l.state === 'expired') ? { mac, ip: intToIp(l.ip), reason: l.state } : undefined;
}

export function sessionEvent(c: SessionChange): SessionEventData {
  return {
    type: c.type,
    mac: c.seat.mac,
    seat: c.seat.name,
    group: c.seat.group,
    session: seatSessionView(c.session, c.user.name),
  };
}

const seatSessionView = (s: SessionRecord, userName: string | null): SeatSessionView => ({
  id: s.id,
  userName,
  openedAt: s.openedAt,
  rateMinorPerHour: s.rateMinorPerHour,
  pausedAt: s.pausedAt,
  pausedMs: s.pausedMs,
});
