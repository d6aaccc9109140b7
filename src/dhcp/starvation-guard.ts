import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { LeaseTable, Pool } from './lease-table.ts';
import type { StarvationConfig } from './starvation-config.ts';

/** Why the guard refused a request; the `reason` label of bootgate_dhcp_starvation_refusals_total. */
export type StarvationRefusal = 'chaddr_mismatch' | 'source_offer_limit' | 'source_binding_limit' | 'known_reserve';

/** Sources named in metric labels; the rest are counted as "other" so a randomising flood cannot grow them. */
const LABELLED_SOURCES = 16;
/** Sources tracked at once; the oldest is forgotten first (a flood randomising its Ethernet source too). */
const TRACKED_SOURCES = 4096;
const WARN_INTERVAL_MS = 10_000;
/** Pool pressure is recomputed at most this often (it walks the pool's records). */
const PRESSURE_TTL_MS = 250;

export function createStarvationMetrics(registry: Registry) {
  return {
    refusals: new Counter({
      name: 'bootgate_dhcp_starvation_refusals_total',
      help: 'DHCP requests refused by the starvation guard, by reason and link-layer source (first 16 named, then "other")',
      labelNames: ['reason', 'source'],
      registers: [registry],
    }),
    chaddrMismatches: new Counter({
      name: 'bootgate_dhcp_chaddr_mismatches_total',
      help: "Directly attached DHCP requests whose chaddr differs from the frame's Ethernet source, by source",
      labelNames: ['source'],
      registers: [registry],
    }),
    pressure: new Gauge({
      name: 'bootgate_dhcp_pool_pressure',
      help: 'Pool use: (bound + offered + declined) / size',
      labelNames: ['subnet'],
      registers: [registry],
    }),
    knownReserve: new Gauge({
      name: 'bootgate_dhcp_known_reserve',
      help: 'Addresses kept free for registered terminals that have none yet',
      labelNames: ['subnet'],
      registers: [registry],
    }),
  };
}
export type StarvationMetrics = ReturnType<typeof createStarvationMetrics>;

interface SourceLedger {
  /** clients (lease keys) with an offer or a binding obtained through this source */
  offers: Set<string>;
  bindings: Set<string>;
  refusals: number;
  lastRefusal?: { at: number; reason: StarvationRefusal; mac: string };
  lastWarnAt: number;
  refusedSinceWarn: number;
}

export interface PoolPressure {
  subnet: string;
  size: number;
  used: number;
  pressure: number;
  underPressure: boolean;
  knownReserve: number;
}

export interface StarvationStatus {
  pools: PoolPressure[];
  /** sources with refusals, most refused first */
  sources: Array<{
    source: string;
    refusals: number;
    offers: number;
    bindings: number;
    lastReason?: StarvationRefusal;
    lastMac?: string;
    lastAt?: string;
  }>;
}

/**
 * DHCP snooping for a directly attached LAN (issue 11), beside the lease table's known-client reserve:
 *   - a request whose chaddr is not its frame's Ethernet source is counted and, by default, refused;
 *   - outstanding offers and bindings are bounded per link-layer source;
 *   - above the pressure watermark, offers to unknown clients hold their address only briefly.
 * Relayed requests (giaddr set) carry the relay's source and are judged by the reserve and the pressure only.
 */
export class StarvationGuard {
  private readonly sources = new Map<string, SourceLedger>();
  private readonly labelled = new Set<string>();
  private readonly pressureCache = new Map<Pool, { at: number; value: PoolPressure }>();

  constructor(
    private readonly config: Readonly<StarvationConfig>,
    private readonly table: LeaseTable,
    private readonly metrics: StarvationMetrics,
    private readonly log: Logger,
    private readonly clock: () => number,
  ) {}

  /** The chaddr check for a directly attached request; undefined when it may go on. */
  checkChaddr(source: string | undefined, mac: string, htype: number, hlen: number): StarvationRefusal | undefined {
    if (source === undefined || htype !== 1 || hlen !== 6 || source === mac) return undefined;
    this.metrics.chaddrMismatches.inc({ source: this.label(source) });
    if (this.config.chaddrMismatch !== 'refuse') return undefined;
    this.refused('chaddr_mismatch', source, mac);
    return 'chaddr_mismatch';
  }

