import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Registry } from 'prom-client';
import type { DnsStatsView } from './wire.ts';

/** sums of a labelled metric's values by one label (prom-client's get(): collect() runs first, pending hits included) */
async function sumBy(registry: Registry, name: string, label: string): Promise<Record<string, number> | undefined> {
  const m = registry.getSingleMetric(name);
  if (!m) return undefined;
  const out: Record<string, number> = {};
  for (const v of (await m.get()).values) {
    const k = String(v.labels[label] ?? '');
    out[k] = (out[k] ?? 0) + v.value;
  }
  return out;
}

/**
 * The resolver's counters for the cache/DNS screen, from the appliance's own Prometheus registry (dns/metrics.ts):
 * queries by result and by type, the cache hit rate over the answers that needed an answer record (cache hits /
 * (cache hits + forwarded)), upstream outcomes, answers cached. `enabled: false` when the resolver is off.
 */
export async function dnsStats(registry: Registry): Promise<DnsStatsView> {
  const byResult = await sumBy(registry, 'bootgate_dns_queries_total', 'result');
  if (!byResult) return { enabled: false, byResult: {}, byType: {}, upstream: {}, hitRate: null, cacheEntries: 0, total: 0 };
  const byType = (await sumBy(registry, 'bootgate_dns_queries_total', 'type')) ?? {};
  const upstream = (await sumBy(registry, 'bootgate_dns_upstream_queries_total', 'outcome')) ?? {};
  const entries = registry.getSingleMetric('bootgate_dns_cache_entries');
  const cacheEntries = entries ? ((await entries.get()).values[0]?.value ?? 0) : 0;
  const hits = byResult.cache_hit ?? 0;
  const forwarded = byResult.forwarded ?? 0;
  const total = Object.values(byResult).reduce((a, b) => a + b, 0);
  return { enabled: true, byResult, byType, upstream, hitRate: hits + forwarded > 0 ? hits / (hits + forwarded) : null, cacheEntries, total };
}

function handle(fn: (req: Request, res: Response) => Promise<void>) {
  return (req: Request, res: Response, next: NextFunction): void => void fn(req, res).catch(next);
}

/** GET /dns/stats (read guard): dnsStats() of the registry. */
export function createDnsStatsRouter(registry: Registry, read: RequestHandler): Router {
  const r = Router();
  r.get(
    '/dns/stats',
    read,
    handle(async (_req, res) => {
      res.json(await dnsStats(registry));
    }),
  );
  return r;
}
