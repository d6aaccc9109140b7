import { createSocket } from 'node:dgram';
import { realpathSync, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { DatagramInfo, DatagramSocket, SocketFactory } from '../net/datagram.ts';
import { DecodeError } from '../wire/decode-error.ts';
import { decodeTftp, encodeError, encodeTftp, type TftpRequest } from './codec.ts';
import { MODES, Op, TftpErrorCode, type TransferMode } from './constants.ts';
import type { TftpConfig } from './config.ts';
import { FileCache } from './file-cache.ts';
import type { TftpMetrics } from './metrics.ts';
import { toNetascii } from './netascii.ts';
import { negotiate } from './options.ts';
import { resolveTftpPath } from './path.ts';
import { RateLimiter as SourceRateLimiter } from '../net/rate-limiter.ts';
import { FileSource, MemorySource, type ByteSource } from './source.ts';
import { NativeTransfer, type ActiveTransfer } from './native-transfer.ts';
import { Transfer, type TransferEnd, type TransferSocket } from './transfer.ts';

/** Opens the per-transfer socket bound to `localAddress` on an ephemeral port (its new TID, RFC 1350 §4). */
export type TransferSocketFactory = (
  localAddress: string,
  onMessage: (buf: Buffer, address: string, port: number) => void,
) => Promise<TransferSocket>;

/** node:dgram, bound to the address the RRQ arrived on so replies leave from the address the client talked to. */
export const dgramTransferSocket: TransferSocketFactory = (localAddress, onMessage) =>
  new Promise((resolve, reject) => {
    // IP literals only: answer the lookup synchronously instead of dns.lookup's extra tick per datagram
    const s = createSocket({ type: 'udp4', lookup: (host, _o, cb) => (cb as (e: null, a: string, f: number) => void)(null, host, 4) });
    s.on('message', (buf, r) => onMessage(buf, r.address, r.port));
    s.once('error', reject);
    s.bind({ address: localAddress, port: 0, exclusive: true }, () => {
      s.removeListener('error', reject);
      s.on('error', () => undefined); // ICMP-driven send errors (client gone): the timer ends the transfer
      let closed = false;
      resolve({
        port: s.address().port,
        send: (buf, address, port) => {
          if (!closed) s.send(buf, port, address);
        },
        close: () => {
          if (closed) return;
          closed = true;
          s.close();
        },
      });
    });
  });

export interface TftpServerDeps {
  config: Readonly<TftpConfig>;
  /** the LAN interface the listening socket is bound to ('' = all, tests only) */
  lanInterface: string;
  socketFactory: SocketFactory;
  logger: Logger;
  metrics: TftpMetrics;
  clock?: () => number;
  /**
   * per-transfer sockets for the JS data path; defaults to node:dgram bound to the RRQ's destination address.
   * Giving one (tests on an in-memory network) keeps every transfer on the JS path.
   */
  transferSocketFactory?: TransferSocketFactory;
  /** notified when a file was sent completely (boot timeline) */
  onFileServed?: (clientIp: string, path: string, bytes: number) => void;
}

interface Pending {
  key: string;
  req: TftpRequest;
  info: DatagramInfo;
}

const TICK_MS = 50;
const SWEEP_MS = 10_000;
const UNICAST_ANY = '0.0.0.0';

/**
 * Read-only TFTP server: RFC 1350 with options (RFC 2347/2348/2349/7440). Every RRQ gets its own socket;
 * transfers beyond `maxTransfers` wait in a FIFO queue; hot files come from an LRU cache.
 */
export class TftpServer {
  readonly cache: FileCache;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly limiter: SourceRateLimiter;
  private readonly openSockets: (la: string, cb: (b: Buffer, a: string, p: number) => void) => Promise<TransferSocket>;
  private listener: DatagramSocket | undefined;
  private rootReal = '';
  /** slots in use: key "ip:port" → transfer (undefined while it is being set up) */
  private readonly active = new Map<string, ActiveTransfer | undefined>();
  private readonly queue: Pending[] = [];
  private readonly queuedKeys = new Set<string>();
  private ticker: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private running = false;

  constructor(private readonly deps: TftpServerDeps) {
    const c = deps.config;
    this.log = deps.logger.child({ module: 'tftp' });
    this.clock = deps.clock ?? Date.now;
    this.cache = new FileCache(c.cacheBytes, c.cacheMaxFileBytes);
    this.limiter = new SourceRateLimiter(c.rateLimit.perSourcePerSecond, c.rateLimit.burst);
    this.openSockets = deps.transferSocketFactory ?? dgramTransferSocket;
  }

  get port(): number | undefined {
    return this.listener?.port;
  }

  get activeTransfers(): number {
    return this.active.size;
  }

  start(): void {
    const c = this.deps.config;
    try {
      this.rootReal = realpathSync(c.root);
    } catch (e) {
      // keep serving ERROR 1 rather than refusing to start: the root may be mounted later
      this.rootReal = c.root;
      this.log.warn({ root: c.root, err: (e as Error).message }, 'tftp root does not exist yet');
    }
    this.listener = this.deps.socketFactory({ ifname: this.deps.lanInterface, port: c.port }, (buf, info) => this.receive(buf, info));
    this.running = true;
    this.ticker = setInterval(() => this.tick(), TICK_MS);
    this.ticker.unref();
    this.sweeper = setInterval(() => this.limiter.sweep(this.clock()), SWEEP_MS);
    this.sweeper.unref();
    this.log.info({ interface: this.deps.lanInterface, port: this.listener.port, root: this.rootReal }, 'tftp server listening');
  }

  stop(): void {
    this.running = false;
    if (this.ticker) clearInterval(this.ticker);
    if (this.sweeper) clearInterval(this.sweeper);
    this.queue.length = 0;
    this.queuedKeys.clear();
    this.deps.metrics.queued.set(0);
    for (const t of [...this.active.values()]) t?.abort();
    this.active.clear();
    this.deps.metrics.active.set(0);
    this.listener?.close();
    this.listener = undefined;
    this.cache.clear();
    this.deps.metrics.cacheBytes.set(0);
  }

  private drop(reason: string, info: { address: string; port: number }, detail?: object): void {
    this.deps.metrics.drops.inc({ reason });
    if (this.log.isLevelEnabled('debug')) this.log.debug({ reason, peer: `${info.address}:${info.port}`, ...detail }, 'tftp packet dropped');
  }

  /** Every datagram to the listening port: bad input is dropped and counted here, never thrown further. */
  receive(buf: Buffer, info: DatagramInfo): void {
    try {
      this.dispatch(buf, info);
    } catch (e) {
      if (e instanceof DecodeError) this.drop(`malformed_${e.code.toLowerCase()}`, info, { offset: e.offset });
      else {
        this.deps.metrics.drops.inc({ reason: 'internal_error' });
        this.log.error({ err: e, peer: info.address }, 'tftp handler failed; packet dropped');
      }
    }
  }

  private dispatch(buf: Buffer, info: DatagramInfo): void {
    if (!this.running) return;
    const pkt = decodeTftp(buf);
    if (pkt.op !== Op.RRQ && pkt.op !== Op.WRQ) return this.drop('not_a_request', info, { op: pkt.op });
    this.deps.metrics.requests.inc({ op: pkt.op === Op.RRQ ? 'RRQ' : 'WRQ' });
    const key = `${info.address}:${info.port}`;
    // a client repeating its RRQ while we already serve (or queue) it: the transfer answers, not a second one
    if (this.active.has(key) || this.queuedKeys.has(key)) return this.drop('duplicate_request', info);
    if (!this.limiter.allow(info.address, this.clock())) return this.drop('rate_limited', info);
    if (pkt.op === Op.WRQ) return this.refuse(info, TftpErrorCode.ACCESS_VIOLATION, 'read-only server', 'write_request');
    if (!(MODES as readonly string[]).includes(pkt.mode))
      return this.refuse(info, TftpErrorCode.ILLEGAL_OPERATION, `unsupported mode ${pkt.mode}`, 'bad_mode');
    const p: Pending = { key, req: pkt, info };
    if (this.active.size < this.deps.config.maxTransfers) return this.begin(p);
    if (this.queue.length >= this.deps.config.maxQueue) return this.drop('queue_full', info);
    this.queue.push(p);
    this.queuedKeys.add(key);
    this.deps.metrics.queuedTotal.inc();
    this.deps.metrics.queued.set(this.queue.length);
  }

  /** An ERROR for a request we will not serve, sent from the listening port (no transfer exists). */
  private refuse(info: { address: string; port: number }, code: number, message: string, reason: string): void {
    this.deps.metrics.refused.inc({ reason });
    this.listener?.send(encodeError(code, message), info.address, info.port);
    if (this.log.isLevelEnabled('debug')) this.log.debug({ reason, peer: `${info.address}:${info.port}` }, 'tftp request refused');
  }

  private begin(p: Pending): void {
    this.active.set(p.key, undefined);
    this.deps.metrics.active.set(this.active.size);
    this.setUp(p).catch((e: unknown) => {
      this.log.error({ err: e, peer: p.key }, 'tftp transfer setup failed');
      this.refuse(p.info, TftpErrorCode.NOT_DEFINED, 'internal error', 'internal_error');
      this.release(p.key);
    });
  }

  private async setUp(p: Pending): Promise<void> {
    const { req, info } = p;
    const c = this.deps.config;
    const resolved = await resolveTftpPath(this.rootReal, req.filename);
    if (!resolved.ok || !resolved.absPath) {
      const r = resolved.ok ? { code: TftpErrorCode.FILE_NOT_FOUND, reason: 'not_found' } : resolved;
      this.refuse(info, r.code, r.code === TftpErrorCode.FILE_NOT_FOUND ? 'File not found' : 'Access violation', r.reason);
      return this.release(p.key);
    }
    const abs = resolved.absPath;
    const st = await stat(abs).catch(() => undefined);
    if (!st || !st.isFile()) {
      this.refuse(
        info,
        st ? TftpErrorCode.ACCESS_VIOLATION : TftpErrorCode.FILE_NOT_FOUND,
        st ? 'Not a file' : 'File not found',
        st ? 'not_a_file' : 'not_found',
      );
      return this.release(p.key);
    }
    const mode = req.mode as TransferMode;
    let source: ByteSource;
    try {
      source = await this.openSource(abs, st, mode);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'NETASCII_TOO_LARGE')
        this.refuse(info, TftpErrorCode.ILLEGAL_OPERATION, 'netascii only for small files; use octet', 'netascii_too_large');
      else this.refuse(info, TftpErrorCode.ACCESS_VIOLATION, 'Access violation', 'unreadable');
      return this.release(p.key);
    }
    if (!this.running) return source.close();
    const n = negotiate(req.options, { maxBlksize: c.maxBlksize, maxWindowsize: c.maxWindowsize }, source.size, mode);
    const localAddress = isUnicast(info.localAddress) ? info.localAddress : UNICAST_ANY;
    const m = this.deps.metrics;
    const timeoutMs = n.timeoutSeconds !== undefined ? n.timeoutSeconds * 1000 : c.retransmitMs;
    // cached files go through the C data path (src/native/tftp_engine.c): no JS call per datagram
    if (c.dataPath === 'native' && !this.deps.transferSocketFactory && source instanceof MemorySource) {
      const native = new NativeTransfer({
        localAddress,
        clientAddress: info.address,
        clientPort: info.port,
        data: source.data,
        blksize: n.blksize,
        windowsize: n.windowsize,
        timeoutMs,
        retries: c.retries,
        oack: n.oack.size > 0 ? encodeTftp({ op: Op.OACK, options: n.oack }) : undefined,
        onSent: (bytes, retransmits) => {
          m.bytesSent.inc(bytes);
          if (retransmits) m.retransmits.inc(retransmits);
        },
        onStray: (reason, count) => {
          m.drops.inc({ reason }, count);
        },
        onEnd: (end, acked) => {
          source.close();
          this.ended(p, resolved.relPath, end, Math.min(source.size, acked * n.blksize), source.size);
        },
      });
      this.active.set(p.key, native);
      m.started.inc({ path: 'native' });
      if (this.log.isLevelEnabled('debug'))
        this.log.debug(
          { peer: p.key, path: resolved.relPath, size: source.size, tid: native.port, oack: Object.fromEntries(n.oack) },
          'tftp transfer started (native data path)',
        );
      return;
    }
    let transfer: Transfer | undefined;
    let socket: TransferSocket;
    try {
      socket = await this.openSockets(localAddress, (buf, address, port) => transfer?.receive(buf, address, port));
    } catch (e) {
      source.close();
      throw e;
    }
    if (!this.running) {
      socket.close();
      return source.close();
    }
    transfer = new Transfer({
      clientAddress: info.address,
      clientPort: info.port,
      socket,
      source,
      blksize: n.blksize,
      windowsize: n.windowsize,
      timeoutMs,
      retries: c.retries,
      oack: n.oack.size > 0 ? n.oack : undefined,
      now: this.clock,
      onEnd: (t, end) => {
        socket.close();
        source.close();
        this.ended(p, resolved.relPath, end, Math.min(source.size, t.acked * t.p.blksize), source.size);
      },
      onSent: (bytes, retransmit) => {
        m.bytesSent.inc(bytes);
        if (retransmit) m.retransmits.inc();
      },
      onStray: (reason) => this.drop(reason, info),
    });
    this.active.set(p.key, transfer);
    m.started.inc({ path: 'js' });
    if (this.log.isLevelEnabled('debug'))
      this.log.debug(
        { peer: p.key, path: resolved.relPath, size: source.size, tid: socket.port, oack: Object.fromEntries(n.oack) },
        'tftp transfer started',
      );
    transfer.start();
  }

  private async openSource(abs: string, st: Stats, mode: TransferMode): Promise<ByteSource> {
    const c = this.deps.config;
    const m = this.deps.metrics;
    if (this.cache.cacheable(st.size)) {
      let data = this.cache.lookup(abs, st);
      if (data) m.cacheHits.inc();
      else {
        m.cacheMisses.inc();
        data = await this.cache.load(abs, st);
        m.cacheBytes.set(this.cache.size);
      }
      return new MemorySource(mode === 'netascii' ? toNetascii(data) : data);
    }
    // netascii changes every offset, so it is only translated for files small enough to hold in memory
    if (mode === 'netascii') throw Object.assign(new Error('netascii file too large'), { code: 'NETASCII_TOO_LARGE' });
    const fh = await open(abs, 'r');
    return new FileSource(fh, st.size, c.readChunkBytes);
  }

  private ended(p: Pending, relPath: string, end: TransferEnd, bytes: number, size: number): void {
    const m = this.deps.metrics;
    if (end.ok) {
      m.completed.inc();
      this.log.info({ peer: p.key, path: relPath, bytes: size, confirmed: end.confirmed }, 'tftp transfer complete');
      try {
        this.deps.onFileServed?.(p.info.address, relPath, size);
      } catch (e) {
        this.log.error({ err: e }, 'onFileServed callback failed');
      }
    } else {
      m.failed.inc({ reason: end.reason });
      const level = end.reason === 'client_error' || end.reason === 'stopped' ? 'debug' : 'info';
      this.log[level]({ peer: p.key, path: relPath, reason: end.reason, detail: end.detail, bytesAcked: bytes }, 'tftp transfer ended early');
    }
    this.release(p.key);
  }

  private release(key: string): void {
    this.active.delete(key);
    while (this.running && this.active.size < this.deps.config.maxTransfers && this.queue.length > 0) {
      const next = this.queue.shift()!;
      this.queuedKeys.delete(next.key);
      this.begin(next);
    }
    this.deps.metrics.queued.set(this.queue.length);
    this.deps.metrics.active.set(this.active.size);
  }

  private tick(): void {
    const now = this.clock();
    for (const t of this.active.values()) t?.tick(now);
  }
}

function isUnicast(a: string): boolean {
  if (a === '255.255.255.255' || a === UNICAST_ANY || a === '') return false;
  const first = Number(a.split('.')[0]);
  return !(first >= 224 && first <= 239);
}
