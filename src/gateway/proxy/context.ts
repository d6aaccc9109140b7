/**
 * What the pieces of the HTTP proxy share, passed to each explicitly: the client connection (client-connection.ts),
 * the exchange (exchange.ts) and the tunnels (tunnel.ts) get this and nothing of the proxy object, which only
 * owns the listener and the lifecycle (http-proxy.ts) and builds it.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../log/logger.ts';
import type { DestinationPolicy } from '../destination/policy.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { SeatLookup, SeatSession } from '../seats-and-audit.ts';
import type { RequestHead } from './http1-head.ts';
import type { Page } from './refusals.ts';
import type { Target } from './target.ts';
import type { AuditEmitter } from './audit.ts';
import type { UpstreamPool } from './upstream-pool.ts';
import type { OutputSlab } from './slabs.ts';
import type { ProxyCache } from './cache-delivery.ts';

export interface HttpProxyOptions {
  /**
   * explicit: a seat's browser names the proxy; transparent: port 80 redirected here by nftables; reverse: requests
   * for the gateway's own service paths, each sent where `ProxyContext.reverse` says (service platforms); cache:
   * requests the resolver sent here for the edge cache's domains (`cache.dnsListener`), origin-form with a Host that
   * must be a cache domain or origin
   */
  mode: 'explicit' | 'transparent' | 'reverse' | 'cache';
  host: string;
  port: number;
  /** time to open the upstream TCP connection */
  connectTimeoutMs: number;
  /** a request or tunnel with no traffic either way for this long is closed */
  idleTimeoutMs: number;
  /**
   * ports a CONNECT tunnel may open (explicit mode); others get 403 and a `refused` record. Default [443]: an
   * open CONNECT lets a seat tunnel anything (mail, SSH, other proxies) past the logging, as squid's SSL_ports
   * rule also prevents.
   */
  connectPorts?: readonly number[] | 'any';
  /** a kept-alive client connection with no request for this long is closed (default 5 s, as Node's server) */
  keepAliveTimeoutMs?: number;
  /** a request head must arrive completely within this (default 30 s) */
  headersTimeoutMs?: number;
  /**
   * transparent mode: a Host field naming another place than the address dialled is always recorded
   * (`hostMismatch` in the record's detail); 'refuse' also refuses the request (403). Default 'record'.
   */
  hostMismatch?: 'record' | 'refuse';
}

/** The proxy's clock for deadlines: sweep ticks so far (one timer advances it, see HttpProxy). */
export interface TickClock {
  readonly tick: number;
}

/** Deadlines in ticks, as the sweep hands them to each connection. */
export interface Deadlines {
  connect: number;
  idle: number;
  keepAlive: number;
  headers: number;
}

export interface ProxyContext {
  readonly options: HttpProxyOptions;
  readonly clock: TickClock;
  readonly seats: SeatLookup;
  /** judges every destination and resolves names (once: the address it returns is the one dialled) */
  readonly destinations: DestinationPolicy;
  /** idle keep-alive connections to origin servers */
  readonly pool: UpstreamPool;
  /** buffers for responses written in one piece */
  readonly slab: OutputSlab;
  /** turns each request or tunnel into its audit record */
  readonly emitter: AuditEmitter;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  /** sockets of open CONNECT tunnels (both sides), destroyed at stop() */
  readonly tunnels: Set<Socket | Duplex>;
  /** reverse mode: where each request goes */
  readonly reverse?: ReverseRouter | undefined;
  /** the edge cache (explicit and transparent modes): answers body-less requests to cache domains */
  readonly cache?: ProxyCache | undefined;
}

/**
 * Reverse mode's routing: a request (origin-form) from a client address → the upstream and the seat to record it
 * against (undefined: not a seated terminal, no record), or a page to answer with (a 302, a 503, a 404).
 */
export type ReverseRouter = (ip: string, head: RequestHead) => { target: Target; session: SeatSession | undefined } | { page: Page };

/** A refused destination, counted by path and reason (the record carries the reason too). */
export function countRefusal(ctx: ProxyContext, path: string, reason: string): void {
  ctx.metrics.destinationRefusals.inc({ path, reason });
  ctx.log.debug({ path, reason }, 'destination refused');
}
