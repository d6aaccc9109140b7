import { open, stat, type FileHandle } from 'node:fs/promises';

/**
 * Durable commits without blocking the event loop.
 *
 * With `synchronous=FULL`, SQLite fsyncs the WAL inside COMMIT, on the calling thread: ~1.5 ms of a blocked event
 * loop per commit here, during which no DHCP packet, proxy request or TFTP tick is served (docs/bench/proxy.md).
 * Instead the appliance runs `synchronous=NORMAL` (WAL frames are written at COMMIT, the WAL and the database are
 * synced around every checkpoint, so the file stays consistent) and, before it acknowledges anything, calls
 * `sync()`: an fdatasync of the -wal file in libuv's thread pool. Frames written by a COMMIT that returned before
 * `sync()` was called are on disk when it resolves: the same guarantee as FULL, paid off the event loop, and shared
 * by every commit made meanwhile (one fdatasync for the DHCP leases and audit records of several turns).
 *
 * The WAL is only replaced when the last connection closes (ours stays open), but the inode is checked before each
 * sync so a recreated file is never mistaken for the one written to.
 */
export class WalSync {
  private fh: FileHandle | undefined;
  private ino = -1;
  private running = false;
  private waiting: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private idle: Array<() => void> = [];
  private closed = false;

  constructor(private readonly walPath: string) {}

  /** Resolves once everything committed before this call is on disk; rejects if the sync failed (not durable). */
  sync(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('WalSync is closed'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (!this.running) this.run();
    });
  }

  /** Waits for syncs in progress, then closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.running) await new Promise<void>((r) => this.idle.push(r));
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
  }

  private run(): void {
    // a caller that arrives while a sync runs waits for the next one: the running sync may predate its commit
    this.running = true;
    const batch = this.waiting;
    this.waiting = [];
    this.syncNow()
      .then(
        () => batch.forEach((w) => w.resolve()),
        (e: unknown) => batch.forEach((w) => w.reject(e)),
      )
      .finally(() => {
        this.running = false;
        if (this.waiting.length) this.run();
        else for (const r of this.idle.splice(0)) r();
      });
  }

  private async syncNow(): Promise<void> {
    const st = await stat(this.walPath).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined; // nothing written in WAL mode yet (or checkpointed and removed)
      throw e;
    });
    if (!st) return;
    if (!this.fh || st.ino !== this.ino) {
      await this.fh?.close().catch(() => undefined);
      this.fh = await open(this.walPath, 'r+');
      this.ino = (await this.fh.stat()).ino;
    }
    await this.fh.datasync();
  }
}

/**
 * Acknowledgements waiting for a durable() sync, as the DHCP server and the audit log hold them: `after` runs `ok`
 * once the sync resolves (or `fail` if it rejects), and `drain` waits for every one still outstanding (stop()).
 */
export class SyncWaits {
  private readonly pending = new Set<Promise<void>>();

  get size(): number {
    return this.pending.size;
  }

  after(durable: () => Promise<void>, ok: () => void, fail: (e: unknown) => void): void {
    const p = durable().then(ok, fail);
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  async drain(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }
}
