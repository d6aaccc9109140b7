/**
 * The cache's own counters for the API and the CLI (`bootgate cache stats`), per service and per terminal: how many
 * deliveries were served entirely from the store (hits), needed the origin (misses: fetched or joined to a fetch in
 * flight) or were passed through uncached (bypasses), the bytes fetched from origins and the bytes served. The
 * Prometheus side (metrics.ts) counts slices; this counts responses, which is what an operator reads as a hit rate.
 */

export interface CacheCounters {
  hits: number;
  misses: number;
  bypasses: number;
  /** body bytes received from origins (per terminal: bytes of its responses that came from an origin fetch) */
  originBytes: number;
  /** body bytes the cache sent to terminals */
  servedBytes: number;
  /** of servedBytes, those read from the store: uplink bytes saved */
  storeBytes: number;
  /** body bytes of requests to cache domains passed through uncached (bypasses) */
  passedBytes: number;
}

export type CacheOutcome = 'hit' | 'miss' | 'bypass';

const zero = (): CacheCounters => ({ hits: 0, misses: 0, bypasses: 0, originBytes: 0, servedBytes: 0, storeBytes: 0, passedBytes: 0 });

/** What one delivery did, as the proxy reports it at its end. */
export interface Delivery {
  service: string;
  /** the seat's name, else the client address */
  terminal: string;
  outcome: CacheOutcome;
  /** body bytes sent to the terminal, by where they came from */
  fromStore: number;
  fromOrigin: number;
}

/** The Prometheus side of the per-terminal counters (metrics.ts). */
export interface TerminalMetrics {
  terminalDeliveries: { inc(labels: { terminal: string; outcome: CacheOutcome }): void };
  terminalBytes: { inc(labels: { terminal: string; source: 'store' | 'origin' | 'passed' }, value: number): void };
}

/** Terminals named in the Prometheus series; more are counted as "other" (a LAN is bounded, relayed subnets may not be). */
const MAX_TERMINAL_LABELS = 1024;

export class CacheStats {
  private readonly services = new Map<string, CacheCounters>();
  private readonly terminals = new Map<string, CacheCounters>();
  private readonly labelled = new Set<string>();

  constructor(private readonly metrics?: TerminalMetrics) {}

  private label(terminal: string): string {
    if (this.labelled.has(terminal)) return terminal;
    if (this.labelled.size >= MAX_TERMINAL_LABELS) return 'other';
    this.labelled.add(terminal);
    return terminal;
  }

  private of(m: Map<string, CacheCounters>, k: string): CacheCounters {
    let c = m.get(k);
    if (!c) m.set(k, (c = zero()));
    return c;
  }

  /** bytes received from an origin for a service (the fetcher, as they arrive) */
  origin(service: string, bytes: number): void {
    this.of(this.services, service).originBytes += bytes;
  }

  delivered(d: Delivery): void {
    for (const c of [this.of(this.services, d.service), this.of(this.terminals, d.terminal)]) {
      if (d.outcome === 'hit') c.hits++;
      else if (d.outcome === 'miss') c.misses++;
      else c.bypasses++;
      if (d.outcome === 'bypass') c.passedBytes += d.fromOrigin;
      else {
        c.servedBytes += d.fromStore + d.fromOrigin;
        c.storeBytes += d.fromStore;
      }
    }
    if (d.outcome !== 'bypass') this.of(this.terminals, d.terminal).originBytes += d.fromOrigin;
    const m = this.metrics;
    if (m) {
      const terminal = this.label(d.terminal);
      m.terminalDeliveries.inc({ terminal, outcome: d.outcome });
      if (d.outcome === 'bypass') {
        if (d.fromOrigin > 0) m.terminalBytes.inc({ terminal, source: 'passed' }, d.fromOrigin);
      } else {
        if (d.fromStore > 0) m.terminalBytes.inc({ terminal, source: 'store' }, d.fromStore);
        if (d.fromOrigin > 0) m.terminalBytes.inc({ terminal, source: 'origin' }, d.fromOrigin);
      }
    }
  }

  snapshot(): { services: Record<string, CacheCounters>; terminals: Record<string, CacheCounters> } {
    const copy = (m: Map<string, CacheCounters>) => Object.fromEntries([...m].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, { ...v }]));
    return { services: copy(this.services), terminals: copy(this.terminals) };
  }
}
