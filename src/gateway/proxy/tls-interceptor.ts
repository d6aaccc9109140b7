/**
 * Transparent TLS interception without decryption: seat tcp/443 is redirected here by nftables; we read the
 * ClientHello (for its SNI: the record names the site), then open a connection to the address and port the seat
 * dialled (SO_ORIGINAL_DST of the redirect, never the SNI's address) and splice the two, ClientHello first. The
 * destination policy judges that address; an SNI that names another place is recorded (`hostMismatch`) and, if
 * configured, refused. A client without an open session is closed before anything is sent upstream; so is one
 * that sends bytes that are not a ClientHello (DecodeError code → drop reason), or a refused destination (with a
 * `refused` record: TLS has no page to show).
 */
import net, { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../log/logger.ts';
import { DecodeError } from '../../wire/decode-error.ts';
import { formatIp } from '../../wire/ip-address.ts';
import { endpointText } from '../destination/policy.ts';
import type { SeatSession } from '../seats-and-audit.ts';
import { appendBytes } from './append-bytes.ts';
import { AuditEmitter, dstDetail, refusalDetail, type Activity } from './audit.ts';
import { clientAddress } from '../../terminal/client-address.ts';
import { conntrackOriginalDestination, dialledOf } from './original-destination.ts';
import type { HttpProxyDeps } from './http-proxy.ts';
import { SeatConnections } from './seat-connections.ts';
import { scanClientHello } from './client-hello.ts';
import { spliceTunnel } from './tunnel.ts';
import { closeServer, listen } from '../../net/listen.ts';

export interface TlsInterceptorOptions {
  host: string;
  port: number;
  /** an SNI naming another place than the address dialled is recorded; 'refuse' also refuses it. Default 'record'. */
  hostMismatch?: 'record' | 'refuse';
  /** the ClientHello must arrive within this time */
  helloTimeoutMs: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
}

/** The HTTP proxy's dependencies, with the interceptor's own options. */
export type TlsInterceptorDeps = Omit<HttpProxyDeps, 'options'> & { options: TlsInterceptorOptions };

export class TlsInterceptor {
  private readonly log: Logger;
  private readonly emitter: AuditEmitter;
  private server: net.Server | undefined;
  private readonly sockets = new Set<Socket | Duplex>();
  /** every open client connection (waiting for its ClientHello or spliced) by seat address */
  private readonly clients = new SeatConnections();

  constructor(private readonly deps: TlsInterceptorDeps) {
    this.log = deps.logger.child({ module: 'gateway.proxy.tls' });
    this.emitter = new AuditEmitter(deps.audit, deps.metrics, this.log);
  }

  async start(): Promise<number> {
    const server = net.createServer({ noDelay: true }, (s) => this.onConnection(s));
    this.server = server;
    const port = await listen(server, this.deps.options.port, this.deps.options.host);
    this.log.info({ host: this.deps.options.host, port }, 'TLS SNI interceptor listening');
    return port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await closeServer(server, () => {
      for (const s of this.sockets) s.destroy();
      this.sockets.clear();
      this.clients.clear();
    });
    await this.emitter.drain();
  }

  /**
   * Cuts every connection from a seat address; for the composition root to call when the seat's session closes.
   * A splice is attributed to the session that was open when it started: without this, a browser's kept-alive
   * connection would go on carrying traffic after the session closed (conntrack keeps redirecting an established
   * flow whatever the seat set says), recorded against the person who left. Each cut splice still gets its record.
   */
  closeSeat(ip: string): number {
    const n = this.clients.cut(ip);
    if (n) this.deps.metrics.drops.inc({ reason: 'session_closed' }, n);
    if (n) this.log.info({ ip, connections: n }, 'session closed: TLS connections of the seat cut');
    return n;
  }

  private drop(sock: Socket, ip: string, reason: string, detail?: string): void {
    this.deps.metrics.drops.inc({ reason });
    this.log.debug({ ip, reason, detail }, 'TLS connection dropped');
    sock.destroy();
  }

  private onConnection(sock: Socket): void {
    const ip = clientAddress(sock.remoteAddress);
    sock.on('error', () => sock.destroy());
    const session = this.deps.seats.lookupByIp(ip);
    if (!session) return this.drop(sock, ip, 'no_session');
    const dialled = dialledOf((this.deps.originalDestination ?? conntrackOriginalDestination)(sock));
    this.sockets.add(sock);
    this.clients.track(sock, ip);
    sock.once('close', () => this.sockets.delete(sock));
    const startedAt = Date.now();
    let buf: Buffer = Buffer.alloc(0);
    sock.setTimeout(this.deps.options.helloTimeoutMs, () => this.drop(sock, ip, 'hello_timeout'));
    const onData = (chunk: Buffer) => {
      buf = buf.length ? appendBytes(buf, chunk) : chunk;
      let scan;
      try {
        scan = scanClientHello(buf);
      } catch (e) {
        sock.off('data', onData);
        if (e instanceof DecodeError) return this.drop(sock, ip, `tls_${e.code.toLowerCase()}`, e.message);
        throw e;
      }
      if (!scan.done) return;
      sock.off('data', onData);
      sock.pause();
      sock.setTimeout(0);
      const sni = scan.hello.serverName;
      const act: Activity = { kind: 'tls', host: sni ?? '', port: dialled?.port ?? 0, bytesUp: 0, bytesDown: 0, startedAt, verdict: 'allowed' };
      if (sni) act.sni = sni;
      if (!dialled) return this.refuse(sock, ip, session, act, 'not_redirected', undefined);
      const address = formatIp(dialled.ip);
      const dst = endpointText(address, dialled.port);
      if (!sni) act.host = address;
      const decision = this.deps.destinations.checkAddress(dialled.ip);
      if (!decision.allowed) return this.refuse(sock, ip, session, act, decision.reason, dst);
      const go = (same: boolean): void => {
        if (sock.destroyed) return;
        if (!same) {
          this.deps.metrics.hostMismatches.inc({ path: 'tls' });
          if (this.deps.options.hostMismatch === 'refuse') return this.refuse(sock, ip, session, act, 'host_mismatch', dst);
        }
        act.detail = dstDetail(dst, !same);
        this.splice(sock, ip, session, act, buf, { host: decision.address, port: dialled.port });
      };
      // no SNI: nothing names another place; the record names the address
      const same = sni ? this.deps.destinations.names(sni, dialled.ip) : true;
      if (typeof same === 'boolean') go(same);
      else same.then(go, () => go(false));
    };
    sock.on('data', onData);
  }

  private refuse(sock: Socket, ip: string, session: SeatSession, act: Activity, reason: string, dst: string | undefined): void {
    this.deps.metrics.destinationRefusals.inc({ path: 'tls', reason });
    this.log.debug({ ip, reason, dst, sni: act.sni }, 'TLS destination refused');
    act.verdict = 'refused';
    act.detail = refusalDetail(reason, dst);
    void this.emitter.emit(ip, session, act);
    sock.destroy();
  }

  private splice(sock: Socket, ip: string, session: SeatSession, act: Activity, hello: Buffer, to: { host: string; port: number }): void {
    this.sockets.delete(sock);
    let openId: number | undefined;
    spliceTunnel({
      client: sock,
      first: hello,
      target: to,
      connectTimeoutMs: this.deps.options.connectTimeoutMs,
      idleTimeoutMs: this.deps.options.idleTimeoutMs,
      tunnels: this.sockets,
      metrics: this.deps.metrics,
      onConnected: () => void (openId = this.emitter.opened(ip, session, act)),
      onFailed: () => sock.destroy(),
      onClosed: (verdict, up, down) => {
        act.verdict = verdict;
        act.bytesUp = up;
        act.bytesDown = down;
        void this.emitter.emit(ip, session, act, openId);
      },
    });
  }
}
