import { createSocket } from 'node:dgram';
import { createServer, type Server as TcpServer, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { BootgateError } from '../errors.ts';
import { clientAddress } from '../terminal/client-address.ts';
import { DnsResolver, type DnsResolverDeps, type QueryContext } from './resolver.ts';
import { TcpFramer, frame } from './tcp-framer.ts';
import { BatchUdpSocket, loadDnsUdpAddon } from './udp-batch.ts';

/** The resolver's dependencies (the server hands them on), and where and how it listens. */
export interface DnsServerDeps extends DnsResolverDeps {
  /** the LAN interface's address: where the resolver listens when `dns.listen` is empty */
  lanAddress?: string;
  /**
   * UDP I/O: 'batch' = recvmmsg/sendmmsg through the native addon (src/native/dns_udp.c), 'dgram' = node:dgram;
   * default 'batch' when the addon is built, else 'dgram'
   */
  udpIo?: 'batch' | 'dgram';
}

export interface BoundAddress {
  address: string;
  udpPort: number;
  tcpPort: number;
}

/**
 * The LAN resolver's sockets: UDP and TCP on each listen address (RFC 1035 §4.2; RFC 7766 for TCP: 2-byte length
 * framing, several queries per connection, pipelined and answered as they complete, an idle timeout). The query
 * logic is DnsResolver, which has no sockets.
 */
export class DnsServer {
  readonly resolver: DnsResolver;
  private readonly log: Logger;
  private readonly udp: Array<{ close(): unknown }> = [];
  private readonly tcp: TcpServer[] = [];
  private readonly conns = new Set<Socket>();
  private readonly bound: BoundAddress[] = [];
  private running = false;

  constructor(private readonly deps: DnsServerDeps) {
    this.log = deps.logger.child({ module: 'dns' });
    this.resolver = new DnsResolver({ ...deps, logger: this.log });
  }

  /** Where it listens (ports resolved when the config asked for 0). */
  get addresses(): readonly BoundAddress[] {
    return this.bound;
  }

  /** The socket-free handler (fuzz tests drive it directly). */
  handle(buf: Buffer, ctx: QueryContext): Buffer | undefined | Promise<Buffer | undefined> {
    return this.resolver.handle(buf, ctx);
  }

  async start(): Promise<void> {
    const c = this.deps.config;
    const addresses = c.listen.length > 0 ? c.listen : this.deps.lanAddress ? [this.deps.lanAddress] : [];
    if (addresses.length === 0) throw new BootgateError('SOCKET_BIND', 'dns: no listen address (dns.listen is empty and no LAN address was given)');
    this.running = true;
    try {
      for (const address of addresses) {
        const udpPort = await this.listenUdp(address, c.port);
        const tcpPort = await this.listenTcp(address, c.port === 0 ? udpPort : c.port);
        this.bound.push({ address, udpPort, tcpPort });
      }
    } catch (e) {
      await this.stop();
      throw new BootgateError('SOCKET_BIND', `dns: cannot listen: ${(e as Error).message}`, { cause: e });
    }
    this.log.info({ listen: this.bound, upstreams: c.upstreams.map((u) => `${u.address}:${u.port}`) }, 'dns resolver listening');
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const s of this.udp.splice(0)) s.close();
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    this.deps.metrics.tcpConnections.set(0);
    await Promise.all(this.tcp.splice(0).map((s) => new Promise((r) => s.close(r))));
    this.bound.length = 0;
    this.resolver.cache.clear();
    this.deps.metrics.cacheEntries.set(0);
  }

  private listenUdp(address: string, port: number): Promise<number> {
    const addon = this.deps.udpIo === 'dgram' ? undefined : loadDnsUdpAddon();
    if (addon) {
      const s = new BatchUdpSocket(
        addon,
        address,
        port,
        (buf, clientIp) => (this.running ? this.resolver.handle(buf, { clientIp, transport: 'udp' }) : undefined),
        { onSendFailed: () => this.deps.metrics.drops.inc({ reason: 'udp_send_failed' }) },
      );
      this.udp.push(s);
      return Promise.resolve(s.port);
    }
    return new Promise((resolve, reject) => {
      const s = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', ipv6Only: address.includes(':') });
      s.once('error', reject);
      s.on('message', (buf, r) => {
        const ctx: QueryContext = { clientIp: clientAddress(r.address), transport: 'udp' };
        const send = (out: Buffer | undefined): void => {
          if (out && this.running) s.send(out, r.port, r.address);
        };
        const res = this.resolver.handle(buf, ctx);
        if (res instanceof Promise) res.then(send, () => undefined);
        else send(res);
      });
      s.bind({ address, port, exclusive: true }, () => {
        s.removeListener('error', reject);
        s.on('error', (e) => this.log.warn({ err: e.message, address }, 'dns udp socket error'));
        this.udp.push(s);
        resolve(s.address().port);
      });
    });
  }

  private listenTcp(address: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = createServer({ noDelay: true, allowHalfOpen: true }, (sock) => this.accept(sock));
      server.once('error', reject);
      server.listen({ host: address, port, ipv6Only: address.includes(':') }, () => {
        server.removeListener('error', reject);
        server.on('error', (e) => this.log.warn({ err: e.message, address }, 'dns tcp listener error'));
        this.tcp.push(server);
        const a = server.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  }

  /** One TCP client: queries may be pipelined; answers are written as they complete, in any order (RFC 7766 §6.2.1.1). */
  private accept(sock: Socket): void {
    const c = this.deps.config.tcp;
    const ctx: QueryContext = { clientIp: clientAddress(sock.remoteAddress), transport: 'tcp' };
    if (!this.running || this.conns.size >= c.maxConnections) {
      this.resolver.drop('tcp_connection_limit', ctx);
      sock.destroy();
      return;
    }
    this.conns.add(sock);
    this.deps.metrics.tcpConnections.set(this.conns.size);
    const framer = new TcpFramer();
    let inflight = 0;
    let closing = false;
    const close = (reason?: string): void => {
      if (closing) return;
      closing = true;
      if (reason) this.resolver.drop(reason, ctx);
      sock.destroy();
    };
    // RFC 7766 §6.2.3: close a connection that has been idle; one with answers still coming is not idle
    sock.setTimeout(c.idleMs, () => {
      if (inflight === 0) close();
    });
    sock.on('error', () => close());
    sock.on('close', () => {
      closing = true;
      this.conns.delete(sock);
      this.deps.metrics.tcpConnections.set(this.conns.size);
    });
    sock.on('end', () => {
      if (inflight === 0) close();
    });
    const write = (out: Buffer | undefined): void => {
      inflight--;
      if (closing) return;
      if (!out) return close(); // dropped: the peer broke the protocol (RFC 7766 §6.2.4 lets us close)
      sock.write(frame(out));
      if (inflight < c.maxPipelined && sock.isPaused()) sock.resume();
      if (inflight === 0 && sock.readableEnded) close();
    };
    sock.on('data', (chunk: Buffer) => {
      if (closing) return;
      for (const msg of framer.push(chunk)) {
        inflight++;
        const res = this.resolver.handle(msg, ctx);
        if (res instanceof Promise) res.then(write, () => write(undefined));
        else write(res);
        if (closing) return;
      }
      if (inflight >= c.maxPipelined) sock.pause();
    });
  }
}
