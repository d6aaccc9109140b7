import type { Logger } from 'pino';
import type { AuditRepository, OpenRow } from '../store/audit-repository.ts';
import type { AuditSigner } from './keys.ts';
import type { AuditMetrics } from './metrics.ts';
import { SyncWaits } from '../store/wal-sync.ts';
import type { AuditInput, AuditRecord } from './record.ts';
import { AuditChain, type ChainHead } from './chain.ts';
import { checkpointInput } from './checkpoint.ts';

export interface AuditLogDeps {
  repo: AuditRepository;
  signer: AuditSigner;
  logger: Logger;
  metrics?: AuditMetrics;
  /** unix ms; injected for tests */
  clock?: () => number;
  /** Records older than this many days are purged (with a signed checkpoint); 0 or undefined keeps everything. */
  retentionDays?: number;
  /** How often retention runs while started (default hourly). */
  retentionIntervalMs?: number;
  /**
   * Makes what was committed so far durable (WalSync.sync) when the database does not sync inside COMMIT; callers'
   * promises resolve only after it. Absent: COMMIT is durable by itself (synchronous=FULL).
   */
  durable?: () => Promise<void>;
  /**
   * Commits plain records off the event loop (store/audit-writer-thread.ts). Absent: every record is committed on
   * the main connection. Present: seq and the hash chain are still assigned here, in order, and each group commit
   * is posted to the writer as one batch; units that write through the main connection (appendWith, retention)
   * wait until the writer is idle and then commit here, so the two connections never interleave in the chain.
   */
  writer?: AuditWriter;
}

/** Commits sealed audit records on a connection of its own. */
export interface AuditWriter {
  /**
   * Resolves once the batch (consecutive seqs continuing the committed chain) is durably committed; rejects when
   * none of it was.
   */
  write(records: AuditRecord[], ops?: OpenOps): Promise<void>;
}

/** audit_open rows to insert and to delete, committed in the same transaction as the records they go with. */
export interface OpenOps {
  opens: OpenRow[];
  closes: number[];
}

interface Pending {
  /** Runs inside the commit transaction; its return value is the record to append. */
  build: () => AuditInput;
  /** build() writes to the store too: run it in its own savepoint so a failure undoes only this unit */
  atomic: boolean;
  resolve: (r: AuditRecord) => void;
  reject: (e: unknown) => void;
  /** the audit_open row this record replaces (the connection it describes has closed) */
  closes?: number;
}

const DAY_MS = 86_400_000;

/**
 * The append-only audit trail with group commit: append() queues, one SQLite transaction per event-loop turn
 * commits everything queued (here, or in the writer thread), and only once it is durable do the callers'
 * promises resolve — so a record acknowledged to anyone survives kill -9 and power loss. Each record carries the
 * hash of the previous one.
 */
export class AuditLog {
  private pending: Pending[] = [];
  private flushScheduled = false;
  /** seq, time and hash of every record, whichever connection commits it */
  private readonly chain: AuditChain;
  private timer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private readonly clock: () => number;
  /** commits waiting for their durable() sync */
  private readonly syncing = new SyncWaits();
  /** batches posted to the writer and not yet answered */
  private writerBusy = 0;
  /** main-connection jobs waiting for the writer to be idle; while any waits, nothing new is posted */
  private readonly held: Array<() => void> = [];
  /** connections opened since the last group commit (audit_open rows to write with it) */
  private opens: OpenRow[] = [];
  private lastOpenId: number;

  constructor(private readonly deps: AuditLogDeps) {
    this.log = deps.logger;
    this.clock = deps.clock ?? Date.now;
    this.chain = AuditChain.resume(deps.repo, this.clock);
    this.lastOpenId = deps.repo.maxOpenId();
  }

  start(): void {
    void this.exclusive(() => this.recordInterrupted());
    if (this.deps.retentionDays) {
      const purge = () => void this.purgeExpired().catch((err: unknown) => this.log.error({ err }, 'audit retention purge failed'));
      purge();
      this.timer = setInterval(purge, this.deps.retentionIntervalMs ?? 3_600_000);
      this.timer.unref();
    }
  }

