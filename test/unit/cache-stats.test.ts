/**
 * The cache's per-service and per-terminal counters (src/cache/stats.ts) and their Prometheus series: what an
 * operator reads as the hit rate per terminal, in the API and in /metrics; the terminal label bounded at 1024.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createCacheMetrics } from '../../src/cache/metrics.ts';
import { CacheStats } from '../../src/cache/stats.ts';

async function series(registry: Registry, name: string): Promise<Array<[Record<string, string | number>, number]>> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values ?? []).map((v) => [v.labels as Record<string, string | number>, v.value]);
}

describe('cache stats', () => {
  it('counts each delivery per service and per terminal, in the snapshot and as Prometheus series', async () => {
    const registry = new Registry();
    const stats = new CacheStats(createCacheMetrics(registry));
    stats.delivered({ service: 'steam', terminal: 'S1', outcome: 'miss', fromStore: 0, fromOrigin: 1000 });
    stats.delivered({ service: 'steam', terminal: 'S1', outcome: 'hit', fromStore: 1000, fromOrigin: 0 });
    stats.delivered({ service: 'steam', terminal: 'S2', outcome: 'hit', fromStore: 600, fromOrigin: 400 });
    stats.delivered({ service: 'wsus', terminal: 'S2', outcome: 'bypass', fromStore: 0, fromOrigin: 50 });
    const snap = stats.snapshot();
    assert.deepEqual(snap.terminals.S1, { hits: 1, misses: 1, bypasses: 0, originBytes: 1000, servedBytes: 2000, storeBytes: 1000, passedBytes: 0 });
    assert.deepEqual(snap.terminals.S2, { hits: 1, misses: 0, bypasses: 1, originBytes: 400, servedBytes: 1000, storeBytes: 600, passedBytes: 50 });
    assert.equal(snap.services.steam!.hits, 2);
    const deliveries = await series(registry, 'bootgate_cache_terminal_deliveries_total');
    assert.deepEqual(deliveries.map(([l, v]) => `${l.terminal} ${l.outcome} ${v}`).sort(), ['S1 hit 1', 'S1 miss 1', 'S2 bypass 1', 'S2 hit 1']);
    const bytes = await series(registry, 'bootgate_cache_terminal_bytes_total');
    assert.deepEqual(bytes.map(([l, v]) => `${l.terminal} ${l.source} ${v}`).sort(), [
      'S1 origin 1000',
      'S1 store 1000',
      'S2 origin 400',
      'S2 passed 50',
      'S2 store 600',
    ]);
  });

  it('names the first 1024 terminals in the series and counts the rest as "other" (the API still has each)', async () => {
    const registry = new Registry();
    const stats = new CacheStats(createCacheMetrics(registry));
    for (let i = 0; i < 1030; i++)
      stats.delivered({ service: 's', terminal: `10.9.${i >> 8}.${i & 255}`, outcome: 'hit', fromStore: 1, fromOrigin: 0 });
    const deliveries = await series(registry, 'bootgate_cache_terminal_deliveries_total');
    assert.equal(deliveries.length, 1025);
    assert.deepEqual(deliveries.find(([l]) => l.terminal === 'other')?.[1], 6);
    assert.equal(Object.keys(stats.snapshot().terminals).length, 1030);
  });
});
