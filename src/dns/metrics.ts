import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { typeLabel } from './constants.ts';

/** Pre-bound counting for the per-query hot path: plain numbers, added to the labelled counter when scraped. */
export interface QueryCounts {
  cacheHit(transport: 'udp' | 'tcp', type: number): void;
}

/** DNS resolver metrics on the appliance's registry (never the global default registry). */
export function createDnsMetrics(registry: Registry) {
  // cache hits not yet in `queries`, by type * 2 + (tcp ? 1 : 0)
  const pendingHits = new Map<number, number>();
  const queries: Counter = new Counter({
    name: 'bootgate_dns_queries_total',
    help: 'Queries answered, by transport (udp, tcp), query type and result (local, cache_hit, forwarded, servfail, refused, notimp, formerr)',
    labelNames: ['transport', 'type', 'result'],
    registers: [registry],
    collect() {
      for (const [k, v] of pendingHits) queries.inc({ transport: k & 1 ? 'tcp' : 'udp', type: typeLabel(k >> 1), result: 'cache_hit' }, v);
      pendingHits.clear();
    },
  });
  const counts: QueryCounts = {
    cacheHit(transport, type) {
      const k = type * 2 + (transport === 'tcp' ? 1 : 0);
      pendingHits.set(k, (pendingHits.get(k) ?? 0) + 1);
    },
  };
  return {
    queries,
    counts,
    drops: new Counter({
      name: 'bootgate_dns_drops_total',
      help: 'Packets dropped without an answer, and TCP connections closed for breaking the protocol, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    truncated: new Counter({
      name: 'bootgate_dns_truncated_total',
      help: 'UDP answers sent with TC=1 because they exceed the client UDP payload size',
      registers: [registry],
    }),
    upstreamQueries: new Counter({
      name: 'bootgate_dns_upstream_queries_total',
      help: 'Queries sent to upstreams, by upstream, transport and outcome (ok, timeout, error, mismatch, servfail)',
      labelNames: ['upstream', 'transport', 'outcome'],
      registers: [registry],
    }),
    upstreamLatency: new Histogram({
      name: 'bootgate_dns_upstream_latency_seconds',
      help: 'Time from sending a query to an upstream to its accepted reply',
      labelNames: ['upstream'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    coalesced: new Counter({
      name: 'bootgate_dns_coalesced_total',
      help: 'Queries that joined an identical upstream query already in flight',
      registers: [registry],
    }),
    cacheEntries: new Gauge({ name: 'bootgate_dns_cache_entries', help: 'Answers held in the cache', registers: [registry] }),
    tcpConnections: new Gauge({ name: 'bootgate_dns_tcp_connections', help: 'Open TCP client connections', registers: [registry] }),
  };
}
export type DnsMetrics = ReturnType<typeof createDnsMetrics>;
