/**
 * The logging HTTP proxy, in one of two modes:
 *   explicit     — seats configured to use it: absolute-form requests (RFC 9112 §3.2.2) and CONNECT tunnels
 *                  (RFC 9110 §9.3.6).
 *   transparent  — seat tcp/80 redirected here by nftables: origin-form requests (RFC 9112 §3.2.1), sent to the
 *                  address the seat dialled (SO_ORIGINAL_DST of the redirect), never to where the Host field
 *                  points; a Host naming another place is recorded (`hostMismatch`) and, if configured, refused.
 * A client address without an open session is refused (403) before anything is sent upstream; so is a destination
 * the destination policy refuses (destination/policy.ts: the gateway itself, the LAN, private ranges), judged on
 * the address that is then dialled. Each request or tunnel becomes one audit record. Bodies stream through with
 * backpressure, never buffered.
 *
 * HTTP/1.1 is spoken directly on net sockets (http1-head.ts, http1-body.ts) rather than through node:http: a
 * proxy only needs each head parsed and each body's end found, and Node's server and client objects cost
 * ~150 µs of CPU per proxied request here, most of the budget (docs/bench/proxy.md). Bodies are relayed as the
 * bytes that arrived (chunked stays chunked), heads are rebuilt with the hop-by-hop fields removed.
 *
 * Timeouts without per-request timers: one sweep per proxy checks connect, idle, keep-alive and header deadlines.
 *
 * This file owns the listener and the lifecycle and builds the context (context.ts) the pieces share: target.ts
 * (where a request goes), client-connection.ts (one terminal's connection), exchange.ts (one request and its
 * response, durability of its record), tunnel.ts (CONNECT, switched protocols, the splice).
 */
