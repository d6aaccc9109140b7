/**
 * The logging HTTP proxy, in one of two modes:
 *   explicit     — seats configured to use it: absolute-form requests (RFC 9112 §3.2.2) and CONNECT tunnels
 *                  (RFC 9110 §9.3.6).
 *   transparent  — seat tcp/80 redirected here by nftables: origin-form requests, upstream taken from Host
 *                  (RFC 9112 §3.2.1). (Node cannot read SO_ORIGINAL_DST, so the Host header is the destination.)
 * A client address without an open session is refused (403) before anything is sent upstream. Each request or
 * tunnel becomes one audit record. Bodies stream through with backpressure, never buffered.
 *
 * Durability: a response the client sees complete has its audit record committed. The last chunk of every
 * response (or, for an empty body, the header block itself) is held back until the group commit holding the
 * record has resolved; if the commit fails the client connection is reset instead, so it never sees a complete
 * response that is missing from the trail.
 *
 * The per-request path is kept lean (docs/bench/proxy.md has the profile): no stream.pipeline() (it builds an
 * AbortController per call and a DOMException with a stack trace when it finishes), headers copied as flat raw
 * lists, no per-request timers (one sweep per proxy checks connect and idle deadlines), Nagle off once per
 * upstream socket (agent option), and the URL split by hand in the common case.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import type { LookupFunction } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../log/logger.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { AuditSink, SeatLookup, SeatSession } from '../ports.ts';
import { AuditEmitter, clientIp, type Activity } from './audit.ts';
import { SeatConnections } from './seat-connections.ts';
import { endToEndRawHeaders, parseAuthority, refusalPage } from './headers.ts';

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
}

export interface HttpProxyDeps {
  options: HttpProxyOptions;
  seats: SeatLookup;
  audit: AuditSink;
  logger: Logger;
  metrics: GatewayMetrics;
  /** name resolution for upstream hosts (default: the system resolver) */
  lookup?: LookupFunction;
}

const NO_SESSION = refusalPage(403, 'No open session', 'This seat has no open session. Please see the cashier.');

/** One proxied request in flight, as the timeout sweep sees it. */
interface Exchange {
  up: http.ClientRequest;
  /** sweep tick of the last byte either way (or of the start) */
  seen: number;
  startTick: number;
}

/**
 * The absolute-form URI split without `new URL` when it is already in the form URL would produce: a lower-case
 * host without a trailing dot, no dot segments, only characters the WHATWG URL parser leaves alone in a path and
 * query; anything else goes through URL, as does a host URL would read as an IPv4 number (last label numeric or
 * 0x…) unless it is a plain dotted quad.
 */