  /**
   * Mismatches the kernel refused (the tap's filter): `count` frames, `sample` the sources of some of them. The
   * count is shared out by the sample (exact for a single flooding source); no sample: "unknown".
   */
  kernelRefused(count: number, sample: readonly string[]): void {
    const bySource = new Map<string, number>();
    for (const s of sample) bySource.set(s, (bySource.get(s) ?? 0) + 1);
    if (bySource.size === 0) bySource.set('unknown', 1);
    const total = sample.length || 1;
    let left = count;
    const entries = [...bySource.entries()].sort((a, b) => b[1] - a[1]);
    entries.forEach(([source, n], i) => {
      const share = i === entries.length - 1 ? left : Math.round((count * n) / total);
      left -= share;
      if (share <= 0) return;
      this.metrics.chaddrMismatches.inc({ source: this.label(source) }, share);
      this.refused('chaddr_mismatch', source, 'spoofed', share);
    });
  }

  /** Before offering to a client that has no offer or binding yet: the source's offer and binding bounds. */
  admitOffer(source: string, clientKey: string, mac: string, now: number): StarvationRefusal | undefined {
    const l = this.ledger(source);
    if (l.offers.has(clientKey) || l.bindings.has(clientKey)) return undefined;
    if (this.liveBindings(l, now) >= this.config.maxBindingsPerSource && this.table.leaseOf(clientKey)?.state !== 'bound') {
      this.refused('source_binding_limit', source, mac);
      return 'source_binding_limit';
    }
    if (this.liveOffers(l, now) >= this.config.maxOffersPerSource) {
      this.refused('source_offer_limit', source, mac);
      return 'source_offer_limit';
    }
    return undefined;
  }

  noteOffer(source: string, clientKey: string): void {
    this.ledger(source).offers.add(clientKey);
  }

  /** Before binding a client this source has not bound yet (a REQUEST may come without a DISCOVER). */
  admitBinding(source: string, clientKey: string, mac: string, now: number): StarvationRefusal | undefined {
    const l = this.ledger(source);
    if (l.bindings.has(clientKey)) return undefined;
    if (this.liveBindings(l, now) < this.config.maxBindingsPerSource) return undefined;
    this.refused('source_binding_limit', source, mac);
    return 'source_binding_limit';
  }

  noteBinding(source: string, clientKey: string): void {
    const l = this.ledger(source);
    l.offers.delete(clientKey);
    l.bindings.add(clientKey);
  }

  /** The reserve refused an unknown client (the lease table decided; counted and named here). */
  reserveRefused(source: string | undefined, mac: string): void {
    this.refused('known_reserve', source ?? 'unknown', mac);
  }

  /** How long an offer holds its address: short for unknown clients while the pool is under pressure. */
  offerHoldMs(pool: Pool, knownClient: boolean, defaultMs: number): number {
    if (knownClient || !this.pressure(pool).underPressure) return defaultMs;
    return Math.min(defaultMs, this.config.pressureOfferHoldSeconds * 1000);
  }

  pressure(pool: Pool): PoolPressure {
    const now = this.clock();
    const cached = this.pressureCache.get(pool);
    if (cached && now - cached.at < PRESSURE_TTL_MS) return cached.value;
    const u = this.table.usage(pool, now);
    const used = u.bound + u.offered + u.declined;
    const pressure = u.size > 0 ? used / u.size : 1;
    const value: PoolPressure = {
      subnet: pool.name,
      size: u.size,
      used,
      pressure,
      underPressure: pressure >= this.config.pressureWatermark,
      knownReserve: this.table.knownReserve(pool),
    };
    const was = cached?.value.underPressure ?? false;
    if (value.underPressure !== was) {
      const top = this.topSource();
      if (value.underPressure)
        this.log.warn(
          { subnet: pool.name, used, size: u.size, topSource: top },
          'dhcp pool under pressure: offers to unknown clients are held briefly',
        );
      else this.log.info({ subnet: pool.name, used, size: u.size }, 'dhcp pool pressure relieved');
    }
    this.pressureCache.set(pool, { at: now, value });
    this.metrics.pressure.set({ subnet: pool.name }, pressure);
    this.metrics.knownReserve.set({ subnet: pool.name }, value.knownReserve);
    return value;
  }

