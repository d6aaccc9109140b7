/** Shared pieces of the edge cache's tests: a silent logger, fresh metrics, a temporary store directory. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createCacheMetrics, type CacheMetrics } from '../../src/cache/metrics.ts';
import type { ObjectMeta } from '../../src/cache/object-meta.ts';

export const silentLog = pino({ level: 'silent' });

export function cacheMetrics(): { registry: Registry; metrics: CacheMetrics } {
  const registry = new Registry();
  return { registry, metrics: createCacheMetrics(registry) };
}

export const tempCacheDir = (): string => mkdtempSync(join(tmpdir(), 'bootgate-cache-'));

/** A metric's value (summed over label sets matching `labels`). */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return (m?.values ?? []).filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l)).reduce((n, v) => n + v.value, 0);
}

export function metaFor(id: string, totalBytes: number): ObjectMeta {
  return { id, key: `test /${id}`, service: 'test', totalBytes, headers: {}, storedAt: 0, expiresAt: Number.MAX_SAFE_INTEGER };
}
