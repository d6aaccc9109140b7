import { cidrContains, intToIp, ipToInt, parseCidr, type Cidr } from '../wire/ipv4.ts';
import { parseMac } from '../terminal/mac.ts';
import type { LeaseRecord } from '../store/lease-repository.ts';
import type { SubnetConfig } from './config.ts';

/** One subnet's dynamic pool, with a cursor so a fresh pool hands out addresses in O(1). */
export interface Pool {
  readonly name: string;
  readonly cidr: Cidr;
  readonly start: number;
  readonly end: number;
  readonly config: SubnetConfig;
  cursor: number;
}

export function makePool(config: SubnetConfig): Pool {
  const start = ipToInt(config.range.start);
  return { name: config.subnet, cidr: parseCidr(config.subnet), start, end: ipToInt(config.range.end), config, cursor: start };
}

interface Offer {
  clientKey: string;
  ip: number;
  expiresAt: number;
}

export interface Reservation {
  ip: number;
  mac: string;
  hostname?: string;
  profile?: string;
}

/** The room's registered terminals (seats), which keep their addresses whatever unknown clients do. */
export interface KnownClients {
  /** whether the MAC is a registered seat's (may read the store for a seat added since the last load) */
  isKnown(mac: string): boolean;
  /** the registered seats' MACs as last loaded: cheap, read once per allocation for an unknown client */
  macs(): ReadonlySet<string>;
}

const NO_KNOWN_CLIENTS: KnownClients = { isKnown: () => false, macs: () => new Set() };

/** Why `offer()` found nothing: every address taken, or only addresses kept for registered terminals left. */
export type OfferShortfall = 'exhausted' | 'known_reserve';

/**
 * Address bookkeeping for the DHCP server: committed lease records (mirrored from the store), offers held in
 * memory (RFC 2131 §3.1: an offer reserves its address until REQUEST or timeout), reservations and declined
 * addresses. Pure and synchronous: the server decides when to persist what this returns.
 *
 * Starvation (issue 11): addresses whose record belongs to a known client (a reservation or a registered
 * seat) are never given to an unknown client, whatever their state; and an unknown client takes a new
 * address only while enough stay free for every known client that has none yet (the known-client reserve).
 */
export class LeaseTable {
  private readonly byIp = new Map<number, LeaseRecord>();
  private readonly byClient = new Map<string, number>();
  /** MAC → address of its latest non-declined record (any client key) */
  private readonly byMac = new Map<string, number>();
  private known: KnownClients = NO_KNOWN_CLIENTS;
  private readonly offers = new Map<number, Offer>();
  private readonly offerByClient = new Map<string, number>();
  private readonly reservedByMac = new Map<string, Reservation>();
  private readonly reservedIps = new Map<number, string>();

  constructor(
    readonly pools: readonly Pool[],
    reservations: ReadonlyArray<{ mac: string; ip: string; hostname?: string | undefined; profile?: string | undefined }>,
    private readonly offerHoldMs: number,
  ) {
    for (const r of reservations) {
      const mac = parseMac(r.mac);
      const res: Reservation = { ip: ipToInt(r.ip), mac };
      if (r.hostname !== undefined) res.hostname = r.hostname;
      if (r.profile !== undefined) res.profile = r.profile;
      this.reservedByMac.set(mac, res);
      this.reservedIps.set(res.ip, mac);
    }
  }

  /** The seats' MACs (set by the composition root once the identity store is open). */
  setKnownClients(known: KnownClients): void {
    this.known = known;
  }

  /** A reservation's or a registered seat's MAC. */
  isKnownClient(mac: string): boolean {
    return this.reservedByMac.has(mac) || this.known.isKnown(mac);
  }

  load(records: Iterable<LeaseRecord>): void {
    for (const r of records) this.put(r);
  }

  private put(r: LeaseRecord): void {
    const old = this.byIp.get(r.ip);
    if (old && old.clientKey !== r.clientKey && this.byClient.get(old.clientKey) === r.ip) this.byClient.delete(old.clientKey);
    if (old && old.mac !== r.mac && this.byMac.get(old.mac) === r.ip) this.byMac.delete(old.mac);
    this.byIp.set(r.ip, r);
    if (r.state !== 'declined') {
      this.byClient.set(r.clientKey, r.ip);
      this.byMac.set(r.mac, r.ip);
    } else {
      if (this.byClient.get(r.clientKey) === r.ip) this.byClient.delete(r.clientKey);
      if (this.byMac.get(r.mac) === r.ip) this.byMac.delete(r.mac);
    }
  }

  /** Whether a record keeps its address for a known client (a declined record keeps nothing for anyone). */
  private heldForKnown(rec: LeaseRecord, knownMacs?: ReadonlySet<string>): boolean {
    return rec.state !== 'declined' && (this.reservedByMac.has(rec.mac) || (knownMacs ?? this.known.macs()).has(rec.mac));
  }

  poolFor(ip: number): Pool | undefined {
    return this.pools.find((p) => cidrContains(p.cidr, ip));
  }

  reservationFor(mac: string): Reservation | undefined {
    return this.reservedByMac.get(mac);
  }

