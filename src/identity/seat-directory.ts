import type { IdentityRepository, SeatClassRecord, SeatRecord, SessionRecord, UserRecord } from '../store/identity-repository.ts';
import type { IdentityService, SessionChange, SessionListener } from './service.ts';
import type { TerminalLocator } from '../terminal/client-address.ts';
import type { Mac } from '../terminal/mac.ts';

export interface SeatOccupancy {
  seat: SeatRecord;
  mac: Mac;
  /** undefined: the seat has no open session (the gate refuses its traffic) */
  user: UserRecord | undefined;
  /** the open session, paused or not (see `admitted`) */
  session: SessionRecord | undefined;
}

/** Whether the seat's traffic passes: an open session that is not paused (a paused seat is treated as closed). */
export const admitted = (o: SeatOccupancy | undefined): o is SeatOccupancy & { session: SessionRecord; user: UserRecord } =>
  o?.session !== undefined && o.user !== undefined && o.session.pausedAt === null;

export interface SeatDirectoryDeps {
  repo: IdentityRepository;
  service: IdentityService;
  /** where terminals are (the DHCP leases, provided by the composition root) */
  terminals: Pick<TerminalLocator, 'macForIp'>;
}

/**
 * Who sits where, for the gate and the proxy: ip → (lease) mac → seat → open session → user. Seats and open
 * sessions are cached in memory and refreshed from the store on every seat or session change, so a
 * lookup per connection costs two map reads.
 */
export class SeatDirectory {
  private byMac = new Map<Mac, SeatOccupancy>();
  private seatMacs: ReadonlySet<Mac> = new Set();
  private classes = new Map<string, SeatClassRecord>();
  private unsubscribe: Array<() => void> = [];

  constructor(private readonly deps: SeatDirectoryDeps) {
    this.reload();
    // Subscribed first, so the directory is current before any other listener (the gate) runs.
    this.unsubscribe = [this.deps.service.onSessionChange(() => this.reload()), this.deps.service.onSeatsChange(() => this.reload())];
  }

  stop(): void {
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
  }

  /** Re-reads seats and open sessions (also call it after adding seats). */
  reload(): void {
    const repo = this.deps.repo;
    const open = new Map(repo.openSessions().map((s) => [s.seat, s]));
    const next = new Map<Mac, SeatOccupancy>();
    for (const seat of repo.seats()) {
      const session = open.get(seat.name);
      next.set(seat.mac, { seat, mac: seat.mac, session, user: session ? repo.user(session.userId) : undefined });
    }
    this.byMac = next;
    this.seatMacs = new Set(next.keys());
    this.classes = new Map(repo.groups().map((g) => [g.name, g]));
  }

  /** The class (seat group) of the seat at this MAC: its boot profile and overlay bound; two map reads. */
  classOf(mac: Mac): SeatClassRecord | undefined {
    const o = this.byMac.get(mac);
    return o ? this.classes.get(o.seat.group) : undefined;
  }

  /** Every registered seat's MAC, as last loaded (DHCP keeps their addresses from unknown clients). */
  macs(): ReadonlySet<Mac> {
    return this.seatMacs;
  }

  lookupByMac(mac: Mac): SeatOccupancy | undefined {
    // Seats change only through the identity service, which tells us (onSeatsChange): a MAC we do not hold is
    // not a seat, without a store read — DHCP asks this for every DISCOVER of an unknown client.
    return this.byMac.get(mac);
  }

  /** The seat behind an address and who holds it; `session`/`user` are set only while a session is open. */
  lookupByIp(ip: string): { seat: SeatRecord; mac: Mac; user: UserRecord | undefined; session: SessionRecord | undefined } | undefined {
    const mac = this.deps.terminals.macForIp(ip);
    return mac === undefined ? undefined : this.lookupByMac(mac);
  }

  /** Seats with an open session that is not paused (the gate's initial set). */
  occupied(): SeatOccupancy[] {
    return [...this.byMac.values()].filter(admitted);
  }

  /** Called by the gate: fires after each session open/close/pause/resume has committed. */
  onSessionChange(listener: SessionListener): () => void {
    return this.deps.service.onSessionChange(listener);
  }
}

export type { SessionChange };
