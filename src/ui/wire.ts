/**
 * What the UI's JSON endpoints and event stream carry: types only, shared by the server (src/ui) and the browser
 * code (ui/src), so the two sides cannot disagree. Times are unix milliseconds; the browser formats them per locale.
 */
import type { CacheCounters } from '../cache/stats.ts';

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
  /** the hourly rate fixed at open (minor units): with the pauses, the tile's running bill */
  rateMinorPerHour: number;
  /** start of the pause under way, null while running */
  pausedAt: number | null;
  /** total of the ended pauses (ms), not charged */
  pausedMs: number;
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
  /** its overlay's use (OverlayWatch, sampled), null without one or without images */
  overlay: OverlayUseView | null;
}

export interface OverlayUseView {
  image: string;
  /** bytes the overlay holds (allocated granules) */
  bytes: number;
  /** its bound (its seat class's, else iscsi.overlays.limitBytes), null: the disk size */
  limitBytes: number | null;
  /** a session holds the disk now */
  inUse: boolean;
  /** the mode its next boot uses */
  mode: string;
}

/** The boot queue (boot.admission): MACs waiting for a heavy-phase slot in order, and the slot holders. */
export interface QueueView {
  bound: number;
  waiting: string[];
  inHeavyPhase: string[];
}

export interface RoomSnapshot {
  /** the event stream position this snapshot is current to: open /ui/api/events?since=<eventId> */
  eventId: string;
  now: number;
  tiles: TileView[];
  /** null when boot admission is off */
  queue: QueueView | null;
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
  /** pause and resume keep the session: the tile shows it paused (the seat has no internet meanwhile) */
  type: 'open' | 'close' | 'pause' | 'resume';
  mac: string;
  seat: string;
  group: string;
  session: SeatSessionView;
}

/** one overlay's use changed (or it went: null) */
export interface OverlayEventData {
  mac: string;
  overlay: OverlayUseView | null;
}
/** a boot-queue change (src/boot/admission.ts AdmissionEvent) */
export interface QueueEventData {
  kind: 'queued' | 'admitted' | 'released' | 'abandoned';
  mac: string;
  priority: boolean;
  /** for `queued`: terminals ahead of it */
  ahead?: number;
  waiting: number;
  inHeavyPhase: number;
  bound: number;
}
/** a lease ended: released by the client or expired (the tile goes off at once) */
export interface LeaseEndEventData {
  mac: string;
  ip: string;
  reason: 'released' | 'expired';
}

export type RoomEvent =
  | { type: 'boot'; data: BootEventData }
  | { type: 'lease'; data: LeaseEventData }
  | { type: 'lease-end'; data: LeaseEndEventData }
  | { type: 'session'; data: SessionEventData }
  | { type: 'overlay'; data: OverlayEventData }
  | { type: 'queue'; data: QueueEventData };

export type StaffRole = 'admin' | 'cashier' | 'auditor';

/** GET /ui/api/session and the reply to a login */
export interface SessionInfo {
  username: string;
  role: StaffRole;
  /** send back in X-CSRF-Token on every state-changing request */
  csrf: string;
  expiresAt: number;
}

/** A customer as /api/v1/users returns them (the cashier screen's list and the one it registers). */
export interface CustomerView {
  id: string;
  name: string;
  docType: string;
  docNumber: string;
  docCountry: string | null;
  member: boolean;
  balanceMinor: number;
  createdAt: number;
}

/** A session as /api/v1/sessions returns it: times as ISO-8601, the bill fields set once it is closed. */
export interface DeskSessionView {
  id: string;
  userId: string;
  userName: string | null;
  seat: string;
  openedAt: string;
  closedAt: string | null;
  openedBy: string;
  closedBy: string | null;
  rateMinorPerHour: number;
  minutes: number | null;
  chargeMinor: number | null;
  payment: 'member' | 'desk' | null;
  /** start of the pause under way (ISO-8601), null while running */
  pausedAt: string | null;
  pausedMs: number;
}

/** An audit record as /api/v1/audit/records returns it (time ISO-8601; every other field may be null). */
export interface AuditRecordView {
  seq: number;
  time: string;
  kind: string;
  seat: string | null;
  ip: string | null;
  userId: string | null;
  userName: string | null;
  host: string | null;
  url: string | null;
  verdict: string | null;
  actor: string | null;
  action: string | null;
  target: string | null;
  [field: string]: string | number | null;
}

