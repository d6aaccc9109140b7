import { Counter, Gauge, type Registry } from 'prom-client';

/** Edge cache metrics on the appliance's registry (never the global default registry). */
export function createCacheMetrics(registry: Registry) {
  return {
    hits: new Counter({
      name: 'bootgate_cache_hits_total',
      help: 'Slices served from the store, by service',
      labelNames: ['service'],
      registers: [registry],
    }),
    misses: new Counter({
      name: 'bootgate_cache_misses_total',
      help: 'Slices fetched from the origin for a reader, by service',
      labelNames: ['service'],
      registers: [registry],
    }),
    coalesced: new Counter({
      name: 'bootgate_cache_coalesced_total',
      help: 'Readers that joined a slice fetch already in flight instead of starting one, by service',
      labelNames: ['service'],
      registers: [registry],
    }),
    servedBytes: new Counter({
      name: 'bootgate_cache_served_bytes_total',
      help: 'Body bytes sent to clients by the cache, by service and source (store = saved uplink bytes, origin = fetched for this request)',
      labelNames: ['service', 'source'],
      registers: [registry],
    }),
    originBytes: new Counter({
      name: 'bootgate_cache_origin_bytes_total',
      help: 'Body bytes received from origins, by service',
      labelNames: ['service'],
      registers: [registry],
    }),
    originRequests: new Counter({
      name: 'bootgate_cache_origin_requests_total',
      help: 'Slice fetches sent to origins, by service',
      labelNames: ['service'],
      registers: [registry],
    }),
    originFailures: new Counter({
      name: 'bootgate_cache_origin_failures_total',
      help: 'Slice fetches that failed, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    bypassed: new Counter({
      name: 'bootgate_cache_bypassed_total',
      help: 'Requests to cache domains passed through uncached, by reason (RFC 9111 verdicts)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    terminalDeliveries: new Counter({
      name: 'bootgate_cache_terminal_deliveries_total',
      help: 'Responses to cache domains per terminal (seat name, else address; the first 1024 named, later ones "other"), by outcome',
      labelNames: ['terminal', 'outcome'],
      registers: [registry],
    }),
    terminalBytes: new Counter({
      name: 'bootgate_cache_terminal_bytes_total',
      help: 'Body bytes sent to a terminal for cache domains, by source (store = uplink saved, origin = fetched for it, passed = uncached)',
      labelNames: ['terminal', 'source'],
      registers: [registry],
    }),
    evictions: new Counter({ name: 'bootgate_cache_evictions_total', help: 'Slices evicted to stay under maxBytes (LRU)', registers: [registry] }),
    corruptSlices: new Counter({
      name: 'bootgate_cache_corrupt_slices_total',
      help: 'Stored slices that failed verification on read and were dropped',
      registers: [registry],
    }),
    digestMismatches: new Counter({
      name: 'bootgate_cache_digest_mismatches_total',
      help: "Fetched slices that did not match the origin's digest; not stored",
      registers: [registry],
    }),
    storeFailures: new Counter({
      name: 'bootgate_cache_store_failures_total',
      help: 'Slices that could not be stored (disk-full, io); they were served uncached',
      labelNames: ['reason'],
      registers: [registry],
    }),
    storeBytes: new Gauge({ name: 'bootgate_cache_store_bytes', help: 'Slice bytes held on disk', registers: [registry] }),
    storeSlices: new Gauge({ name: 'bootgate_cache_store_slices', help: 'Slices held on disk', registers: [registry] }),
    inflight: new Gauge({ name: 'bootgate_cache_fetches_inflight', help: 'Slice fetches from origins in progress', registers: [registry] }),
  };
}
export type CacheMetrics = ReturnType<typeof createCacheMetrics>;
