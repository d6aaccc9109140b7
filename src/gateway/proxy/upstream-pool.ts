import net, { type Socket } from 'node:net';
import { ReadChunks } from './slabs.ts';

/** What an upstream connection reports to the exchange using it. */
export interface UpstreamUser {
  onUpstreamData(chunk: Buffer): void;
  /** the server half-closed (FIN): the end of a close-delimited body */
  onUpstreamEnd(): void;
  onUpstreamClose(err: Error | undefined): void;
  onUpstreamDrain(): void;
}

/**
 * One TCP connection to an origin server. Its socket listeners are attached once, when it opens, and forward to
 * whichever exchange uses it now (`user`), so reusing a kept-alive connection costs no listener churn; while it
 * sits idle in the pool, bytes from the server are a protocol error (no request is outstanding) and close it.
 */
export class Upstream {
  user: UpstreamUser | undefined;
  /** pool tick at which it went idle */
  idleSince = 0;
  /** requests it has carried */
  uses = 0;
  private error: Error | undefined;

  constructor(
    readonly sock: Socket,
    readonly key: string,
    /** the address dialled (an IP literal the destination policy allowed), and its port */
    readonly address: string,
    readonly port: number,
    private readonly pool: UpstreamPool,
  ) {
    sock.setNoDelay(true);
    // a FIN while idle: the server closed a kept-alive connection (its keep-alive timeout); it cannot carry another
    // request, so it goes now rather than when the close completes (acquire must not hand it out meanwhile)
    sock.on('end', () => (this.user ? this.user.onUpstreamEnd() : sock.destroy()));
    sock.on('drain', () => this.user?.onUpstreamDrain());
    sock.on('error', (e) => (this.error = e));
    sock.on('close', () => {
      const u = this.user;
      this.user = undefined;
      this.pool.forget(this);
      u?.onUpstreamClose(this.error ?? new Error('upstream closed the connection'));
    });
  }

  /** Bytes from the server (the socket's onread callback): to the exchange using it; while idle, a protocol error. */
  onData(c: Buffer): void {
    if (this.user) this.user.onUpstreamData(c);
    else this.sock.destroy();
  }

  /** Can carry a request: not closed, not half-closed by the server (FIN read), not ended by us. */
  get usable(): boolean {
    const s = this.sock;
    return !s.destroyed && s.writable && !s.readableEnded;
  }

  get connecting(): boolean {
    return this.sock.connecting;
  }

  /** Closes it for a user that is done with it: the user is not told. */
  discard(): void {
    this.user = undefined;
    this.destroy();
  }

  /** Closes it; its user, if any, gets onUpstreamClose(err). */
  destroy(err?: Error): void {
    if (err && !this.error) this.error = err;
    this.sock.destroy();
  }
}

/**
 * Kept-alive connections to origin servers, by a key the proxy chooses ("host:port" as the client named it, or the
 * dialled address), most recently used first (the one least likely to have been closed by the server's keep-alive
 * timeout). Connections idle longer than the idle timeout are closed by the proxy's sweep. The pool dials only
 * addresses, never names: the destination policy resolved the name and judged the address before (policy.ts).
 */
export class UpstreamPool {
  private readonly idle = new Map<string, Upstream[]>();
  private idleCount = 0;
  private readonly open = new Set<Upstream>();

  constructor(private readonly maxIdle: number) {}

  /** An idle connection under `key`, now used by `user`; undefined when there is none. */
  acquire(key: string, user: UpstreamUser): Upstream | undefined {
    const list = this.idle.get(key);
    let pooled: Upstream | undefined;
    while (list && (pooled = list.pop())) {
      this.idleCount--;
      if (pooled.usable) break;
      // closed by the server, its close not reported yet: not for a request (one with a body is not retried)
      pooled.sock.destroy();
      pooled = undefined;
    }
    if (list && list.length === 0) this.idle.delete(key);
    if (pooled) {
      pooled.user = user;
      pooled.uses++;
    }
    return pooled;
  }

  /** An idle connection under `key` (reused: true), or a new one to address:port being opened. */
  acquireOrConnect(key: string, address: string, port: number, user: UpstreamUser): { up: Upstream; reused: boolean } {
    const pooled = this.acquire(key, user);
    return pooled ? { up: pooled, reused: true } : { up: this.connect(key, address, port, user), reused: false };
  }

  /** A new connection to an IP literal (no name lookup), pooled under `key` once released. */
  connect(key: string, address: string, port: number, user: UpstreamUser): Upstream {
    // reads land in the socket's own chunks (no Readable, no ArrayBuffer per read); each callback runs before the
    // next read, and the generator is asked for the next region after it
    const chunks = new ReadChunks();
    let up: Upstream;
    const sock = net.connect({
      host: address,
      port,
      onread: {
        buffer: () => chunks.region(),
        callback: (n: number) => {
          up.onData(chunks.filled(n));
          return true;
        },
      },
    });
    up = new Upstream(sock, key, address, port, this);
    up.user = user;
    up.uses = 1;
    this.open.add(up);
    return up;
  }

  /** Back to the pool after a complete exchange on a persistent connection. */
  release(up: Upstream, tick: number): void {
    up.user = undefined;
    if (!up.usable) return void up.sock.destroy();
    if (this.idleCount >= this.maxIdle) return void up.sock.destroy();
    up.idleSince = tick;
    let list = this.idle.get(up.key);
    if (!list) this.idle.set(up.key, (list = []));
    list.push(up);
    this.idleCount++;
  }

  /** Called when a connection closes: it leaves the pool. */
  forget(up: Upstream): void {
    this.open.delete(up);
    const list = this.idle.get(up.key);
    if (!list) return;
    const i = list.indexOf(up);
    if (i < 0) return;
    list.splice(i, 1);
    this.idleCount--;
    if (list.length === 0) this.idle.delete(up.key);
  }

  /** Closes connections idle since before `tick - maxIdleTicks`. */
  sweep(tick: number, maxIdleTicks: number): void {
    if (this.idleCount === 0) return;
    for (const list of [...this.idle.values()]) for (const up of [...list]) if (tick - up.idleSince > maxIdleTicks) up.sock.destroy();
  }

  destroy(): void {
    for (const up of [...this.open]) up.sock.destroy();
    this.idle.clear();
    this.idleCount = 0;
  }
}
