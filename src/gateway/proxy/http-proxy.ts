/**
 * The logging HTTP proxy, in one of two modes:
 *   explicit     — seats configured to use it: absolute-form requests (RFC 9112 §3.2.2) and CONNECT tunnels
 *                  (RFC 9110 §9.3.6).
 *   transparent  — seat tcp/80 redirected here by nftables: origin-form requests, upstream taken from Host
 *                  (RFC 9112 §3.2.1). (Node cannot read SO_ORIGINAL_DST, so the Host header is the destination.)
 * A client address without an open session is refused (403) before anything is sent upstream. Each request or
 * tunnel becomes one audit record. Bodies stream through with backpressure (pipeline), never buffered.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import type { LookupFunction } from 'node:net';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream';
import type { Logger } from '../../log/logger.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { AuditSink, SeatLookup, SeatSession } from '../ports.ts';
import { AuditEmitter, clientIp, type Activity } from './audit.ts';
import { endToEndHeaders, parseAuthority, refusalPage } from './headers.ts';

export interface HttpProxyOptions {
  mode: 'explicit' | 'transparent';
  host: string;
  port: number;
  /** time to open the upstream TCP connection */
  connectTimeoutMs: number;
  /** a request or tunnel with no traffic either way for this long is closed */
  idleTimeoutMs: number;
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

export class HttpProxy {
  private readonly log: Logger;
  private readonly emitter: AuditEmitter;
  private readonly agent: http.Agent;
  private server: http.Server | undefined;
  private readonly tunnels = new Set<Socket | Duplex>();

  constructor(private readonly deps: HttpProxyDeps) {
    this.log = deps.logger.child({ module: `gateway.proxy.${deps.options.mode}` });
    this.emitter = new AuditEmitter(deps.audit, deps.metrics, this.log);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024 });
  }

  async start(): Promise<number> {
    const server = http.createServer({ noDelay: true, keepAliveTimeout: 5_000, requestTimeout: 0, headersTimeout: 30_000 });
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
    const port = (server.address() as net.AddressInfo).port;
    this.log.info({ host: this.deps.options.host, port }, `${this.deps.options.mode} HTTP proxy listening`);
    return port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const t of this.tunnels) t.destroy();
    this.tunnels.clear();
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
    const finish = (verdict: 'allowed' | 'error') => {
      if (done) return;
      done = true;
      act.verdict = act.verdict === 'error' ? 'error' : verdict;
      void this.emitter.emit(ip, session, act);
    };
    const headers = endToEndHeaders(req.headers);
    headers.host = t.port === 80 ? t.host : `${t.host}:${t.port}`;
    const up = http.request({
      host: t.host,
      port: t.port,
      method: req.method,
      path: t.path,
      headers,
      agent: this.agent,
      lookup: this.deps.lookup,
    });
    // Timeouts are armed by hand: the `timeout` request/agent options re-arm socket timers on every reuse and
    // halved throughput under load (docs/bench/proxy.md). Nagle off: a proxy relays small writes at once.
    up.once('socket', (s: Socket) => {
      s.setNoDelay(true);
      const idle = () => up.setTimeout(this.deps.options.idleTimeoutMs);
      if (!s.connecting) return idle();
      const timer = setTimeout(() => up.destroy(new Error('upstream connect timeout')), this.deps.options.connectTimeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        idle();
      });
      s.once('close', () => clearTimeout(timer));
    });
    up.on('timeout', () => up.destroy(new Error('upstream timeout')));
    up.on('error', (err) => {
      act.verdict = 'error';
      this.log.debug({ ip, url: t.url, err: err.message }, 'upstream error');
      if (!res.headersSent) {
        act.status = 502;
        this.refuse(res, refusalPage(502, 'Bad gateway', `The site ${t.host} could not be reached.`));
      } else res.destroy();
      finish('error');
    });
    up.on('response', (ur) => {
      act.status = ur.statusCode;
      res.writeHead(ur.statusCode ?? 502, ur.statusMessage, endToEndHeaders(ur.headers));
      ur.on('data', (c: Buffer) => (act.bytesDown += c.length));
      pipeline(ur, res, (err) => finish(err ? 'error' : 'allowed'));
    });
    req.on('data', (c: Buffer) => (act.bytesUp += c.length));
    pipeline(req, up, (err) => {
      if (err) {
        up.destroy();
        finish('error');
      }
    });
    res.on('close', () => {
      if (!res.writableFinished) {
        up.destroy();
        finish('error');
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