const PLAIN_ABSOLUTE = /^http:\/\/([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::(\d{1,5}))?(\/[A-Za-z0-9\-_~!$&()*+,;=:@/?%]*)?$/;
const NUMERIC_LABEL = /(?:^|\.)(?:\d+|0x[0-9a-f]*)$/;
const DOTTED_QUAD = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export class HttpProxy {
  private readonly log: Logger;
  private readonly emitter: AuditEmitter;
  private readonly agent: http.Agent;
  private server: http.Server | undefined;
  private readonly tunnels = new Set<Socket | Duplex>();
  /** every open client connection by seat address (for closeSeat) */
  private readonly clients = new SeatConnections();
  private readonly live = new Set<Exchange>();
  private sweeper: NodeJS.Timeout | undefined;
  private tick = 0;
  private readonly tickMs: number;

  constructor(private readonly deps: HttpProxyDeps) {
    this.log = deps.logger.child({ module: `gateway.proxy.${deps.options.mode}` });
    this.emitter = new AuditEmitter(deps.audit, deps.metrics, this.log);
    // noDelay here sets TCP_NODELAY once when the agent opens a socket, not on every reuse (a proxy relays small
    // writes at once). No `timeout` option: it re-arms socket timers on every reuse (docs/bench/proxy.md).
    this.agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024, noDelay: true } as http.AgentOptions);
    const o = deps.options;
    this.tickMs = Math.max(25, Math.min(1000, Math.floor(Math.min(o.connectTimeoutMs, o.idleTimeoutMs) / 4)));
  }

  /**
   * Connect and idle deadlines for every request in flight, checked by one timer: a request only records the
   * tick of its last activity, so nothing is armed or cleared per request (a deadline fires late by up to one
   * tick, never early: a tick is at most a quarter of the shorter timeout, and at most 1 s).
   */
  private sweep(): void {
    const now = ++this.tick;
    const connectTicks = Math.ceil(this.deps.options.connectTimeoutMs / this.tickMs);
    const idleTicks = Math.ceil(this.deps.options.idleTimeoutMs / this.tickMs);
    for (const ex of this.live) {
      // No socket yet (name lookup) or one still connecting: the connect deadline applies.
      const s = ex.up.socket;
      if ((!s || s.connecting) && now - ex.startTick > connectTicks) ex.up.destroy(new Error('upstream connect timeout'));
      else if (now - ex.seen > idleTicks) ex.up.destroy(new Error('upstream timeout'));
    }
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
    const server = http.createServer({ noDelay: true, keepAliveTimeout: 5_000, requestTimeout: 0, headersTimeout: 30_000 });
    server.on('connection', (sock: Socket) => this.clients.track(sock, clientIp(sock.remoteAddress)));
    server.on('request', (req, res) => this.onRequest(req, res));
    server.on('connect', (req, socket, head) => this.onConnect(req, socket, head));
    server.on('clientError', (err, socket) => {
      this.deps.metrics.drops.inc({ reason: 'bad_request' });
      this.log.debug({ err: (err as Error).message, peer: (socket as Socket).remoteAddress }, 'bad request');
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
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
    server.closeAllConnections();
    this.agent.destroy();
    await closed;
    await this.emitter.drain(); // records of the requests and tunnels just closed reach the sink before we return
  }

  private refuse(res: ServerResponse, page: { status: number; body: string }): void {
    res.writeHead(page.status, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(page.body), connection: 'close', 'cache-control': 'no-store' });
    res.end(page.body);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const ip = clientIp(req.socket.remoteAddress);
    const session = this.deps.seats.lookupByIp(ip);
    if (!session) {
      this.deps.metrics.drops.inc({ reason: 'no_session' });
      this.log.debug({ ip, url: req.url }, 'refused: no open session');
      return this.refuse(res, NO_SESSION);
    }
    const target = this.targetOf(req);
    if (!target) {
      this.deps.metrics.drops.inc({ reason: 'bad_target' });
      return this.refuse(res, refusalPage(400, 'Bad request', 'The request does not name a host this proxy can reach.'));
    }
    this.forward(req, res, ip, session, target);
  }

  /** Where a request goes: the absolute-form URI, else (transparent) the Host header. */
  private targetOf(req: IncomingMessage): { host: string; port: number; path: string; url: string } | undefined {
    const raw = req.url ?? '';
    const m = PLAIN_ABSOLUTE.exec(raw);
    if (m && !raw.includes('/.', 7) && (!NUMERIC_LABEL.test(m[1]!) || DOTTED_QUAD.test(m[1]!))) {
      const port = m[2] === undefined ? 80 : Number(m[2]);
      if (port < 1 || port > 65535) return undefined;
      const path = m[3] ?? '/';
      const authority = port === 80 ? m[1]! : `${m[1]!}:${port}`;
      return { host: m[1]!, port, path, url: `http://${authority}${path}` };
    }
    if (/^http:\/\//i.test(raw)) {
      let u: URL;
      try {
        u = new URL(raw);
      } catch {
        return undefined;
      }
      const a = parseAuthority(u.host, 80);
      if (!a) return undefined;
      return { ...a, path: `${u.pathname}${u.search}`, url: `http://${u.host}${u.pathname}${u.search}` };
    }
    if (this.deps.options.mode !== 'transparent' || !raw.startsWith('/')) return undefined;
    const a = parseAuthority(req.headers.host ?? '', 80);
    if (!a) return undefined;
    const authority = a.port === 80 ? a.host : `${a.host}:${a.port}`;
    return { ...a, path: raw, url: `http://${authority}${raw}` };
  }

  private forward(req: IncomingMessage, res: ServerResponse, ip: string, session: SeatSession, t: { host: string; port: number; path: string; url: string }): void {
    const act: Activity = { kind: 'http', method: req.method, host: t.host, port: t.port, url: t.url, bytesUp: 0, bytesDown: 0, startedAt: Date.now(), verdict: 'allowed' };
    let done = false;
    /** The record of a request that did not complete (the client does not see a complete response). */
    const fail = () => {
      if (done) return;
      done = true;
      this.live.delete(ex);
      act.verdict = 'error';
      void this.emitter.emit(ip, session, act);
    };
    const up = http.request({
      host: t.host,
      port: t.port,
      method: req.method,
      path: t.path,
      headers: endToEndRawHeaders(req.rawHeaders, t.port === 80 ? t.host : `${t.host}:${t.port}`),
      agent: this.agent,
      lookup: this.deps.lookup,
    });
    const ex: Exchange = { up, seen: this.tick, startTick: this.tick };
    this.live.add(ex);
    up.on('error', (err) => {
      this.log.debug({ ip, url: t.url, err: err.message }, 'upstream error');
      if (!res.headersSent && !done) {
        act.status = 502;
        this.refuse(res, refusalPage(502, 'Bad gateway', `The site ${t.host} could not be reached.`));
      } else res.destroy();
      fail();
    });
    up.on('response', (ur) => {
      act.status = ur.statusCode;
      // Headers are only queued here: they leave with the first body chunk, or with res.end() for an empty body.
      res.writeHead(ur.statusCode ?? 502, ur.statusMessage, endToEndRawHeaders(ur.rawHeaders));
      // One chunk is always held back, so the client cannot see the response complete (the last Content-Length
      // byte or the last chunk) before the record is committed.
      let held: Buffer | undefined;
      let drainHooked = false;
      ur.on('data', (c: Buffer) => {
        act.bytesDown += c.length;
        ex.seen = this.tick;
        if (held !== undefined && !res.write(held)) {
          ur.pause();
          if (!drainHooked) res.on('drain', () => ur.resume());
          drainHooked = true;
        }
        held = c;
      });
      ur.on('error', () => undefined); // reported by 'close' below (and by up's 'error')
      ur.once('end', () => {
        if (done) return;
        done = true;
        this.live.delete(ex);
        void this.emitter.emit(ip, session, act).then((committed) => {
          if (committed) res.end(held);
          else res.destroy(); // not in the trail: the client must not see it complete
        });
      });
      ur.once('close', () => {
        if (!ur.complete) {
          res.destroy();
          fail();
        }
      });
    });
    // RFC 9112 §6.3: a request with neither Content-Length nor Transfer-Encoding has no body.
    const te = req.headers['transfer-encoding'];
    const cl = req.headers['content-length'];
    if (te === undefined && (cl === undefined || cl === '0')) up.end();
    else {
      req.on('data', (c: Buffer) => {
        act.bytesUp += c.length;
        ex.seen = this.tick;
        if (!up.write(c)) req.pause();
      });
      up.on('drain', () => req.resume());
      req.once('end', () => up.end());
    }
    res.once('close', () => {
      if (!res.writableFinished) {
        up.destroy();
        fail();
      }
    });
  }

  private onConnect(req: IncomingMessage, client: Duplex, head: Buffer): void {
    const ip = clientIp((client as Socket).remoteAddress);
    const reply = (status: string): void => void client.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    client.on('error', () => client.destroy());
    const session = this.deps.seats.lookupByIp(ip);
    if (!session) {
      this.deps.metrics.drops.inc({ reason: 'no_session' });
      this.log.debug({ ip, target: req.url }, 'CONNECT refused: no open session');
      return reply('403 Forbidden');
    }
    if (this.deps.options.mode !== 'explicit') return reply('405 Method Not Allowed');
    const target = parseAuthority(req.url ?? '', 0);
    if (!target || target.port === 0) {
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
    spliceTunnel({
      client,
      first: head,
      target,
      lookup: this.deps.lookup,
      connectTimeoutMs: this.deps.options.connectTimeoutMs,
      idleTimeoutMs: this.deps.options.idleTimeoutMs,
      tunnels: this.tunnels,
      metrics: this.deps.metrics,
      onConnected: () => client.write('HTTP/1.1 200 Connection Established\r\n\r\n'),
      onFailed: () => {
        act.status = 502;
        reply('502 Bad Gateway');
        client.once('finish', () => client.destroy());
      },
      onClosed: (verdict, up, down) => {
        act.verdict = verdict;
        act.bytesUp = up;
        act.bytesDown = down;
        if (act.status === undefined) act.status = verdict === 'allowed' ? 200 : 502;
        void this.emitter.emit(ip, session, act);
      },
    });
  }
}

export interface SpliceOptions {
  client: Duplex;
  /** bytes the client already sent, written upstream first */
  first: Buffer;
  target: { host: string; port: number };
  lookup?: LookupFunction;
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
  const up = net.connect({ host: o.target.host, port: o.target.port, lookup: o.lookup });
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
