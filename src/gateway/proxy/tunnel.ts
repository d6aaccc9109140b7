/**
 * Tunnels: connections whose bytes go both ways unparsed once they are through.
 *   - CONNECT (RFC 9110 §9.3.6), explicit mode: session, port and destination checks, then a splice;
 *   - an exchange that switched protocols (101: WebSocket, RFC 6455), spliced over its upstream connection;
 *   - spliceTunnel(), which the CONNECT tunnel and the TLS interceptor's splice share.
 * Each tunnel is one audit record, written when it closes, and noted as open when it is through.
 */
import net, { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { endpointText, type Decision } from '../destination/policy.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { SeatSession } from '../seats-and-audit.ts';
import { dstDetail, refusalDetail, type Activity } from './audit.ts';
import { countRefusal, type Deadlines, type ProxyContext } from './context.ts';
import type { RequestHead } from './http1-head.ts';
import { destinationRefusalPage } from './refusals.ts';
import { authorityTarget } from './target.ts';
import type { Upstream, UpstreamUser } from './upstream-pool.ts';

/** The client side of a tunnel, as the client connection (client-connection.ts) offers it. */
export interface TunnelClient {
  readonly sock: Socket;
  readonly ip: string;
  /** after our FIN: a paused socket is resumed (its FIN gets read) and closed after the keep-alive time */
  closeGracefully(): void;
}

/** The client side of an upgraded connection: told when the tunnel is gone. */
export interface UpgradedClient extends TunnelClient {
  tunnelClosed(): void;
}

/** A bodiless status reply, then the client connection closes. */
function replyStatus(c: TunnelClient, status: string): void {
  c.sock.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  c.closeGracefully();
}

/**
 * A CONNECT request (RFC 9110 §9.3.6; authority-form target, RFC 9112 §3.2.3). The client's socket was paused and
 * its data listeners removed: from here the tunnel pipes it. `rest` is what the client sent after the head.
 */
export function connectTunnel(ctx: ProxyContext, c: TunnelClient, head: RequestHead, rest: Buffer | undefined): void {
  const client = c.sock;
  const ip = c.ip;
  // The socket was paused (and its data listeners removed) for the tunnel: a refusal closes it gracefully, which
  // resumes it so that its FIN is read (a paused socket never saw it: the connection stayed in `connections` for
  // good, even after the client had gone) and closes a client that keeps its side open after a while.
  const reply = (status: string): void => replyStatus(c, status);
  const session = ctx.seats.lookupByIp(ip);
  if (!session) {
    ctx.metrics.drops.inc({ reason: 'no_session' });
    ctx.log.debug({ ip, target: head.target }, 'CONNECT refused: no open session');
    return reply('403 Forbidden');
  }
  if (ctx.options.mode !== 'explicit') return reply('405 Method Not Allowed');
  const target = authorityTarget(head.target);
  if (!target) {
    ctx.metrics.drops.inc({ reason: 'bad_target' });
    return reply('400 Bad Request');
  }
  const act: Activity = {
    kind: 'tunnel',
    method: 'CONNECT',
    host: target.host,
    port: target.port,
    bytesUp: 0,
    bytesDown: 0,
    startedAt: Date.now(),
    verdict: 'allowed',
  };
  const allowed = ctx.options.connectPorts ?? [443];
  if (allowed !== 'any' && !allowed.includes(target.port)) {
    ctx.metrics.drops.inc({ reason: 'connect_port' });
    act.status = 403;
    act.verdict = 'refused';
    void ctx.emitter.emit(ip, session, act);
    return reply('403 Forbidden');
  }
  const decided = ctx.destinations.decideWithin(target.host, ctx.options.connectTimeoutMs);
  const go = (d: Decision): void => {
    if (client.destroyed) return;
    if (!d.allowed && d.reason === 'unresolved') {
      act.status = 502;
      act.verdict = 'error';
      void ctx.emitter.emit(ip, session, act);
      return reply('502 Bad Gateway');
    }
    if (!d.allowed) {
      countRefusal(ctx, 'connect', d.reason);
      act.status = 403;
      act.verdict = 'refused';
      act.detail = refusalDetail(d.reason, endpointText(d.address, target.port));
      void ctx.emitter.emit(ip, session, act);
      const page = destinationRefusalPage(d.reason);
      client.end(
        `HTTP/1.1 403 Forbidden\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(page.body)}\r\nconnection: close\r\n\r\n${page.body}`,
      );
      return c.closeGracefully();
    }
    act.detail = dstDetail(endpointText(d.address, target.port));
    spliceConnect(ctx, c, session, act, { host: d.address, port: target.port }, rest);
  };
  if (decided instanceof Promise) void decided.then(go);
  else go(decided);
}

/** The CONNECT is allowed: `200 Connection Established` once the upstream is there, then the splice. */
function spliceConnect(
  ctx: ProxyContext,
  c: TunnelClient,
  session: SeatSession,
  act: Activity,
  to: { host: string; port: number },
  rest: Buffer | undefined,
): void {
  const client = c.sock;
  const ip = c.ip;
  let openId: number | undefined;
  spliceTunnel({
    client,
    first: rest ?? Buffer.alloc(0),
    target: to,
    connectTimeoutMs: ctx.options.connectTimeoutMs,
    idleTimeoutMs: ctx.options.idleTimeoutMs,
    tunnels: ctx.tunnels,
    metrics: ctx.metrics,
    onConnected: () => {
      openId = ctx.emitter.opened(ip, session, { ...act, status: 200 });
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    },
    onFailed: () => {
      act.status = 502;
      replyStatus(c, '502 Bad Gateway');
    },
    onClosed: (verdict, up, down) => {
      act.verdict = verdict;
      act.bytesUp = up;
      act.bytesDown = down;
      if (act.status === undefined) act.status = verdict === 'allowed' ? 200 : 502;
      void ctx.emitter.emit(ip, session, act, openId);
    },
  });
}

/** The client's socket is full: `source` is paused until it drains (backpressure). */
export function pauseUntilDrained(source: Upstream | undefined, client: Socket): void {
  if (!source || source.sock.isPaused()) return;
  source.sock.pause();
  client.once('drain', () => source.sock.resume());
}

/**
 * An exchange whose server switched protocols (RFC 9110 §15.2.2 / §7.8): the 101 has gone to the client, and from
 * here the client connection and the upstream connection are spliced both ways with backpressure (idle deadline,
 * half-close passed on). Its record (the exchange's, status 101) is written when either side closes, with the
 * bytes each way after the handshake, as for a CONNECT tunnel.
 */
export class UpgradedConnection implements UpstreamUser {
  private up: Upstream | undefined;
  private seen: number;
  private finished = false;
  /** the audit log's note of this open connection (see AuditEmitter.opened) */
  private readonly openId: number | undefined;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly conn: UpgradedClient,
    private readonly session: SeatSession | undefined,
    private readonly act: Activity,
    up: Upstream,
  ) {
    this.up = up;
    up.user = this;
    this.seen = ctx.clock.tick;
    ctx.metrics.activeTunnels.inc();
    this.openId = ctx.emitter.opened(conn.ip, session, act);
  }

  /** Client bytes go to the server as they are. */
  fromClient(chunk: Buffer): void {
    this.seen = this.ctx.clock.tick;
    this.act.bytesUp += chunk.length;
    if (this.up && !this.up.sock.write(chunk)) this.conn.sock.pause();
  }

  /** Server bytes go to the client as they are (the server waits while the client is slow). */
  toClient(chunk: Buffer): void {
    this.act.bytesDown += chunk.length;
    if (!this.conn.sock.write(chunk)) pauseUntilDrained(this.up, this.conn.sock);
  }

  /** The client half-closed; so does the connection to the server. */
  clientEnd(): void {
    this.up?.sock.end();
  }

  /** The client went away. */
  clientClosed(): void {
    this.end();
  }

  checkDeadlines(now: number, d: Deadlines): void {
    if (this.finished || !this.up) return;
    if (now - this.seen > d.idle) this.up.destroy(new Error('upstream timeout'));
  }

  onUpstreamData(chunk: Buffer): void {
    this.seen = this.ctx.clock.tick;
    this.toClient(chunk);
  }

  onUpstreamEnd(): void {
    this.conn.sock.end();
  }

  onUpstreamClose(): void {
    this.up = undefined;
    this.end();
  }

  onUpstreamDrain(): void {
    if (this.conn.sock.isPaused()) this.conn.sock.resume();
  }

  /** Either side closed: the other goes too, and the record is written. */
  private end(): void {
    if (this.finished) return;
    this.finished = true;
    const up = this.up;
    this.up = undefined;
    up?.discard();
    this.ctx.metrics.activeTunnels.dec();
    void this.ctx.emitter.emit(this.conn.ip, this.session, this.act, this.openId);
    this.conn.tunnelClosed();
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