/** An image and its versions as /api/v1/images returns them (the images screen, admin). */
export interface ImageView {
  image: string;
  current: number;
  versions: Array<{ version: number; createdAt: string; parent?: number; note?: string }>;
}

/** A terminal's overlay of one image as /api/v1/images/:image/overlays returns it (OverlayManager.terminals). */
export interface OverlayTerminalView {
  mac: string;
  mode: 'discard' | 'keep' | 'super';
  overlayMode: 'discard' | 'keep' | 'super' | null;
  baseVersion: number | null;
  createdAt: string | null;
  bytes: number;
  inUse: boolean;
}

/** A service platform instance as /api/v1/platforms returns it (the fields the platforms screen shows). */
export interface PlatformView {
  id: string;
  class: string;
  name: string;
  url: string;
  capacity: number;
  source: string;
  health: { status: string; since: number; drained: boolean; drainedBy: 'operator' | 'agent' | null };
  load: number;
  activeSessions: number;
  trafficShare: number;
  sleeping: boolean;
}

/** A scaling recommendation or event of /api/v1/platforms/advice (src/platforms/advisor.ts). */
export interface AdviceView {
  class: string;
  average: number;
  target: number;
  current: number;
  desired: number;
  direction: 'up' | 'down' | 'none';
  why: string;
  at: number;
}

/** One chart of the system screen: [unix ms, value] points (a counter's rate per second, or a sampled value). */
export interface SystemSeriesView {
  key: 'leases' | 'tftp' | 'http' | 'proxied' | 'dns' | 'cacheSaved' | 'auditBacklog';
  unit: 'per-second' | 'bytes-per-second' | 'count';
  points: Array<[number, number]>;
}

/** GET /ui/api/system (admin): services, metric charts, the redacted effective configuration, disk use. */
export interface SystemView {
  now: number;
  sampleMs: number;
  services: Array<{ name: string; lan: boolean; running: boolean }>;
  series: SystemSeriesView[];
  config: unknown;
  disk: { dataDir: string; fsTotalBytes: number; fsFreeBytes: number; dataBytes: number; overlaysBytes: number };
}

/** One seat class (a seat group) as GET /api/v1/seat-classes returns it. */
export interface SeatClassView {
  name: string;
  rateMinorPerHour: number;
  /** the boot profile of its seats; null: boot.defaultProfile (or a reservation's) */
  profile: string | null;
  /** the image that profile boots (sanboot), null for a kernel/chain/local-disk profile */
  image: string | null;
  /** the class's overlay bound; null: iscsi.overlays.limitBytes (or the disk size) */
  overlayLimitBytes: number | null;
  seats: number;
  /** from the measured overlay sizes of the image's past sessions; null without an image */
  recommendation: { samples: number; p95Bytes: number | null; recommendedBytes: number | null } | null;
}

export interface SeatClassesView {
  classes: SeatClassView[];
  /** every configured profile, the image it boots and that image's recommended overlay size (the class's choice) */
  profiles: Array<{ name: string; image: string | null; recommendation: SeatClassView['recommendation'] }>;
  defaultProfile: string;
  /** iscsi.overlays.limitBytes, null: the disk size */
  defaultLimitBytes: number | null;
  /** the file system holding the overlays */
  disk: { path: string; freeBytes: number; totalBytes: number } | null;
  /** growth of all overlays together (last hour) and when the disk is full at that rate: a warning only */
  forecast: { bytesPerHour: number | null; hoursToFull: number | null };
  /** sum over seats of their class's overlay bound (or the default), when every seat has one: the worst case */
  worstCaseBytes: number | null;
}

/** GET /api/v1/dns/stats: the resolver's counters since it started. */
export interface DnsStatsView {
  enabled: boolean;
  /** queries by result: local, cache_hit, forwarded, servfail, refused, notimp, formerr */
  byResult: Record<string, number>;
  /** queries by type (A, AAAA, …) */
  byType: Record<string, number>;
  /** upstream queries by outcome (ok, timeout, error, mismatch, servfail) */
  upstream: Record<string, number>;
  /** cache hits / (cache hits + forwarded); null before either */
  hitRate: number | null;
  cacheEntries: number;
  total: number;
}

/** GET /api/v1/cache/stats: src/cache/stats.ts CacheCounters per service and terminal, and the store */
export type CacheCountersView = CacheCounters;
export interface CacheStatsView {
  services: Record<string, CacheCountersView>;
  terminals: Record<string, CacheCountersView>;
  store: { bytes: number; slices: number; maxBytes: number };
}