  /**
   * Stops retention, commits what is queued and waits until it is durable (stop producers first: later appends
   * commit on their own turn).
   */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    do {
      this.flush();
      await this.exclusive(() => undefined); // the writer has answered everything posted so far
    } while (this.pending.length || this.opens.length);
    await this.syncing.drain();
  }

  /**
   * Runs `fn` on the main connection once no batch is with the writer (at once when none is), holding back new
   * batches meanwhile: what `fn` commits then sits in the chain exactly where its seq says.
   */
  private exclusive<T>(fn: () => T): Promise<T> {
    return new Promise((resolve, reject) => {
      const job = () => {
        try {
          resolve(fn());
        } catch (e) {
          reject(e);
        }
      };
      if (this.writerBusy === 0 && this.held.length === 0) job();
      else this.held.push(job);
    });
  }

  private writerAnswered(): void {
    if (--this.writerBusy > 0) return;
    for (const job of this.held.splice(0)) job();
    if (this.pending.length || this.opens.length) this.scheduleFlush();
  }

  /**
   * Queues one record; resolves with the committed record (seq, time, hashes) once its transaction committed.
   * `closes`: the id open() gave for the connection this record describes; its audit_open row goes in the same
   * transaction.
   */
  append(input: AuditInput, closes?: number): Promise<AuditRecord> {
    return new Promise((resolve, reject) => {
      const p: Pending = { build: () => input, atomic: false, resolve, reject };
      if (closes !== undefined) p.closes = closes;
      this.pending.push(p);
      this.scheduleFlush();
    });
  }

  /**
   * A connection whose record is written when it closes (a tunnel) has opened: until then an audit_open row stands
   * for it, written with the next group commit (not awaited: the connection does not wait for it), so that after a
   * crash it still gets a record ("interrupted", see recordInterrupted). Returns the id to pass to append().
   */
  open(input: AuditInput): number {
    const id = ++this.lastOpenId;
    this.opens.push([id, this.clock(), JSON.stringify(input)]);
    this.scheduleFlush();
    return id;
  }

  /**
   * Queues a change and its audit record as one unit: `build` runs inside the group-commit transaction (in a
   * savepoint), so the change it makes through a repository on the same database and the record it returns
   * commit together or not at all. If `build` throws, only this unit is rolled back and its promise rejects.
   */
  appendWith(build: () => AuditInput): Promise<AuditRecord> {
    return new Promise((resolve, reject) => {
      this.pending.push({ build, atomic: true, resolve, reject });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Units queued and not yet committed (the system screen's audit backlog). */
  get backlog(): number {
    return this.pending.length + this.opens.length;
  }

  /** Commits every queued unit in one transaction, then settles the promises that waited for it. */
  flush(): void {
    this.flushScheduled = false;
    if (this.held.length) return; // a main-connection job waits for the writer: these go after it
    const batch = this.pending;
    if (batch.length === 0 && this.opens.length === 0) return;
    this.pending = [];
    const ops = this.openOps(batch);
    const writer = this.deps.writer;
    if (!writer) return this.commitHere(batch, ops);
    if (batch.some((p) => p.atomic)) return void this.exclusive(() => this.commitHere(batch, ops));
    this.postToWriter(writer, batch, ops);
  }

  /** The audit_open rows this commit writes and deletes; a connection that opened and closed since the last one needs neither. */
  private openOps(batch: Pending[]): OpenOps {
    let opens = this.opens;
    this.opens = [];
    const openedNow = opens.length ? new Set(opens.map((o) => o[0])) : undefined;
    const closes: number[] = [];
    const cancelled = new Set<number>();
    for (const p of batch) {
      if (p.closes === undefined) continue;
      if (openedNow?.has(p.closes)) cancelled.add(p.closes);
      else closes.push(p.closes);
    }
    if (cancelled.size) opens = opens.filter((o) => !cancelled.has(o[0]));
    return { opens, closes };
  }

  /** Seals the batch onto the chain and hands it to the writer; promises settle when the writer answers. */
  private postToWriter(writer: AuditWriter, batch: Pending[], ops: OpenOps): void {
    const done: Array<{ p: Pending; record?: AuditRecord; error?: unknown }> = [];
    const records: AuditRecord[] = [];
    for (const p of batch) {
      try {
        const r = this.chain.advance(p.build());
        records.push(r);
        done.push({ p, record: r });
      } catch (error) {
        done.push({ p, error });
      }
    }
    const hasOps = ops.opens.length > 0 || ops.closes.length > 0;
    if (records.length === 0 && !hasOps) return this.settle(done);
    this.writerBusy++;
    if (records.length) this.deps.metrics?.batches.observe(records.length);
    writer.write(records, hasOps ? ops : undefined).then(
      () => {
        this.settle(done);
        this.writerAnswered();
      },
      (e: unknown) => {
        // Not committed means not acknowledged. Later batches were sealed on these records: the writer refuses
        // them too (AUDIT_SEQUENCE), and once it is idle the chain head is read back from the table.
        this.deps.metrics?.failures.inc();
        this.log.error({ err: e, count: records.length }, 'audit commit failed; records not acknowledged');
        for (const d of done) d.p.reject(d.record ? e : d.error);
        // Before any main-connection job already waiting: it must seal on what the table holds, not on these.
        this.held.unshift(() => this.chain.resume(this.deps.repo));
        this.writerAnswered();
      },
    );
  }

  /** Commits the batch on the main connection (no writer, or units that must share its transaction). */
  private commitHere(batch: Pending[], ops: OpenOps = { opens: [], closes: [] }): void {
    const done: Array<{ p: Pending; record?: AuditRecord; error?: unknown }> = [];
    const repo = this.deps.repo;
    try {
      repo.transaction(() => {
        for (const p of batch) {
          try {
            const write = (): AuditRecord => {
              const r = this.chain.next(p.build());
              repo.append(r);
              return r;
            };
            // A plain record fails only in normalise(), before anything is written: no savepoint needed.
            const record = p.atomic ? repo.transaction(write) : write();
            this.chain.accept(record); // stored (this unit): the next one links to it
            done.push({ p, record });
          } catch (error) {
            done.push({ p, error });
          }
        }
        repo.applyOpenOps(ops.opens, ops.closes);
      });
    } catch (e) {
      // Not committed means not acknowledged: every caller in the batch gets the error.
      this.deps.metrics?.failures.inc();
      this.log.error({ err: e, count: batch.length }, 'audit commit failed; records not acknowledged');
      this.chain.resume(repo); // rolled back: the head is what the table holds
      for (const p of batch) p.reject(e);
      return;
    }
    if (batch.length) this.deps.metrics?.batches.observe(batch.length);
    if (!this.deps.durable) return this.settle(done);
    // committed but not yet on disk: acknowledge nothing until the WAL sync that covers this commit is done
    this.syncing.after(
      this.deps.durable,
      () => this.settle(done),
      (e: unknown) => {
        this.deps.metrics?.failures.inc();
        this.log.error({ err: e, count: batch.length }, 'audit sync failed; records not acknowledged');
        for (const d of done) d.p.reject(e);
      },
    );
  }

  private settle(done: Array<{ p: Pending; record?: AuditRecord; error?: unknown }>): void {
    for (const d of done) {
      if (d.record) {
        this.deps.metrics?.records.inc({ kind: d.record.kind });
        d.p.resolve(d.record);
      } else d.p.reject(d.error);
    }
  }

  /**
   * Connections that were open when bootgate last stopped without closing them (a crash, kill -9, power loss): each
   * gets its record now — the fields known when it opened, verdict "interrupted", bytes and duration unknown — and
   * its audit_open row goes in the same transaction. A graceful stop closes every connection first, leaving none.
   */
  private recordInterrupted(): void {
    const rows = this.deps.repo.openRows();
    if (rows.length === 0) return;
    const log = this.log;
    const units: Pending[] = rows.map(([id, openedAt, json]) => ({
      build: (): AuditInput => ({
        ...(JSON.parse(json) as AuditInput),
        verdict: 'interrupted',
        bytesUp: null,
        bytesDown: null,
        durationMs: null,
        detail: `open since ${new Date(openedAt).toISOString()}; bootgate stopped before it closed`,
      }),
      atomic: false,
      resolve: () => undefined,
      reject: (err: unknown) => log.error({ err, id, input: json }, 'an interrupted connection could not be recorded'),
    }));
    this.commitHere(units, { opens: [], closes: rows.map((r) => r[0]) });
    log.warn({ count: rows.length }, 'connections open when bootgate last stopped recorded as interrupted');
  }

  /** The chain head: what the next record will link to. */
  head(): ChainHead {
    return this.chain.head();
  }

  /** Retention with the configured period; resolves with the checkpoint written, if any. */
  purgeExpired(): Promise<AuditRecord | undefined> {
    const days = this.deps.retentionDays;
    if (!days) return Promise.resolve(undefined);
    return this.purgeOlderThan(this.clock() - days * DAY_MS);
  }

  /**
   * Deletes every record older than `cutoff` (unix ms) and appends a checkpoint record, in one transaction. The
   * checkpoint names the last purged seq and its hash (the anchor the oldest remaining record links to) and is
   * signed with the appliance key, so the remaining chain verifies from it. Runs as soon as no batch is with the
   * writer (synchronously when none is), with the records queued before it committed first; nothing else can
   * append in between.
   */
  purgeOlderThan(cutoff: number): Promise<AuditRecord | undefined> {
    return this.exclusive(() => this.purgeNow(cutoff));
  }

  private purgeNow(cutoff: number): AuditRecord | undefined {
    const queued = this.pending;
    this.pending = [];
    if (queued.length) this.commitHere(queued);
    const repo = this.deps.repo;
    const lastPurged = repo.lastOlderThan(cutoff);
    if (!lastPurged) return undefined;
    const first = repo.first();
    const time = this.chain.nextTime();
    const result = repo.transaction(() => {
      const count = repo.purgeThrough(lastPurged.seq);
      const r = this.chain.next(checkpointInput({ first, last: lastPurged, count, cutoff }, this.deps.signer), time);
      repo.append(r);
      return { r, count };
    });
    this.chain.accept(result.r);
    this.deps.metrics?.purged.inc(result.count);
    this.deps.metrics?.records.inc({ kind: 'checkpoint' });
    this.log.info({ count: result.count, throughSeq: lastPurged.seq, cutoff: new Date(cutoff).toISOString() }, 'audit retention purge');
    return result.r;
  }
}