  /** The client's lease record, whatever its state (bound, released, expired). */
  leaseOf(clientKey: string): LeaseRecord | undefined {
    const ip = this.byClient.get(clientKey);
    return ip === undefined ? undefined : this.byIp.get(ip);
  }

  /** The address bound to a MAC now (whatever the lease key), for services that identify terminals by MAC. */
  boundIpOf(mac: string, now: number): number | undefined {
    const direct = this.byClient.get(`hw:${mac}`);
    const rec = direct !== undefined ? this.byIp.get(direct) : [...this.byIp.values()].find((r) => r.mac === mac && r.state === 'bound');
    return rec && rec.mac === mac && rec.state === 'bound' && rec.expiresAt > now ? rec.ip : undefined;
  }

  recordAt(ip: number): LeaseRecord | undefined {
    return this.byIp.get(ip);
  }

  all(): IterableIterator<LeaseRecord> {
    return this.byIp.values();
  }

  /** Whether `ip` may be given to this client now: in the pool (or reserved for it) and used by no one else. */
  isAvailable(ip: number, pool: Pool, clientKey: string, mac: string, now: number): boolean {
    if (!cidrContains(pool.cidr, ip)) return false;
    const reservedFor = this.reservedIps.get(ip);
    if (reservedFor !== undefined) return reservedFor === mac;
    if (ip < pool.start || ip > pool.end) return false;
    const offer = this.offers.get(ip);
    if (offer && offer.expiresAt > now && offer.clientKey !== clientKey) return false;
    const rec = this.byIp.get(ip);
    if (!rec) return true;
    if (rec.state === 'declined') return rec.expiresAt <= now;
    if (rec.clientKey === clientKey) return true;
    if (rec.mac !== mac && this.heldForKnown(rec) && !this.isKnownClient(mac)) return false;
    return rec.state !== 'bound' || rec.expiresAt <= now;
  }

  /**
   * Known clients with no address of their own yet in this pool's subnet (the LAN pool: seats are on the LAN);
   * that many addresses stay out of unknown clients' reach.
   */
  knownReserve(pool: Pool): number {
    if (pool !== this.pools[0]) return 0;
    let n = 0;
    for (const mac of this.known.macs()) if (!this.reservedByMac.has(mac) && !this.byMac.has(mac)) n++;
    return n;
  }

  /**
   * Whether this client may take an address that is not already its own (a new allocation): known clients
   * always; unknown ones only while the known-client reserve stays free after it.
   */
  mayAllocate(pool: Pool, clientKey: string, mac: string, now: number, exclude?: ReadonlySet<number>, known = this.isKnownClient(mac)): boolean {
    if (known) return true;
    const reserve = this.knownReserve(pool);
    return reserve === 0 || this.countAvailable(pool, clientKey, mac, now, reserve + 1, exclude) > reserve;
  }

  /** Whether `ip` is this client's already: its binding (any state), or an offer held for it. */
  isOwn(ip: number, clientKey: string, now: number): boolean {
    return this.byClient.get(clientKey) === ip || this.offeredTo(clientKey, now) === ip;
  }

  /** Addresses of the pool this client could be offered now, counted up to `limit`. */
  private countAvailable(pool: Pool, clientKey: string, mac: string, now: number, limit: number, exclude?: ReadonlySet<number>): number {
    let n = 0;
    for (let ip = pool.start; ip <= pool.end && n < limit; ip++) {
      if (!exclude?.has(ip) && !this.reservedIps.has(ip) && this.isAvailable(ip, pool, clientKey, mac, now)) n++;
    }
    return n;
  }

  /**
   * Chooses an address for a DISCOVER (RFC 2131 §4.3.1): reservation, current binding, previous binding,
   * the requested address (option 50), then the pool. Holds it as an offer (for `holdMs`, default the
   * configured hold). Undefined when nothing may be offered; `shortfall` (if given) says why. `known`: the
   * caller's isKnownClient(mac), so the seat lookup is not made twice per DISCOVER.
   */
  offer(
    pool: Pool,
    clientKey: string,
    mac: string,
    requested: number | undefined,
    now: number,
    exclude?: ReadonlySet<number>,
    o: { holdMs?: number; shortfall?: OfferShortfall; known?: boolean } = {},
  ): number | undefined {
    const ok = (ip: number | undefined): ip is number => ip !== undefined && !exclude?.has(ip) && this.isAvailable(ip, pool, clientKey, mac, now);
    const reservation = this.reservedByMac.get(mac);
    let ip: number | undefined;
    if (reservation && cidrContains(pool.cidr, reservation.ip)) ip = ok(reservation.ip) ? reservation.ip : undefined;
    else {
      const held = this.offeredTo(clientKey, now);
      const previous = this.byClient.get(clientKey);
      if (ok(previous)) ip = previous;
      else if (ok(held)) ip = held;
      else if (!this.mayAllocate(pool, clientKey, mac, now, exclude, o.known)) {
        o.shortfall = 'known_reserve';
        return undefined;
      } else if (ok(requested)) ip = requested;
      else ip = this.scan(pool, clientKey, mac, now, exclude);
    }
    if (ip === undefined) {
      o.shortfall = 'exhausted';
      return undefined;
    }
    this.hold(clientKey, ip, now, o.holdMs ?? this.offerHoldMs);
    return ip;
  }