import net, { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../log/logger.ts';
import type { DestinationPolicy } from '../destination/policy.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { AuditSink, SeatLookup } from '../seats-and-audit.ts';
import { AuditEmitter } from './audit.ts';
import { clientAddress } from '../../terminal/client-address.ts';
import { ClientConnection } from './client-connection.ts';
import type { HttpProxyOptions, ProxyContext, ReverseRouter } from './context.ts';
import type { RequestHead } from './http1-head.ts';
import { conntrackOriginalDestination, dialledOf, type OriginalDestinationReader } from './original-destination.ts';
import { SeatConnections } from './seat-connections.ts';
import { requestTarget, type Target } from './target.ts';
import { UpstreamPool } from './upstream-pool.ts';
import { OutputSlab } from './slabs.ts';
import type { ProxyCache } from './cache-delivery.ts';
import { closeServer, listen } from '../../net/listen.ts';

export type { HttpProxyOptions, ReverseRouter } from './context.ts';
export { destinationRefusalPage } from './refusals.ts';
export { spliceTunnel, type SpliceOptions } from './tunnel.ts';

export interface HttpProxyDeps {
  options: HttpProxyOptions;
  seats: SeatLookup;
  audit: AuditSink;
  logger: Logger;
  metrics: GatewayMetrics;
  /** judges every destination and resolves names (once: the address it returns is the one dialled) */
  destinations: DestinationPolicy;
  /** transparent mode: the address a redirected connection was going to (default: the kernel's conntrack entry) */
  originalDestination?: OriginalDestinationReader;
  /** reverse mode: where each request goes (required there, unused otherwise) */
  reverse?: ReverseRouter;
  /** the edge cache (docs/cache.md): plain-HTTP GETs to cache domains are answered from it */
  cache?: ProxyCache | undefined;
}

/** idle connections kept to origin servers, all hosts together */
const MAX_IDLE_UPSTREAM = 1024;

export class HttpProxy {
  readonly log: Logger;
  readonly emitter: AuditEmitter;
  readonly pool: UpstreamPool;
  private server: net.Server | undefined;
  private readonly tunnels = new Set<Socket | Duplex>();
  /** every open client connection by seat address (for closeSeat) */
  private readonly clients = new SeatConnections();
  /** every open client connection, for the sweep */
  readonly connections = new Set<ClientConnection>();
  private sweeper: NodeJS.Timeout | undefined;
  /** sweep ticks so far: the proxy's clock for deadlines */
  private readonly clock = { tick: 0 };
  private readonly tickMs: number;
  /** what the client connections, exchanges and tunnels share */
  private readonly ctx: ProxyContext;

  constructor(readonly deps: HttpProxyDeps) {
    this.log = deps.logger.child({ module: `gateway.proxy.${deps.options.mode}` });
    this.emitter = new AuditEmitter(deps.audit, deps.metrics, this.log);
    this.pool = new UpstreamPool(MAX_IDLE_UPSTREAM);
    const o = deps.options;
    this.tickMs = Math.max(25, Math.min(1000, Math.floor(Math.min(o.connectTimeoutMs, o.idleTimeoutMs, o.keepAliveTimeoutMs ?? 5000) / 4)));
    this.ctx = {
      options: o,
      clock: this.clock,
      seats: deps.seats,
      destinations: deps.destinations,
      pool: this.pool,
      slab: new OutputSlab(),
      emitter: this.emitter,
      metrics: deps.metrics,
      log: this.log,
      tunnels: this.tunnels,
      reverse: o.mode === 'reverse' ? deps.reverse : undefined,
      cache: o.mode === 'reverse' ? undefined : deps.cache,
    };
    if (o.mode === 'reverse' && !deps.reverse) throw new Error('a reverse-mode proxy needs its router');
    if (o.mode === 'cache' && !deps.cache) throw new Error('a cache-mode listener needs the edge cache');
  }

  /** sweep ticks so far */
  get tick(): number {
    return this.clock.tick;
  }

  private ticks(ms: number): number {
    return Math.ceil(ms / this.tickMs);
  }

  /**
   * Every deadline, checked by one timer: connections only record the tick of their last activity, so nothing is
   * armed or cleared per request (a deadline fires late by up to one tick, never early: a tick is at most a
   * quarter of the shortest timeout, and at most 1 s).
   */
  private sweep(): void {
    const now = ++this.clock.tick;
    const o = this.deps.options;
    const deadlines = {
      connect: this.ticks(o.connectTimeoutMs),
      idle: this.ticks(o.idleTimeoutMs),
      keepAlive: this.ticks(o.keepAliveTimeoutMs ?? 5000),
      headers: this.ticks(o.headersTimeoutMs ?? 30_000),
    };
    for (const c of this.connections) c.checkDeadlines(now, deadlines);
    this.pool.sweep(now, deadlines.idle);
  }

  /**
   * Cuts every connection from a seat address (keep-alive and CONNECT tunnels); the composition root calls it when
   * the seat's session closes, so a kept-alive connection cannot go on carrying the next person's traffic under the
   * previous session. Requests and tunnels in flight still get their records. Returns how many were cut.
   */
  closeSeat(ip: string): number {
    const n = this.clients.cut(ip);
    if (n) this.deps.metrics.drops.inc({ reason: 'session_closed' }, n);
    if (n) this.log.info({ ip, connections: n }, 'session closed: proxy connections of the seat cut');
    return n;
  }

  async start(): Promise<number> {
    // allowHalfOpen: a client may send its request and shut down its side; the response still goes back.
    const readDialled = this.deps.originalDestination ?? conntrackOriginalDestination;
    const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (sock) => {
      const ip = clientAddress(sock.remoteAddress);
      this.clients.track(sock, ip);
      const c = new ClientConnection(this.ctx, sock, ip, this.deps.options.mode === 'transparent' ? dialledOf(readDialled(sock)) : undefined);
      this.connections.add(c);
      sock.once('close', () => this.connections.delete(c));
    });
    this.server = server;
    const port = await listen(server, this.deps.options.port, this.deps.options.host);
    this.sweeper = setInterval(() => this.sweep(), this.tickMs);
    this.sweeper.unref();
    this.log.info({ host: this.deps.options.host, port }, `${this.deps.options.mode} HTTP proxy listening`);
    return port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const t of this.tunnels) t.destroy();
    this.tunnels.clear();
    this.clients.clear();
    await closeServer(server, () => {
      for (const c of this.connections) c.sock.destroy();
      this.pool.destroy();
    });
    await this.emitter.drain(); // records of the requests and tunnels just closed reach the sink before we return
  }

  /** Where a request goes (target.ts): the absolute-form URI, else (transparent) the Host header. */
  targetOf(head: RequestHead): Target | undefined {
    return requestTarget(head, this.deps.options.mode);
  }
}
