import type { IdentityRepository, SeatRecord, SessionRecord, UserRecord } from '../store/identity-repository.ts';
import type { IdentityService, SessionChange, SessionListener } from './service.ts';

export interface SeatOccupancy {
  seat: SeatRecord;
  mac: string;
  /** undefined: the seat has no open session (the gate refuses its traffic) */
  user: UserRecord | undefined;
  session: SessionRecord | undefined;
}

export interface SeatDirectoryDeps {
  repo: IdentityRepository;
  service: IdentityService;
  /** The terminal MAC holding a bound lease for an IPv4 address (from DHCP), aa:bb:cc:dd:ee:ff. */
  macForIp: (ip: string) => string | undefined;
}

/**
 * Who sits where, for the gate and the proxy: ip → (lease) mac → seat → open session → user. Seats and open
 * sessions are cached in memory and refreshed from the store on every session change and on reload(), so a
 * lookup per connection costs two map reads.
 */
export class SeatDirectory {
  private byMac = new Map<string, SeatOccupancy>();
  private seatMacs: ReadonlySet<string> = new Set();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly deps: SeatDirectoryDeps) {
    this.reload();
    // Subscribed first, so the directory is current before any other listener (the gate) runs.
    this.unsubscribe = this.deps.service.onSessionChange(() => this.reload());
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /** Re-reads seats and open sessions (also call it after adding seats). */
  reload(): void {
    const repo = this.deps.repo;
    const open = new Map(repo.openSessions().map((s) => [s.seat, s]));
    const next = new Map<string, SeatOccupancy>();
    for (const seat of repo.seats()) {
      const session = open.get(seat.name);
      next.set(seat.mac, { seat, mac: seat.mac, session, user: session ? repo.user(session.userId) : undefined });
    }
    this.byMac = next;
    this.seatMacs = new Set(next.keys());
  }

  /** Every registered seat's MAC, as last loaded (DHCP keeps their addresses from unknown clients). */
  macs(): ReadonlySet<string> {
    return this.seatMacs;
  }

  lookupByMac(mac: string): SeatOccupancy | undefined {
    return this.byMac.get(mac.toLowerCase()) ?? (this.reloadIfUnknown(mac) ? this.byMac.get(mac.toLowerCase()) : undefined);
  }

  /** The seat behind an address and who holds it; `session`/`user` are set only while a session is open. */
  lookupByIp(ip: string): { seat: SeatRecord; mac: string; user: UserRecord | undefined; session: SessionRecord | undefined } | undefined {
    const mac = this.deps.macForIp(ip);
    return mac === undefined ? undefined : this.lookupByMac(mac);
  }

  /** Seats with an open session now (the gate's initial set). */
  occupied(): SeatOccupancy[] {
    return [...this.byMac.values()].filter((o) => o.session !== undefined);
  }

  /** Called by the gate: fires after each session open/close has committed. */
  onSessionChange(listener: SessionListener): () => void {
    return this.deps.service.onSessionChange(listener);
  }

  /** A seat added since the last reload: one store read, then cached. */
  private reloadIfUnknown(mac: string): boolean {
    if (!this.deps.repo.seatByMac(mac.toLowerCase())) return false;
    this.reload();
    return true;
  }
}

export type { SessionChange };
