import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Router, RequestHandler } from 'express';
import { createCacheRouter } from '../api/cache-api.ts';
import type { CacheConfig } from '../cache/config.ts';
import { defaultCacheDirectory, EdgeCache } from '../cache/edge-cache.ts';
import { createCacheMetrics } from '../cache/metrics.ts';
import { HttpOrigin, type Dial } from '../cache/origin.ts';
import type { DestinationPolicy } from '../gateway/destination/policy.ts';
import { BootgateError } from '../errors.ts';
import type { AuditLog } from '../audit/log.ts';
import type { GatewayMetrics } from '../gateway/metrics.ts';
import { HttpProxy } from '../gateway/proxy/http-proxy.ts';
import type { SeatDirectory } from '../identity/seat-directory.ts';
import { auditSink, seatLookup } from './seats.ts';

export interface CacheServicesDeps {
  config: Readonly<CacheConfig>;
  dataDir: string;
  /** the gateway's destination policy: the cache's origin fetches are a path out like any other */
  destinations: DestinationPolicy;
  /** how long a name lookup may take before the origin counts as unreachable */
  lookupTimeoutMs: number;
  guards: { read: RequestHandler; write: RequestHandler };
  recordAction: (actor: string, action: string, target: string, detail: unknown) => Promise<void>;
  logger: Logger;
  registry: Registry;
}

/**
 * The cache's dial: the destination policy decides on the name (resolved once) and the address it allows is the one
 * dialled; a refused destination fails the fetch before any byte (CACHE_ORIGIN), so the proxy relays the request
 * itself — and refuses it there, with the seat's `refused` record (a seat cannot reach the gateway's loopback or
 * private addresses through the cache).
 */
export function policyDial(destinations: DestinationPolicy, lookupTimeoutMs: number): Dial {
  return async (host, port) => {
    const d = await destinations.decideWithin(host, lookupTimeoutMs);
    if (!d.allowed) throw new BootgateError('CACHE_ORIGIN', `origin ${host}: destination refused (${d.reason})`);
    return { address: d.address, port };
  };
}

/**
 * Wiring (composition root, with appliance.ts and compose/gateway.ts): the edge cache, its store under the data
 * directory, origins reached through the gateway's destination policy, and its management routes. The gateway's
 * explicit and transparent proxies answer from `cache`.
 */
export function createCacheServices(deps: CacheServicesDeps): { cache: EdgeCache; router: Router; start(): Promise<void>; stop(): Promise<void> } {
  const cache = new EdgeCache({
    config: deps.config,
    directory: defaultCacheDirectory(deps.dataDir, deps.config),
    origin: new HttpOrigin(policyDial(deps.destinations, deps.lookupTimeoutMs)),
    clock: { now: Date.now, timers: { set: (fn, ms) => setTimeout(fn, ms), clear: (t) => clearTimeout(t as NodeJS.Timeout) } },
    metrics: createCacheMetrics(deps.registry),
    log: deps.logger,
  });
  const router = createCacheRouter({ cache, guards: deps.guards, recordAction: deps.recordAction, log: deps.logger.child({ module: 'api' }) });
  return { cache, router, start: () => cache.start(), stop: () => cache.stop() };
}

export interface CacheListenerDeps {
  listener: NonNullable<CacheConfig['dnsListener']>;
  cache: EdgeCache;
  destinations: DestinationPolicy;
  directory: SeatDirectory;
  audit: AuditLog;
  metrics: GatewayMetrics;
  timeouts: { connectTimeoutMs: number; idleTimeoutMs: number };
  logger: Logger;
}

/**
 * The cache reached through DNS (`cache.dnsListener`, docs/cache.md): the resolver answers the cache domains with the
 * listener's address, and this plain-HTTP listener — the proxy in `cache` mode — serves them by Host header under
 * the proxies' rules: only a seat with an open session, one audit record per request against the person, a request
 * the cache turns away relayed to the origin through the destination policy, any other Host refused (421).
 */
export function createCacheListener(deps: CacheListenerDeps): { start(): Promise<void>; stop(): Promise<void> } {
  const l = deps.listener;
  const proxy = new HttpProxy({
    seats: seatLookup(deps.directory),
    audit: auditSink(deps.audit),
    logger: deps.logger,
    metrics: deps.metrics,
    destinations: deps.destinations,
    cache: deps.cache,
    options: { mode: 'cache', host: l.address, port: l.port, ...deps.timeouts },
  });
  return {
    start: async () => {
      try {
        await proxy.start();
      } catch (e) {
        throw new BootgateError(
          'SOCKET_BIND',
          `cache.dnsListener ${l.address}:${l.port}: ${(e as Error).message} (the address must be one of this host's, on the LAN, and the port free there)`,
          { cause: e },
        );
      }
    },
    stop: () => proxy.stop(),
  };
}