  /** Forgets sources with nothing outstanding (called from the server's sweep). */
  sweep(pools: readonly Pool[]): void {
    const now = this.clock();
    for (const [source, l] of this.sources) {
      if (this.liveOffers(l, now) === 0 && this.liveBindings(l, now) === 0 && now - (l.lastRefusal?.at ?? 0) > 10 * WARN_INTERVAL_MS)
        this.sources.delete(source);
    }
    for (const p of pools) {
      this.pressureCache.delete(p);
      this.pressure(p);
    }
  }

  status(pools: readonly Pool[]): StarvationStatus {
    const sources = [...this.sources.entries()]
      .filter(([, l]) => l.refusals > 0)
      .sort((a, b) => b[1].refusals - a[1].refusals)
      .slice(0, 32)
      .map(([source, l]) => {
        const now = this.clock();
        const s: StarvationStatus['sources'][number] = {
          source,
          refusals: l.refusals,
          offers: this.liveOffers(l, now),
          bindings: this.liveBindings(l, now),
        };
        if (l.lastRefusal) {
          s.lastReason = l.lastRefusal.reason;
          s.lastMac = l.lastRefusal.mac;
          s.lastAt = new Date(l.lastRefusal.at).toISOString();
        }
        return s;
      });
    return { pools: pools.map((p) => this.pressure(p)), sources };
  }

  private topSource(): string | undefined {
    let best: [string, number] | undefined;
    for (const [s, l] of this.sources) if (l.refusals > 0 && (!best || l.refusals > best[1])) best = [s, l.refusals];
    return best?.[0];
  }

  private ledger(source: string): SourceLedger {
    let l = this.sources.get(source);
    if (l) return l;
    if (this.sources.size >= TRACKED_SOURCES) {
      const oldest = this.sources.keys().next().value;
      if (oldest !== undefined) this.sources.delete(oldest);
    }
    l = { offers: new Set(), bindings: new Set(), refusals: 0, lastWarnAt: 0, refusedSinceWarn: 0 };
    this.sources.set(source, l);
    return l;
  }

  /** Offers still held (pruned as they expire, are bound or are taken back). */
  private liveOffers(l: SourceLedger, now: number): number {
    for (const k of l.offers) if (this.table.offeredTo(k, now) === undefined) l.offers.delete(k);
    return l.offers.size;
  }

  private liveBindings(l: SourceLedger, now: number): number {
    for (const k of l.bindings) {
      const rec = this.table.leaseOf(k);
      if (!rec || rec.state !== 'bound' || rec.expiresAt <= now) l.bindings.delete(k);
    }
    return l.bindings.size;
  }

  private label(source: string): string {
    if (this.labelled.has(source)) return source;
    if (this.labelled.size < LABELLED_SOURCES) {
      this.labelled.add(source);
      return source;
    }
    return 'other';
  }

  private refused(reason: StarvationRefusal, source: string, mac: string, n = 1): void {
    const now = this.clock();
    this.metrics.refusals.inc({ reason, source: this.label(source) }, n);
    const l = this.ledger(source);
    l.refusals += n;
    l.refusedSinceWarn += n;
    l.lastRefusal = { at: now, reason, mac };
    if (now - l.lastWarnAt >= WARN_INTERVAL_MS) {
      this.log.warn({ source, reason, mac, refused: l.refusedSinceWarn }, 'dhcp starvation guard refused requests from this source');
      l.lastWarnAt = now;
      l.refusedSinceWarn = 0;
    }
  }
}
