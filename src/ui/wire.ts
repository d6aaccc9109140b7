/**
 * What the UI's JSON endpoints and event stream carry: types only, shared by the server (src/ui) and the browser
 * code (ui/src), so the two sides cannot disagree. Times are unix milliseconds; the browser formats them per locale.
 */
export interface BootStepView {
  stage: string;
  at: number;
  detail?: string;
}

export interface BootView {
  id: number;
  startedAt: number;
  /** the furthest stage reached (src/boot/timeline.ts BOOT_STAGES) */
  stage: string;
  events: BootStepView[];
}

export interface SeatSessionView {
  id: string;
  userName: string | null;
  openedAt: number;
}

/** One terminal of the room: a registered seat, a terminal that booted, or a client that took a lease. */
export interface TileView {
  mac: string;
  seat: string | null;
  group: string | null;
  ip: string | null;
  leaseExpiresAt: number | null;
  firmware: string | null;
  /** the latest boot (its timeline), if the terminal ever netbooted */
  boot: BootView | null;
  session: SeatSessionView | null;
}

export interface RoomSnapshot {
  /** the event stream position this snapshot is current to: open /ui/api/events?since=<eventId> */
  eventId: string;
  now: number;
  tiles: TileView[];
}

export interface BootEventData {
  mac: string;
  boot: BootView;
}
export interface LeaseEventData {
  mac: string;
  ip: string;
  expiresAt: number;
}
export interface SessionEventData {
  type: 'open' | 'close';
  mac: string;
  seat: string;
  group: string;
  session: SeatSessionView;
}

export type RoomEvent = { type: 'boot'; data: BootEventData } | { type: 'lease'; data: LeaseEventData } | { type: 'session'; data: SessionEventData };

export type StaffRole = 'admin' | 'cashier' | 'auditor';

/** GET /ui/api/session and the reply to a login */
export interface SessionInfo {
  username: string;
  role: StaffRole;
  /** send back in X-CSRF-Token on every state-changing request */
  csrf: string;
  expiresAt: number;
}
