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
 * Durability: a response the client sees complete has its audit record committed. The bytes that complete a
 * response (for a small response: all of it, head included) are held back until the group commit holding the
 * record has resolved; if the commit fails the client connection is reset instead, so it never sees a complete
 * response that is missing from the trail.
 *
 * Timeouts without per-request timers: one sweep per proxy checks connect, idle, keep-alive and header deadlines.
 */
import { STATUS_CODES } from 'node:http';
import net, { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../log/logger.ts';
import { DecodeError } from '../../wire/decode-error.ts';
import { formatIp } from '../../wire/ip-address.ts';
import { endpointText, REFUSAL_EXPLANATION, type Decision, type DestinationPolicy, type RefusalReason } from '../destination/policy.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { AuditSink, SeatLookup, SeatSession } from '../ports.ts';
import { appendBytes } from './append-bytes.ts';
import { AuditEmitter, clientIp, dstDetail, refusalDetail, type Activity } from './audit.ts';
import { SeatConnections } from './seat-connections.ts';
import { forwardedHead, refusalPage } from './headers.ts';
import { authorityTarget, requestTarget, type Target } from './target.ts';
import { MAX_HEAD_BYTES, field, fieldValues, headEnd, listTokens, parseRequestHead, parseResponseHead, skipEmptyLines, type RequestHead, type ResponseHead } from './http1-head.ts';
import { BodyReader, FramingError, contentLength, requestFraming, responseFraming, type Framing } from './http1-body.ts';
import { UpstreamPool, type Upstream, type UpstreamUser } from './upstream-pool.ts';
import { conntrackOriginalDestination, dialledOf, type Dialled, type OriginalDestinationReader } from './original-destination.ts';

export interface HttpProxyOptions {
  mode: 'explicit' | 'transparent';
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
}

const NO_SESSION = refusalPage(403, 'No open session', 'This seat has no open session. Please see the cashier.');
const BAD_TARGET = refusalPage(400, 'Bad request', 'The request does not name a host this proxy can reach.');
const BAD_REQUEST = refusalPage(400, 'Bad request', 'The request is not valid HTTP/1.1.');
const HOST_MISMATCH = refusalPage(403, 'Destination refused', 'The Host field names another site than the address this connection was made to.');
const NOT_REDIRECTED = refusalPage(403, 'Destination refused', 'This connection did not come through the gateway’s redirect.');

/** The 403 page for a destination the policy refuses. */
export function destinationRefusalPage(reason: RefusalReason): { status: number; body: string } {
  return refusalPage(403, 'Destination refused', `This gateway does not connect seats to ${REFUSAL_EXPLANATION[reason]}.`);
}
/** idle connections kept to origin servers, all hosts together */
const MAX_IDLE_UPSTREAM = 1024;
/** a body slice up to this size is copied into one write with the head; larger ones are written corked */
const SMALL_BODY = 16 * 1024;

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
  tick = 0;
  private readonly tickMs: number;

  constructor(readonly deps: HttpProxyDeps) {
    this.log = deps.logger.child({ module: `gateway.proxy.${deps.options.mode}` });
    this.emitter = new AuditEmitter(deps.audit, deps.metrics, this.log);
    this.pool = new UpstreamPool(MAX_IDLE_UPSTREAM);
    const o = deps.options;
    this.tickMs = Math.max(25, Math.min(1000, Math.floor(Math.min(o.connectTimeoutMs, o.idleTimeoutMs, o.keepAliveTimeoutMs ?? 5000) / 4)));
  }

  ticks(ms: number): number {
    return Math.ceil(ms / this.tickMs);
  }

  /**
   * Every deadline, checked by one timer: connections only record the tick of their last activity, so nothing is
   * armed or cleared per request (a deadline fires late by up to one tick, never early: a tick is at most a
   * quarter of the shortest timeout, and at most 1 s).
   */
  private sweep(): void {
    const now = ++this.tick;
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
      const ip = clientIp(sock.remoteAddress);
      this.clients.track(sock, ip);
      const c = new ClientConnection(this, sock, ip, this.deps.options.mode === 'transparent' ? dialledOf(readDialled(sock)) : undefined);
      this.connections.add(c);
      sock.once('close', () => this.connections.delete(c));
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.deps.options.port, this.deps.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.sweeper = setInterval(() => this.sweep(), this.tickMs);
    this.sweeper.unref();
    const port = (server.address() as net.AddressInfo).port;
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
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of this.connections) c.sock.destroy();
    this.pool.destroy();
    await closed;
    await this.emitter.drain(); // records of the requests and tunnels just closed reach the sink before we return
  }

  /** Where a request goes (target.ts): the absolute-form URI, else (transparent) the Host header. */
  targetOf(head: RequestHead): Target | undefined {
    return requestTarget(head, this.deps.options.mode);
  }

  onConnect(c: ClientConnection, head: RequestHead, rest: Buffer | undefined): void {
    const client = c.sock;
    const ip = c.ip;
    // The socket was paused (and its data listeners removed) for the tunnel: a refusal closes it gracefully, which
    // resumes it so that its FIN is read (a paused socket never saw it: the connection stayed in `connections` for
    // good, even after the client had gone) and closes a client that keeps its side open after a while.
    const reply = (status: string): void => {
      client.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      c.closeGracefully();
    };
    const session = this.deps.seats.lookupByIp(ip);
    if (!session) {
      this.deps.metrics.drops.inc({ reason: 'no_session' });
      this.log.debug({ ip, target: head.target }, 'CONNECT refused: no open session');
      return reply('403 Forbidden');
    }
    if (this.deps.options.mode !== 'explicit') return reply('405 Method Not Allowed');
    const target = authorityTarget(head.target);
    if (!target) {
      this.deps.metrics.drops.inc({ reason: 'bad_target' });
      return reply('400 Bad Request');
    }
    const act: Activity = { kind: 'tunnel', method: 'CONNECT', host: target.host, port: target.port, bytesUp: 0, bytesDown: 0, startedAt: Date.now(), verdict: 'allowed' };
    const allowed = this.deps.options.connectPorts ?? [443];
    if (allowed !== 'any' && !allowed.includes(target.port)) {
      this.deps.metrics.drops.inc({ reason: 'connect_port' });
      act.status = 403;
      act.verdict = 'refused';
      void this.emitter.emit(ip, session, act);
      return reply('403 Forbidden');
    }
    const decided = this.deps.destinations.decideWithin(target.host, this.deps.options.connectTimeoutMs);
    const go = (d: Decision): void => {
      if (client.destroyed) return;
      if (!d.allowed && d.reason === 'unresolved') {
        act.status = 502;
        act.verdict = 'error';
        void this.emitter.emit(ip, session, act);
        return reply('502 Bad Gateway');
      }
      if (!d.allowed) {
        this.countRefusal('connect', d.reason);
        act.status = 403;
        act.verdict = 'refused';
        act.detail = refusalDetail(d.reason, endpointText(d.address, target.port));
        void this.emitter.emit(ip, session, act);
        const page = destinationRefusalPage(d.reason);
        client.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(page.body)}\r\nconnection: close\r\n\r\n${page.body}`);
        return c.closeGracefully();
      }
      act.detail = dstDetail(endpointText(d.address, target.port));
      this.splice(c, session, act, { host: d.address, port: target.port }, rest);
    };
    if (decided instanceof Promise) void decided.then(go);
    else go(decided);
  }

  /** A refused destination, counted by path and reason (the record carries the reason too). */
  countRefusal(path: string, reason: string): void {
    this.deps.metrics.destinationRefusals.inc({ path, reason });
    this.log.debug({ path, reason }, 'destination refused');
  }

  private splice(c: ClientConnection, session: SeatSession, act: Activity, to: { host: string; port: number }, rest: Buffer | undefined): void {
    const client = c.sock;
    const ip = c.ip;
    const reply = (status: string): void => {
      client.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      c.closeGracefully();
    };
    let openId: number | undefined;
    spliceTunnel({
      client,
      first: rest ?? Buffer.alloc(0),
      target: to,
      connectTimeoutMs: this.deps.options.connectTimeoutMs,
      idleTimeoutMs: this.deps.options.idleTimeoutMs,
      tunnels: this.tunnels,
      metrics: this.deps.metrics,
      onConnected: () => {
        openId = this.emitter.opened(ip, session, { ...act, status: 200 });
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      },
      onFailed: () => {
        act.status = 502;
        reply('502 Bad Gateway');
      },
      onClosed: (verdict, up, down) => {
        act.verdict = verdict;
        act.bytesUp = up;
        act.bytesDown = down;
        if (act.status === undefined) act.status = verdict === 'allowed' ? 200 : 502;
        void this.emitter.emit(ip, session, act, openId);
      },
    });
  }
}

/** Closes a client connection with a TCP reset (RST), so that nothing it received can pass for a complete response. */
function reset(sock: Socket): void {
  if (!sock.destroyed) sock.resetAndDestroy();
}

/** The part of an exchange's life the client connection is in. */
const enum Phase {
  /** waiting for (more of) a request head */
  Head,
  /** a request is being relayed */
  Exchange,
  /** handed to a CONNECT tunnel */
  Tunnel,
  /** the exchange switched protocols (101): bytes go both ways through it unparsed */
  Upgraded,
  /** a final response is written or being written; nothing more is read */
  Closing,
}

interface Deadlines {
  connect: number;
  idle: number;
  keepAlive: number;
  headers: number;
}

/**
 * One client connection: reads request heads, runs one exchange at a time (pipelined requests wait in `buf`),
 * and goes back to reading heads when a response is complete and kept alive.
 */
class ClientConnection {
  private phase = Phase.Head;
  /** client bytes not consumed yet (a partial head, or pipelined requests) */
  buf: Buffer | undefined;
  private scanned = 0;
  /** tick of the last client activity, and of the first byte of the head being read */
  private seen: number;
  private headSince = -1;
  private ex: Exchange | undefined;
  /** the client half-closed: no more requests; close once the current response is out */
  clientEnded = false;

  constructor(
    readonly proxy: HttpProxy,
    readonly sock: Socket,
    readonly ip: string,
    /** transparent mode: where the client's connection was going (null: nowhere known); explicit: undefined */
    readonly dialled: Dialled | null | undefined,
  ) {
    this.seen = proxy.tick;
    sock.on('data', (c: Buffer) => this.onData(c));
    sock.on('end', () => this.onEnd());
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.ex?.clientClosed());
  }

  checkDeadlines(now: number, d: Deadlines): void {
    if (this.ex) return this.ex.checkDeadlines(now, d);
    if (this.phase !== Phase.Head) return;
    if (this.buf ? now - this.headSince > d.headers : now - this.seen > d.keepAlive) this.sock.destroy();
  }

  private onData(chunk: Buffer): void {
    this.seen = this.proxy.tick;
    if (this.phase === Phase.Upgraded) return this.ex!.tunnelUp(chunk);
    if (this.phase === Phase.Exchange && this.ex!.wantsBody()) {
      const used = this.ex!.requestBody(chunk);
      if (used === chunk.length) return;
      chunk = chunk.subarray(used);
    }
    if (this.phase === Phase.Closing || this.phase === Phase.Tunnel) return;
    if (this.buf === undefined) {
      this.buf = chunk;
      this.headSince = this.seen;
    } else this.buf = appendBytes(this.buf, chunk);
    if (this.phase === Phase.Head) this.nextRequest();
    else if (this.buf.length > MAX_HEAD_BYTES) this.sock.pause(); // pipelined: wait for the current exchange
  }

  private onEnd(): void {
    this.clientEnded = true;
    if (this.phase === Phase.Upgraded) return this.ex!.tunnelClientEnd();
    // the client's FIN in the middle of its request body: the body can never be complete, so the exchange fails
    // now (400, error record) instead of waiting for the idle deadline with a half-sent request upstream
    if (this.phase === Phase.Exchange && this.ex!.wantsBody()) return this.ex!.bodyCutByClient();
    if (this.phase === Phase.Head && !this.ex) this.sock.end();
  }

  /** Parses the next request head in `buf`, if it is complete, and starts its exchange. */
  private nextRequest(): void {
    const buf = this.buf;
    if (!buf) return;
    const start = skipEmptyLines(buf, 0);
    let head: RequestHead;
    let end: number;
    try {
      end = headEnd(buf, start, this.scanned);
      if (end < 0) {
        this.scanned = buf.length;
        return;
      }
      head = parseRequestHead(buf, start, end);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      this.proxy.deps.metrics.drops.inc({ reason: 'bad_request' });
      this.proxy.log.debug({ ip: this.ip, code: e.code, offset: e.offset }, 'bad request');
      return this.refuse(e.code === 'head_too_large' ? refusalPage(431, 'Request header fields too large', 'The request head is too large.') : BAD_REQUEST);
    }
    this.scanned = 0;
    this.buf = end < buf.length ? buf.subarray(end) : undefined;
    if (this.buf) this.headSince = this.proxy.tick;
    if (head.method === 'CONNECT') {
      this.phase = Phase.Tunnel;
      const rest = this.buf;
      this.buf = undefined;
      this.sock.removeAllListeners('data'); // the tunnel pipes the socket from here on
      this.sock.removeAllListeners('end');
      this.sock.pause();
      return this.proxy.onConnect(this, head, rest);
    }
    this.request(head);
  }

  private request(head: RequestHead): void {
    const p = this.proxy;
    const session = p.deps.seats.lookupByIp(this.ip);
    if (!session) {
      p.deps.metrics.drops.inc({ reason: 'no_session' });
      p.log.debug({ ip: this.ip, url: head.target }, 'refused: no open session');
      return this.refuse(NO_SESSION);
    }
    const target = requestTarget(head, p.deps.options.mode);
    if (!target) {
      p.deps.metrics.drops.inc({ reason: 'bad_target' });
      return this.refuse(BAD_TARGET);
    }
    let framing: Framing;
    try {
      framing = requestFraming(head);
    } catch (e) {
      if (!(e instanceof FramingError)) throw e;
      p.deps.metrics.drops.inc({ reason: 'bad_request' });
      return this.refuse(refusalPage(e.status, STATUS_CODES[e.status] ?? 'Bad request', e.message));
    }
    // RFC 9112 §9.3: HTTP/1.1 persists unless "close"; an HTTP/1.0 client gets its response and the close.
    const options = listTokens(fieldValues(head.fields, 'connection'));
    const keepAlive = head.minor === 1 && !options.includes('close');
    // RFC 9110 §7.8: an HTTP/1.1 client asks to switch protocols (WebSocket, RFC 6455 §4.1) with Upgrade and the
    // "upgrade" connection option; both are hop-by-hop, so the proxy asks the next hop itself. Only for a request
    // without a body: after a 101 every byte belongs to the new protocol, and a body could not be told from it.
    const upgrade = head.minor === 1 && framing.type === 'none' && options.includes('upgrade') ? listTokens(fieldValues(head.fields, 'upgrade')) : [];
    this.phase = Phase.Exchange;
    this.ex = new Exchange(this, session, head, target, framing, keepAlive, upgrade);
    this.ex.begin();
    // bytes after the head are the start of the body (or, for a body-less request, pipelined requests)
    if (this.buf && this.ex.wantsBody()) {
      const b = this.buf;
      this.buf = undefined;
      const used = this.ex.requestBody(b);
      if (used < b.length) this.buf = b.subarray(used);
    }
  }

  /** A refusal page, then the connection closes. */
  refuse(page: { status: number; body: string }, reason = STATUS_CODES[page.status] ?? ''): void {
    this.phase = Phase.Closing;
    this.buf = undefined;
    this.sock.end(
      `HTTP/1.1 ${page.status} ${reason}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(page.body)}\r\n` +
        `cache-control: no-store\r\nconnection: close\r\n\r\n${page.body}`,
    );
    this.closeGracefully();
  }

  /**
   * After our FIN, a client that never closes its side (or sent a body we did not read) cannot hold the socket. A
   * socket paused for backpressure or for a tunnel is resumed: what the client still sends is discarded (nothing
   * reads it any more) and its FIN is seen, so the socket closes as soon as the client has closed too.
   */
  closeGracefully(): void {
    if (this.sock.isPaused()) this.sock.resume();
    this.sock.setTimeout(this.proxy.deps.options.keepAliveTimeoutMs ?? 5000, () => this.sock.destroy());
  }

  /**
   * The exchange failed: a refusal page if none of the response was sent, else the connection is cut — with a
   * reset, not a FIN: after a response delimited by the close (no framing from upstream, or de-chunked for an
   * HTTP/1.0 client) a FIN would make the truncated response look complete.
   */
  exchangeFailed(page: { status: number; body: string } | undefined): void {
    this.ex = undefined;
    if (page) this.refuse(page);
    else {
      this.phase = Phase.Closing;
      reset(this.sock);
    }
  }

  /** The exchange is over and its response, if kept alive, fully written: read the next request. */
  exchangeDone(keepAlive: boolean): void {
    this.ex = undefined;
    // A client that half-closed still gets the answers to the requests it sent before its FIN (pipelined, in `buf`):
    // they were received, and dropping them would leave them without a response and without a record.
    if (!keepAlive || this.sock.destroyed || (this.clientEnded && !this.buf)) return this.endAfterResponse();
    this.phase = Phase.Head;
    this.seen = this.proxy.tick;
    if (this.sock.isPaused()) this.sock.resume();
    if (this.buf) {
      this.headSince = this.proxy.tick;
      this.nextRequest();
    }
    // after the client's FIN, a head that is still incomplete never will be
    if (this.clientEnded && this.phase === Phase.Head && !this.ex) this.endAfterResponse();
  }

  /** The exchange switched protocols: what the client sent after its request goes to the server as it is. */
  upgraded(): void {
    this.phase = Phase.Upgraded;
    const b = this.buf;
    this.buf = undefined;
    if (b) this.ex!.tunnelUp(b);
    if (this.clientEnded) this.ex?.tunnelClientEnd();
  }

  /** The upgraded connection's server side is gone: the client gets what is still queued, then the close. */
  tunnelClosed(): void {
    this.ex = undefined;
    this.endAfterResponse();
  }

  private endAfterResponse(): void {
    this.phase = Phase.Closing;
    this.buf = undefined;
    this.sock.end();
    this.closeGracefully();
  }
}

/** Where a response stands, as the exchange reads it from upstream. */
const enum Reading {
  Head,
  Body,
  Done,
  /** switched protocols (101): relaying both ways until either side closes */
  Tunnel,
}

/** One request and its response, relayed between a client connection and an upstream connection. */
class Exchange implements UpstreamUser {
  private readonly act: Activity;
  private up: Upstream | undefined;
  private reused = false;
  private retried = false;
  /** a 1xx went to the client: the exchange has begun there and is not retried */
  private interimSent = false;
  private readonly requestBodyReader: BodyReader | undefined;
  /** response bytes from upstream not yet consumed (a partial head) */
  private rbuf: Buffer | undefined;
  private scanned = 0;
  private reading = Reading.Head;
  private responseBody: BodyReader | undefined;
  /** response status line and forwarded fields, not yet written to the client */
  private clientHeadStart: string | undefined;
  /** response bytes held back (close-delimited bodies: the latest slice) */
  private held: Buffer[] = [];
  /** the client connection stays open after this response */
  private keepAlive: boolean;
  /** the upstream connection can carry another request after this response */
  private upstreamReusable = true;
  /** de-chunk the body for an HTTP/1.0 client */
  private dechunk = false;
  private headWritten = false;
  private finished = false;
  /** switched protocols: the audit log's note of this open connection (see AuditEmitter.opened) */
  private openId: number | undefined;
  private startTick: number;
  private seen: number;
  private readonly head: string;
  /** no upstream yet: the Host check or the destination decision (a name lookup) is under way */
  private resolving = false;
  /** request body bytes that arrived while resolving, written once the upstream connection exists */
  private pendingBody: Buffer[] | undefined;
  /** the pool key: the name and port as the client gave them (explicit), or the address dialled (transparent) */
  private readonly key: string;
  /** where the upstream connection goes once decided (an allowed IP literal), and its port */
  private dst: { address: string; port: number } | undefined;
  private hostMismatch = false;

  constructor(
    private readonly conn: ClientConnection,
    private readonly session: SeatSession,
    private readonly request: RequestHead,
    private readonly target: Target,
    framing: Framing,
    keepAlive: boolean,
    /** the protocols the client asks to upgrade to (lower case), none if it does not */
    private readonly upgrade: readonly string[],
  ) {
    this.keepAlive = keepAlive;
    const dialled = conn.dialled;
    const port = dialled ? dialled.port : target.port;
    this.key = dialled ? `${dialled.ip.value}:${port}` : `${target.host}:${port}`;
    this.act = { kind: 'http', method: request.method, host: target.host, port, url: target.url, bytesUp: 0, bytesDown: 0, startedAt: Date.now(), verdict: 'allowed' };
    this.requestBodyReader = framing.type === 'none' ? undefined : new BodyReader(framing);
    this.startTick = this.seen = conn.proxy.tick;
    const authority = target.port === 80 ? target.host : `${target.host}:${target.port}`;
    // RFC 9110 §6.2: an intermediary sends its own version; RFC 9112 §3.2.2: Host is the target's authority
    // The body is relayed as it arrived, so its framing goes with it: Transfer-Encoding for a chunked body, and
    // for a sized one a single Content-Length (RFC 9110 §8.6: a proxy may fold "5, 5" or repeated fields to one)
    const fields = forwardedHead(request.fields, { dropHost: true, keepTransferEncoding: framing.type === 'chunked', dropContentLength: true });
    const length = framing.type === 'length' ? `Content-Length: ${framing.length}\r\n` : '';
    const upgrading = upgrade.length ? `Connection: upgrade\r\nUpgrade: ${fieldValues(request.fields, 'upgrade').join(', ')}\r\n` : '';
    this.head = `${request.method} ${target.path} HTTP/1.1\r\nHost: ${authority}\r\n${fields}${length}${upgrading}Via: 1.${request.minor} bootgate\r\n\r\n`;
  }

  /**
   * Finds the upstream: (transparent) the Host field is checked against the address dialled; an idle connection
   * under this exchange's key is reused; else the destination policy decides (a name is resolved, once) and a
   * connection opens to the address it allowed. Any step may wait for a lookup; the connect deadline covers that.
   */
  begin(): void {
    this.resolving = true;
    const dialled = this.conn.dialled;
    if (dialled === null) return this.refuseDestination('not_redirected', undefined);
    if (!dialled) return this.findUpstream();
    const same = this.conn.proxy.deps.destinations.names(this.target.host, dialled.ip);
    if (typeof same === 'boolean') return this.afterHostCheck(same);
    same.then(
      (v) => this.afterHostCheck(v),
      () => this.afterHostCheck(false),
    );
  }

  private afterHostCheck(same: boolean): void {
    if (this.finished) return;
    if (!same) {
      this.hostMismatch = true;
      this.conn.proxy.deps.metrics.hostMismatches.inc({ path: 'transparent' });
      if (this.conn.proxy.deps.options.hostMismatch === 'refuse') return this.refuseDestination('host_mismatch', this.dialledText());
    }
    this.findUpstream();
  }

  private dialledText(): string | undefined {
    const d = this.conn.dialled;
    return d ? endpointText(formatIp(d.ip), d.port) : undefined;
  }

  private findUpstream(): void {
    const proxy = this.conn.proxy;
    const pooled = proxy.pool.acquire(this.key, this);
    if (pooled) return this.send(pooled, true);
    const dialled = this.conn.dialled;
    const decided = dialled ? proxy.deps.destinations.checkAddress(dialled.ip) : proxy.deps.destinations.decide(this.target.host);
    if (decided instanceof Promise) void decided.then((d) => this.afterDecision(d));
    else this.afterDecision(decided);
  }

  private afterDecision(d: Decision): void {
    if (this.finished) return;
    if (!d.allowed && d.reason === 'unresolved') return this.fail(502, 'name not resolved');
    const port = this.act.port;
    if (!d.allowed) return this.refuseDestination(d.reason, endpointText(d.address, port));
    this.send(this.conn.proxy.pool.connect(this.key, d.address, port, this), false);
  }

  /** The upstream is there: the request head goes, then any body bytes that came meanwhile. */
  private send(up: Upstream, reused: boolean): void {
    this.resolving = false;
    this.up = up;
    this.reused = reused;
    this.dst = { address: up.address, port: up.port };
    this.act.detail = dstDetail(endpointText(up.address, up.port), this.hostMismatch);
    up.sock.write(this.head, 'latin1');
    const pending = this.pendingBody;
    if (!pending) return;
    this.pendingBody = undefined;
    let ok = true;
    for (const b of pending) ok = up.sock.write(b);
    if (ok && this.conn.sock.isPaused()) this.conn.sock.resume();
  }

  /** The destination is refused: a 403 page, a `refused` record with the reason, and the client connection closes. */
  private refuseDestination(reason: RefusalReason | 'host_mismatch' | 'not_redirected', dst: string | undefined): void {
    if (!this.abandon()) return;
    const proxy = this.conn.proxy;
    proxy.countRefusal(proxy.deps.options.mode, reason);
    this.act.status = 403;
    this.act.verdict = 'refused';
    this.act.detail = refusalDetail(reason, dst);
    this.conn.exchangeFailed(reason === 'host_mismatch' ? HOST_MISMATCH : reason === 'not_redirected' ? NOT_REDIRECTED : destinationRefusalPage(reason));
    void proxy.emitter.emit(this.conn.ip, this.session, this.act);
  }

  checkDeadlines(now: number, d: Deadlines): void {
    if (this.finished) return;
    if (this.resolving) {
      if (now - this.startTick > d.connect) this.fail(502, 'destination lookup timeout');
      return;
    }
    if (!this.up) return;
    if (this.up.connecting) {
      if (now - this.startTick > d.connect) this.up.destroy(new Error('upstream connect timeout'));
    } else if (now - this.seen > d.idle) this.up.destroy(new Error('upstream timeout'));
  }

  wantsBody(): boolean {
    return this.requestBodyReader !== undefined && !this.requestBodyReader.done && !this.finished;
  }

  /** Relays request body bytes upstream; returns how many of `chunk` belong to this body. */
  requestBody(chunk: Buffer): number {
    const r = this.requestBodyReader!;
    let used: number;
    try {
      used = r.feed(chunk, 0, chunk.length);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      this.conn.proxy.deps.metrics.drops.inc({ reason: 'bad_request' });
      this.fail(400, 'bad request body');
      return chunk.length;
    }
    this.seen = this.conn.proxy.tick;
    this.act.bytesUp = r.payload;
    const bytes = used === chunk.length ? chunk : chunk.subarray(0, used);
    if (this.resolving) {
      // no upstream yet: held (one chunk at most, the client is paused until the connection exists)
      (this.pendingBody ??= []).push(bytes);
      this.conn.sock.pause();
    } else if (this.up && !this.up.sock.write(bytes)) this.conn.sock.pause();
    return used;
  }

  /** The client half-closed before the request body was complete. */
  bodyCutByClient(): void {
    this.fail(400, 'request body cut short by the client');
  }

  onUpstreamDrain(): void {
    if ((this.wantsBody() || this.reading === Reading.Tunnel) && this.conn.sock.isPaused()) this.conn.sock.resume();
  }

  onUpstreamData(chunk: Buffer): void {
    this.seen = this.conn.proxy.tick;
    if (this.reading === Reading.Tunnel) return this.tunnelDown(chunk);
    // (after the response, the connection is back in the pool, where a server's stray bytes close it)
    if (this.finished) return;
    let off = 0;
    if (this.reading === Reading.Head) {
      const buf = this.rbuf ? appendBytes(this.rbuf, chunk) : chunk;
      this.rbuf = undefined;
      for (;;) {
        let end: number;
        let head: ResponseHead;
        try {
          end = headEnd(buf, off, this.scanned);
          if (end < 0) {
            this.rbuf = off ? buf.subarray(off) : buf;
            this.scanned = this.rbuf.length;
            return;
          }
          head = parseResponseHead(buf, off, end);
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
          return this.badUpstream(e.code);
        }
        this.scanned = 0;
        off = end;
        if (head.status >= 100 && head.status < 200) {
          // RFC 9110 §15.2: interim responses are forwarded (not to HTTP/1.0 clients); a 101 only answers an
          // upgrade the client asked for, and ends HTTP on both connections
          if (head.status === 101) return this.switchProtocols(head, buf.subarray(end));
          this.interimSent = true;
          if (this.request.minor === 1) this.conn.sock.write(`HTTP/1.1 ${head.status} ${head.reason}\r\n${forwardedHead(head.fields, {})}\r\n`, 'latin1');
          continue;
        }
        let framing: Framing;
        try {
          framing = responseFraming(head, this.request.method);
        } catch (e) {
          if (!(e instanceof FramingError)) throw e;
          return this.badUpstream(e.code);
        }
        this.startBody(head, framing);
        break;
      }
      chunk = buf;
    }
    this.body(chunk, off);
  }

  /**
   * RFC 9110 §15.2.2 / §7.8: the server switched to a protocol the client asked for; the 101 goes to the client
   * with the Upgrade and Connection fields this hop needs, and from here the two connections are spliced. The
   * exchange's record is written when the tunnel closes, with the bytes each way (as for a CONNECT tunnel).
   */
  private switchProtocols(head: ResponseHead, rest: Buffer): void {
    const protocols = fieldValues(head.fields, 'upgrade');
    const chosen = listTokens(protocols);
    if (this.upgrade.length === 0 || chosen.length === 0 || !chosen.every((p) => this.upgrade.includes(p))) return this.badUpstream('unrequested_upgrade');
    const proxy = this.conn.proxy;
    this.act.status = 101;
    this.reading = Reading.Tunnel;
    this.upstreamReusable = false;
    this.headWritten = true;
    this.interimSent = true;
    proxy.deps.metrics.activeTunnels.inc();
    this.openId = proxy.emitter.opened(this.conn.ip, this.session, this.act);
    const sock = this.conn.sock;
    sock.cork();
    sock.write(`HTTP/1.1 101 ${head.reason}\r\n${forwardedHead(head.fields, {})}Connection: upgrade\r\nUpgrade: ${protocols.join(', ')}\r\nVia: 1.${head.minor} bootgate\r\n\r\n`, 'latin1');
    if (rest.length) this.tunnelDown(rest);
    sock.uncork();
    this.conn.upgraded();
  }

  /** Switched protocols: client bytes go to the server as they are. */
  tunnelUp(chunk: Buffer): void {
    this.seen = this.conn.proxy.tick;
    this.act.bytesUp += chunk.length;
    if (this.up && !this.up.sock.write(chunk)) this.conn.sock.pause();
  }

  /** Switched protocols: server bytes go to the client as they are (the server waits while the client is slow). */
  private tunnelDown(chunk: Buffer): void {
    this.act.bytesDown += chunk.length;
    if (!this.conn.sock.write(chunk)) this.upstreamWaitsForClient();
  }

  /** Switched protocols: the client half-closed; so does the connection to the server. */
  tunnelClientEnd(): void {
    this.up?.sock.end();
  }

  /** Switched protocols: either side closed; the other goes too, and the record is written. */
  private endTunnel(): void {
    if (this.finished) return;
    this.finished = true;
    this.reading = Reading.Done;
    const up = this.up;
    this.up = undefined;
    if (up) {
      up.user = undefined;
      up.destroy();
    }
    const proxy = this.conn.proxy;
    proxy.deps.metrics.activeTunnels.dec();
    void proxy.emitter.emit(this.conn.ip, this.session, this.act, this.openId);
    this.conn.tunnelClosed();
  }

  private startBody(head: ResponseHead, framing: Framing): void {
    this.act.status = head.status;
    this.reading = Reading.Body;
    // RFC 9112 §9.3: the server's connection persists unless it says close (or is HTTP/1.0 without keep-alive)
    const conn = listTokens(fieldValues(head.fields, 'connection'));
    if (conn.includes('close') || (head.minor === 0 && !conn.includes('keep-alive')) || framing.type === 'close') this.upstreamReusable = false;
    if (framing.type === 'close') this.keepAlive = false;
    const te = framing.type !== 'none' && fieldValues(head.fields, 'transfer-encoding').length > 0;
    // RFC 9112 §6.1: after a response with Transfer-Encoding and Content-Length, or Transfer-Encoding from an
    // HTTP/1.0 server, the connection is closed (its framing cannot be trusted for a next message)
    if (te && (head.minor === 0 || fieldValues(head.fields, 'content-length').length > 0)) this.upstreamReusable = false;
    this.dechunk = framing.type === 'chunked' && this.request.minor === 0;
    const out = this.dechunk ? (b: Buffer, s: number, e: number) => this.out(b.subarray(s, e)) : undefined;
    this.responseBody = new BodyReader(framing, out);
    // A sized body goes on with one Content-Length. So does a list of identical values ("0, 0", or the field
    // repeated) on a body-less response (RFC 9110 §8.6: a recipient may fold it; a sender must not send a list, and
    // llhttp refuses one); else a HEAD, 204 or 304 response keeps its Content-Length as sent (it describes a body
    // that is not there).
    const cls = te ? [] : fieldValues(head.fields, 'content-length');
    const listed = cls.length > 1 || cls[0]?.includes(',') ? contentLength(cls) : undefined;
    const folded = framing.type === 'length' ? framing.length : typeof listed === 'number' ? listed : undefined;
    const length = folded === undefined ? '' : `Content-Length: ${folded}\r\n`;
    this.clientHeadStart =
      `HTTP/1.1 ${head.status} ${head.reason}\r\n` +
      forwardedHead(head.fields, { keepTransferEncoding: te && !this.dechunk, dropContentLength: te || folded !== undefined }) +
      `${length}Via: 1.${head.minor} bootgate\r\n`;
  }

  /** The response head as the client gets it; whether the connection stays open is decided when it leaves. */
  private clientHead(): string {
    return `${this.clientHeadStart!}${this.keepAlive ? '' : 'Connection: close\r\n'}\r\n`;
  }

  /** Relays response body bytes from `chunk[off..]`; holds back what completes the response. */
  private body(chunk: Buffer, off: number): void {
    const r = this.responseBody!;
    let used: number;
    try {
      used = r.feed(chunk, off, chunk.length);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      return this.badUpstream(e.code);
    }
    if (used < chunk.length) this.upstreamReusable = false; // more than the framing said
    this.act.bytesDown = r.payload;
    if (!this.dechunk && used > off) this.out(off === 0 && used === chunk.length ? chunk : chunk.subarray(off, used));
    if (r.done) this.complete();
    else this.flushUnlessClose();
  }

  /** Bytes for the client, queued in `held` until it is known whether they complete the response. */
  private out(b: Buffer): void {
    if (b.length) this.held.push(b);
  }

  /** While the response goes on, what was queued can go (close-delimited bodies keep their latest slice). */
  private flushUnlessClose(): void {
    const keep = this.responseBody!.delimitedByClose ? 1 : 0;
    if (this.held.length <= keep && this.headWritten) return;
    const send = this.held.splice(0, this.held.length - keep);
    const sock = this.conn.sock;
    sock.cork();
    if (!this.headWritten) {
      sock.write(this.clientHead(), 'latin1');
      this.headWritten = true;
    }
    let ok = true;
    for (const b of send) ok = sock.write(b);
    sock.uncork();
    if (!ok) this.upstreamWaitsForClient();
  }

  /** The client's socket is full: the server's connection is paused until it drains (backpressure). */
  private upstreamWaitsForClient(): void {
    const up = this.up;
    if (!up || up.sock.isPaused()) return;
    up.sock.pause();
    this.conn.sock.once('drain', () => up.sock.resume());
  }

  /** The response is complete: record it, and let the client see it only once the record is committed. */
  private complete(): void {
    this.reading = Reading.Done;
    this.finished = true;
    const up = this.up;
    const proxy = this.conn.proxy;
    // a server may answer before the whole request body arrived (RFC 9112 §9.5): the rest of the body cannot be
    // told from the next request, so this client connection ends with this response
    if (this.wantsBodyUnfinished()) this.keepAlive = false;
    // the upstream connection is free as soon as the response and the request body are through
    if (up && this.upstreamReusable && !this.wantsBodyUnfinished()) {
      this.up = undefined;
      proxy.pool.release(up, proxy.tick);
    } else if (up) {
      this.up = undefined;
      up.user = undefined;
      up.destroy();
    }
    void proxy.emitter.emit(this.conn.ip, this.session, this.act).then((committed) => {
      const sock = this.conn.sock;
      if (!committed) return reset(sock); // not in the trail: the client must not see it complete (a FIN could end a close-delimited body)
      if (sock.destroyed) return;
      const held = this.held;
      this.held = [];
      if (!this.headWritten && held.length === 1 && held[0]!.length <= SMALL_BODY) {
        // the common small response: head and body in one write
        const head = this.clientHead();
        const h = Buffer.byteLength(head, 'latin1');
        const b = Buffer.allocUnsafe(h + held[0]!.length);
        b.write(head, 0, 'latin1');
        held[0]!.copy(b, h);
        sock.write(b);
      } else {
        sock.cork();
        if (!this.headWritten) sock.write(this.clientHead(), 'latin1');
        for (const b of held) sock.write(b);
        sock.uncork();
      }
      this.headWritten = true;
      this.conn.exchangeDone(this.keepAlive);
    });
  }

  private wantsBodyUnfinished(): boolean {
    return this.requestBodyReader !== undefined && !this.requestBodyReader.done;
  }

  onUpstreamEnd(): void {
    if (this.reading === Reading.Tunnel) return void this.conn.sock.end();
    if (this.reading === Reading.Body && this.responseBody!.delimitedByClose) {
      this.responseBody!.end();
      this.upstreamReusable = false;
      this.complete();
    }
    // otherwise the close that follows reports it
  }

  onUpstreamClose(err: Error | undefined): void {
    this.up = undefined;
    if (this.reading === Reading.Tunnel) return this.endTunnel();
    if (this.finished) return;
    // A kept-alive connection the server had closed before our request reached it: one retry on a new
    // connection, for a request without a body (nothing else was sent that could have had an effect).
    if (this.reused && !this.retried && !this.interimSent && this.reading === Reading.Head && !this.rbuf && this.requestBodyReader === undefined) {
      this.retried = true;
      this.reused = false;
      this.startTick = this.seen = this.conn.proxy.tick; // a new connect deadline for the new connection
      const dst = this.dst!;
      this.up = this.conn.proxy.pool.connect(this.key, dst.address, dst.port, this);
      this.up.sock.write(this.head, 'latin1');
      return;
    }
    this.fail(502, err?.message ?? 'upstream closed');
  }

  private badUpstream(code: string): void {
    this.conn.proxy.deps.metrics.drops.inc({ reason: 'bad_upstream' });
    this.conn.proxy.log.debug({ ip: this.conn.ip, url: this.target.url, code }, 'upstream broke HTTP/1.1');
    this.fail(502, code);
  }

  /**
   * The exchange failed: the client gets a 502 page if nothing of the response was sent yet, else its connection
   * is cut (it sees a truncated response, never a complete one); either way an error record.
   */
  private fail(status: number, why: string): void {
    if (!this.abandon()) return;
    const conn = this.conn;
    conn.proxy.log.debug({ ip: conn.ip, url: this.target.url, why }, 'exchange failed');
    if (!this.headWritten && !conn.sock.destroyed) {
      this.act.status = status;
      conn.exchangeFailed(status === 400 ? BAD_REQUEST : refusalPage(502, 'Bad gateway', `The site ${this.target.host} could not be reached.`));
    } else conn.exchangeFailed(undefined);
    void conn.proxy.emitter.emit(conn.ip, this.session, this.act);
  }

  /** The client went away mid-exchange. */
  clientClosed(): void {
    if (this.reading === Reading.Tunnel) return this.endTunnel();
    if (!this.abandon()) return;
    void this.conn.proxy.emitter.emit(this.conn.ip, this.session, this.act);
  }

  /** Ends an unfinished exchange as an error: its upstream connection is closed. False when it had ended already. */
  private abandon(): boolean {
    if (this.finished) return false;
    this.finished = true;
    const up = this.up;
    this.up = undefined;
    if (up) {
      up.user = undefined;
      up.destroy();
    }
    this.act.verdict = 'error';
    return true;
  }
}
export interface SpliceOptions {
  client: Duplex;
  /** bytes the client already sent, written upstream first */
  first: Buffer;
  /** an IP literal the destination policy allowed (never a name: it was resolved once, by the policy) */
  target: { host: string; port: number };
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  tunnels: Set<Socket | Duplex>;
  metrics: GatewayMetrics;
  onConnected: () => void;
  onFailed: () => void;
  onClosed: (verdict: 'allowed' | 'error', bytesUp: number, bytesDown: number) => void;
}

/** Opens the upstream connection and splices it to the client both ways (pipe keeps backpressure). */
export function spliceTunnel(o: SpliceOptions): void {
  const up = net.connect({ host: o.target.host, port: o.target.port });
  up.setNoDelay(true);
  o.tunnels.add(o.client);
  o.tunnels.add(up);
  o.metrics.activeTunnels.inc();
  let connected = false;
  let failed = false;
  let closed = 0;
  const connectTimer = setTimeout(() => up.destroy(new Error('connect timeout')), o.connectTimeoutMs);
  up.once('connect', () => {
    clearTimeout(connectTimer);
    connected = true;
    o.onConnected();
    if (o.first.length) up.write(o.first);
    up.setTimeout(o.idleTimeoutMs, () => up.destroy(new Error('idle timeout')));
    o.client.pipe(up);
    up.pipe(o.client);
  });
  const onClose = () => {
    if (++closed !== 2) return;
    clearTimeout(connectTimer);
    o.tunnels.delete(o.client);
    o.tunnels.delete(up);
    o.metrics.activeTunnels.dec();
    o.onClosed(connected && !failed ? 'allowed' : 'error', up.bytesWritten, up.bytesRead);
  };
  up.on('error', () => {
    if (!connected && !failed) {
      failed = true;
      o.onFailed(); // the client gets its refusal (if any) and is closed once it is flushed
    } else o.client.destroy();
  });
  o.client.on('error', () => up.destroy());
  up.once('close', () => {
    if (connected) o.client.destroy();
    else if (!failed) {
      failed = true;
      o.onFailed();
    }
    onClose();
  });
  o.client.once('close', () => {
    up.destroy();
    onClose();
  });
}