  private hold(clientKey: string, ip: number, now: number, holdMs: number): void {
    this.dropOffer(clientKey);
    this.offers.set(ip, { clientKey, ip, expiresAt: now + holdMs });
    this.offerByClient.set(clientKey, ip);
  }

  /** Frees a held offer (the client chose another server, or was bound). */
  dropOffer(clientKey: string): void {
    const ip = this.offerByClient.get(clientKey);
    if (ip === undefined) return;
    this.offerByClient.delete(clientKey);
    if (this.offers.get(ip)?.clientKey === clientKey) this.offers.delete(ip);
  }

  offeredTo(clientKey: string, now: number): number | undefined {
    const ip = this.offerByClient.get(clientKey);
    if (ip === undefined) return undefined;
    const o = this.offers.get(ip);
    return o && o.expiresAt > now && o.clientKey === clientKey ? ip : undefined;
  }

  /** Two passes from the cursor: never-used addresses first, then reclaimable ones (expired, released). */
  private scan(pool: Pool, clientKey: string, mac: string, now: number, exclude?: ReadonlySet<number>): number | undefined {
    const size = pool.end - pool.start + 1;
    for (let pass = 0; pass < 2; pass++) {
      let ip = pool.cursor;
      for (let i = 0; i < size; i++, ip = ip >= pool.end ? pool.start : ip + 1) {
        if (exclude?.has(ip) || this.reservedIps.has(ip)) continue;
        if (pass === 0 && this.byIp.has(ip)) continue;
        if (this.isAvailable(ip, pool, clientKey, mac, now)) {
          pool.cursor = ip >= pool.end ? pool.start : ip + 1;
          return ip;
        }
      }
    }
    return undefined;
  }

  /** Records a binding in memory; returns the records the caller must commit before it ACKs (the new one last). */
  bind(clientKey: string, mac: string, ip: number, hostname: string | null, leaseMs: number, now: number): LeaseRecord[] {
    const changed: LeaseRecord[] = [];
    const previous = this.byClient.get(clientKey);
    this.dropOffer(clientKey);
    if (previous !== undefined && previous !== ip) {
      // One address per client: an old binding elsewhere is released (Kea and dnsmasq do the same).
      const old = this.byIp.get(previous);
      if (old && old.state === 'bound') {
        const released: LeaseRecord = { ...old, state: 'released', expiresAt: now };
        this.put(released);
        changed.push(released);
      }
    }
    const rec: LeaseRecord = { ip, clientKey, mac, hostname, state: 'bound', startsAt: now, expiresAt: now + leaseMs };
    this.put(rec);
    changed.push(rec);
    return changed;
  }

  /** RELEASE (RFC 2131 §4.3.4): the address is free again but the record stays, so the client gets it back. */
  release(clientKey: string, ip: number, now: number): LeaseRecord | undefined {
    const rec = this.byIp.get(ip);
    if (!rec || rec.clientKey !== clientKey || rec.state !== 'bound') return undefined;
    const next: LeaseRecord = { ...rec, state: 'released', expiresAt: now };
    this.put(next);
    return next;
  }

  /** DECLINE (RFC 2131 §4.3.3): the address is in use by something else; quarantine it. */
  decline(clientKey: string, mac: string, ip: number, quarantineMs: number, now: number): LeaseRecord {
    this.dropOffer(clientKey);
    const rec: LeaseRecord = { ip, clientKey, mac, hostname: null, state: 'declined', startsAt: now, expiresAt: now + quarantineMs };
    this.put(rec);
    return rec;
  }

  /** Marks bound leases past their expiry as expired; returns the changed records to persist. */
  expire(now: number): LeaseRecord[] {
    const changed: LeaseRecord[] = [];
    for (const rec of this.byIp.values()) {
      if (rec.state === 'bound' && rec.expiresAt <= now) {
        const next: LeaseRecord = { ...rec, state: 'expired' };
        this.put(next);
        changed.push(next);
      }
    }
    for (const [ip, o] of this.offers) {
      if (o.expiresAt <= now) {
        this.offers.delete(ip);
        if (this.offerByClient.get(o.clientKey) === ip) this.offerByClient.delete(o.clientKey);
      }
    }
    return changed;
  }

  /** Pool use for metrics: addresses bound (unexpired), offered, declined, and the pool size. */
  usage(pool: Pool, now: number): { size: number; bound: number; offered: number; declined: number } {
    let bound = 0;
    let declined = 0;
    let offered = 0;
    for (const rec of this.byIp.values()) {
      if (!cidrContains(pool.cidr, rec.ip)) continue;
      if (rec.state === 'bound' && rec.expiresAt > now) bound++;
      else if (rec.state === 'declined' && rec.expiresAt > now) declined++;
    }
    for (const o of this.offers.values()) if (o.expiresAt > now && cidrContains(pool.cidr, o.ip)) offered++;
    return { size: pool.end - pool.start + 1, bound, offered, declined };
  }
}

export { intToIp };
