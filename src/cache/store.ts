/**
 * Slices on disk, in `<directory>/slices/<id[0:2]>/<id>.<index>`, indexed by the append-only journal
 * (journal.ts) in `<directory>/journal`, bounded by `maxBytes` with least-recently-used eviction per slice.
 *
 * Crash safety (`kill -9` at any instant): a slice is written to `<name>.tmp`, fsync'd, renamed, and its directory
 * fsync'd; only then is its journal line appended (and fsync'd), and only then does the in-memory index know it.
 * So the journal never names a half-written file. Opening reconciles the two: temp files are removed, files the
 * journal does not name (a crash between rename and append) are removed, entries whose file is missing or has
 * another size are dropped; then the journal is rewritten compactly (temp, fsync, rename) in LRU order, which is
 * how recency survives a restart (reads are not journalled; recency since the last compaction is approximate).
 *
 * Why a journal and not SQLite: the index is a set of (id, index, size, hash) plus one metadata record per object,
 * written once per MiB and never queried but by key; a journal needs no schema in src/store/, cannot be
 * "ahead" of the files by construction, and is rebuilt from the directory if lost.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  read as readCb,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { decodeJournal, encodeRecord, type JournalRecord } from './journal.ts';
import type { CacheMetrics } from './metrics.ts';
import type { ObjectMeta } from './object-meta.ts';
import { OpenFiles, SharedFile } from './open-files.ts';
import { fsyncDir } from '../store/fsync-dir.ts';

export interface SliceEntry {
  id: string;
  index: number;
  bytes: number;
  sha256: string;
}

export interface SliceStoreDeps {
  directory: string;
  maxBytes: number;
  verifyOnRead: boolean;
  log: Logger;
  metrics: CacheMetrics;
}

const sliceName = (id: string, index: number): string => `${id}.${index}`;
/** how long a hashed, unchanged slice file is trusted without hashing it again (see SliceStore.verified) */
const VERIFY_INTERVAL_MS = 60_000;
const FILE = /^([0-9a-f]{64})\.(\d+)$/;
/** slice files kept open between readers: a window of the slices being sent (a room reading the same object) */
const OPEN_FILES = 256;

export class SliceStore {
  private readonly objects = new Map<string, ObjectMeta>();
  /** insertion order is recency order: the first entry is the least recently used */
  private readonly slices = new Map<string, SliceEntry>();
  private used = 0;
  /** bytes of writes in progress, counted against maxBytes before they land */
  private reserved = 0;
  private journal: FileHandle | undefined;
  private journalLines = 0;
  /** journal appends, one at a time in order */
  private chain: Promise<void> = Promise.resolve();
  /**
   * When each slice file was last hashed, and the file's identity then (inode, size, mtime): a read of an unchanged
   * file within VERIFY_INTERVAL_MS skips the re-hash. A write into the file (corruption, another program) changes
   * its mtime and is caught at once; silent bit rot is caught at the next re-hash, at most that interval later.
   */
  private readonly verified = new Map<string, { ino: bigint; size: bigint; mtimeNs: bigint; at: number }>();

  /** written slices waiting for their batch to be made durable (group commit, see durable()) */
  private readonly pendingDurable: Array<PendingDurable & { resolve: () => void; reject: (e: unknown) => void }> = [];
  private committing = false;
  /** slice files open for readers (open-files.ts) */
  private readonly files = new OpenFiles(OPEN_FILES);

  constructor(private readonly deps: SliceStoreDeps) {}

  get bytes(): number {
    return this.used;
  }

  get sliceCount(): number {
    return this.slices.size;
  }

  private get sliceDir(): string {
    return join(this.deps.directory, 'slices');
  }

  private path(id: string, index: number): string {
    return join(this.sliceDir, id.slice(0, 2), sliceName(id, index));
  }

  /** Replays the journal, reconciles it with the files, compacts it and opens it for appending. */
  async open(): Promise<void> {
    mkdirSync(this.sliceDir, { recursive: true });
    const jpath = join(this.deps.directory, 'journal');
    let text = '';
    try {
      text = readFileSync(jpath, 'utf8');
    } catch {
      /* a new store */
    }
    const { records, damaged } = decodeJournal(text);
    if (damaged)
      this.deps.log.warn({ path: jpath, records: records.length }, 'cache journal ends in a damaged line (a crash mid-append); replayed up to it');
    for (const r of records) this.apply(r);
    this.reconcile();
    this.compact();
    this.journal = await open(jpath, 'a');
    this.deps.metrics.storeBytes.set(this.used);
    this.deps.metrics.storeSlices.set(this.slices.size);
    this.deps.log.info({ objects: this.objects.size, slices: this.slices.size, bytes: this.used }, 'cache store opened');
  }

  async close(): Promise<void> {
    await this.chain;
    this.files.clear();
    await this.journal?.close();
    this.journal = undefined;
  }

  private apply(r: JournalRecord): void {
    if ('o' in r) this.objects.set(r.o.id, r.o);
    else if ('s' in r) {
      const [id, index, bytes, sha256] = r.s;
      this.slices.delete(sliceName(id, index));
      this.slices.set(sliceName(id, index), { id, index, bytes, sha256 });
    } else {
      const [id, index] = r.d;
      if (index === -1) {
        this.objects.delete(id);
        for (const [k, s] of this.slices) if (s.id === id) this.slices.delete(k);
      } else this.slices.delete(sliceName(id, index));
    }
  }

  /** Files and index agree afterwards: see the file comment. */
  private reconcile(): void {
    const seen = new Set<string>();
    for (const shard of readdirSync(this.sliceDir)) {
      const dir = join(this.sliceDir, shard);
      for (const f of readdirSync(dir)) {
        const e = FILE.test(f) ? this.slices.get(f) : undefined;
        if (e && statSync(join(dir, f)).size === e.bytes) seen.add(f);
        else rmSync(join(dir, f), { force: true }); // a temp file, an orphan of a crash, or a short file
      }
    }
    for (const k of this.slices.keys()) if (!seen.has(k)) this.slices.delete(k);
    const live = new Set([...this.slices.values()].map((s) => s.id));
    for (const id of this.objects.keys()) if (!live.has(id)) this.objects.delete(id);
    for (const s of this.slices.values()) if (!this.objects.has(s.id)) this.slices.delete(sliceName(s.id, s.index));
    this.used = [...this.slices.values()].reduce((n, s) => n + s.bytes, 0);
  }

  /** Rewrites the journal as the live set (objects, then slices oldest first): temp, fsync, rename, fsync dir. */
  private compact(): void {
    const jpath = join(this.deps.directory, 'journal');
    const tmp = `${jpath}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      let lines = 0;
      const put = (r: JournalRecord): void => {
        writeSync(fd, encodeRecord(r));
        lines++;
      };
      for (const o of this.objects.values()) put({ o });
      for (const s of this.slices.values()) put({ s: [s.id, s.index, s.bytes, s.sha256] });
      fsyncSync(fd);
      this.journalLines = lines;
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, jpath);
    syncDir(this.deps.directory);
  }

  private append(r: JournalRecord | JournalRecord[], sync: boolean): Promise<void> {
    const records = Array.isArray(r) ? r : [r];
    const next = this.chain.then(async () => {
      const j = this.journal;
      if (!j || records.length === 0) return;
      await j.write(records.map(encodeRecord).join(''));
      if (sync) await j.datasync();
      this.journalLines += records.length;
      if (this.journalLines > 4 * (this.slices.size + this.objects.size) + 1024) {
        await j.close();
        this.compact();
        this.journal = await open(join(this.deps.directory, 'journal'), 'a');
      }
    });
    this.chain = next.catch((e: unknown) => this.deps.log.error({ err: e }, 'cache journal append failed'));
    return next;
  }

  object(id: string): ObjectMeta | undefined {
    return this.objects.get(id);
  }

  has(id: string, index: number): boolean {
    return this.slices.has(sliceName(id, index));
  }

  /** Records (or replaces) an object's metadata. */
  async putObject(meta: ObjectMeta): Promise<void> {
    await this.append({ o: meta }, true);
    this.objects.set(meta.id, meta);
  }

  /** A stored slice's bytes (it becomes the most recently used), or undefined: not stored, gone, or corrupt (then dropped). */
  async read(id: string, index: number): Promise<Buffer | undefined> {
    const got = await this.openSlice(id, index);
    if (!got || 'data' in got) return got?.data;
    try {
      return await readAt(got.fd, 0, got.bytes);
    } finally {
      got.release();
    }
  }

  /**
   * A stored slice, verified (it becomes the most recently used): an open file (`fd`, kept open for other readers
   * too, open-files.ts) when the file was hashed or written less than VERIFY_INTERVAL_MS ago and its inode, size and
   * mtime are unchanged — the caller sends it from the page cache (sendfile) and calls `release` — else its bytes,
   * read and hashed now. Undefined: not stored, gone, or corrupt (then dropped).
   */
  async openSlice(id: string, index: number): Promise<{ fd: number; bytes: number; release: () => void } | { data: Buffer } | undefined> {
    const k = sliceName(id, index);
    const e = this.slices.get(k);
    if (!e) return undefined;
    this.slices.delete(k);
    this.slices.set(k, e);
    let f = this.files.get(k);
    if (!f) {
      try {
        f = new SharedFile(await open(this.path(id, index), 'r'));
      } catch {
        this.drop(e, 'missing');
        return undefined;
      }
      if (this.slices.get(k) === e) this.files.set(k, f);
      else f.retire(); // dropped or replaced while it opened: this reader's only
    }
    const release = f.acquire();
    if (!release) return undefined; // closed meanwhile (dropped)
    try {
      // fstat of an open descriptor: no disk I/O, cheap enough for every read
      const st = fstatSync(f.fd, { bigint: true });
      const now = Date.now();
      const stamp = this.verified.get(k);
      const fresh = stamp && stamp.ino === st.ino && stamp.size === st.size && stamp.mtimeNs === st.mtimeNs && now - stamp.at < VERIFY_INTERVAL_MS;
      if (st.size === BigInt(e.bytes) && (fresh || !this.deps.verifyOnRead)) return { fd: f.fd, bytes: e.bytes, release };
      const data = await readAt(f.fd, 0, Number(st.size));
      release();
      if (data.length !== e.bytes || (this.deps.verifyOnRead && createHash('sha256').update(data).digest('hex') !== e.sha256)) {
        this.deps.log.warn({ id, index }, 'cache slice failed verification; dropped');
        this.drop(e, 'corrupt');
        return undefined;
      }
      if (this.deps.verifyOnRead) this.verified.set(k, { ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, at: now });
      return { data };
    } catch {
      release();
      this.drop(e, 'missing');
      return undefined;
    }
  }

  /**
   * Stores a complete, verified slice. false when it cannot (disk full, I/O error, larger than the bound): the
   * caller has served it anyway, so a full disk costs caching, not traffic. `written` is told the file as soon as
   * its bytes are in it (before fsync): readers that come meanwhile can send it from the page cache.
   */
  async write(id: string, index: number, data: Buffer, sha256: string, written?: (f: SharedFile) => void): Promise<boolean> {
    if (!this.journal || data.length > this.deps.maxBytes) return false;
    this.makeRoom(data.length);
    this.reserved += data.length;
    const final = this.path(id, index);
    const tmp = `${final}.tmp`;
    let f: SharedFile | undefined;
    try {
      mkdirSync(join(this.sliceDir, id.slice(0, 2)), { recursive: true });
      f = new SharedFile(await open(tmp, 'w+'));
      await f.fh.writeFile(data);
      written?.(f);
      await this.durable({ f, tmp, final, dir: join(this.sliceDir, id.slice(0, 2)), record: { s: [id, index, data.length, sha256] } });
      // the caller hashed these bytes (the sha256 it passes): the file as written counts as verified
      const st = await f.fh.stat({ bigint: true });
      this.verified.set(sliceName(id, index), { ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, at: Date.now() });
      const k = sliceName(id, index);
      const old = this.slices.get(k);
      if (old) this.used -= old.bytes;
      this.slices.delete(k);
      this.slices.set(k, { id, index, bytes: data.length, sha256 });
      this.used += data.length;
      this.files.set(k, f);
      return true;
    } catch (e) {
      const reason = (e as NodeJS.ErrnoException).code === 'ENOSPC' ? 'disk-full' : 'io';
      this.deps.metrics.storeFailures.inc({ reason });
      this.deps.log.warn({ err: e, id, index, reason }, 'cache slice not stored; traffic passes through uncached');
      f?.retire();
      await unlink(tmp).catch(() => {});
      return false;
    } finally {
      this.reserved -= data.length;
      this.deps.metrics.storeBytes.set(this.used);
      this.deps.metrics.storeSlices.set(this.slices.size);
    }
  }

  /**
   * Makes a written slice file durable and journals it: fsync, rename, fsync of its directory, the journal line with
   * fdatasync — in that order, so the journal never names a file that is not complete on disk. Group commit: slices
   * that finish writing while a batch is being made durable wait for the next batch, which syncs each file, renames
   * them, syncs each directory once and appends every line with one fdatasync. One batch at a time, so the fsyncs
   * hold at most one of libuv's threads and never queue in front of the reads and writes that serve readers.
   */
  private durable(w: PendingDurable): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pendingDurable.push({ ...w, resolve, reject });
      if (!this.committing) void this.commitBatches();
    });
  }

  private async commitBatches(): Promise<void> {
    this.committing = true;
    try {
      while (this.pendingDurable.length) {
        const batch = this.pendingDurable.splice(0);
        const ok: typeof batch = [];
        for (const w of batch) {
          try {
            await w.f.fh.sync();
            await rename(w.tmp, w.final);
            ok.push(w);
          } catch (e) {
            w.reject(e);
          }
        }
        try {
          for (const dir of new Set(ok.map((w) => w.dir))) await fsyncDir(dir);
          await this.append(
            ok.map((w) => w.record),
            true,
          );
          for (const w of ok) w.resolve();
        } catch (e) {
          for (const w of ok) w.reject(e);
        }
      }
    } finally {
      this.committing = false;
    }
  }

  /** Evicts least recently used slices until `incoming` more bytes fit. */
  private makeRoom(incoming: number): void {
    for (const e of this.slices.values()) {
      if (this.used + this.reserved + incoming <= this.deps.maxBytes) break;
      this.drop(e, 'evicted');
    }
  }

  private drop(e: SliceEntry, why: 'evicted' | 'corrupt' | 'missing' | 'purged'): void {
    const k = sliceName(e.id, e.index);
    if (this.slices.get(k) !== e) return;
    this.slices.delete(k);
    this.verified.delete(k);
    this.files.delete(k);
    this.used -= e.bytes;
    if (why === 'evicted') this.deps.metrics.evictions.inc();
    if (why === 'corrupt') this.deps.metrics.corruptSlices.inc();
    rmSync(this.path(e.id, e.index), { force: true });
    // the object's metadata stays (a fill of another slice may be on its way; the next fetch checks validators against it);
    // metadata without slices is dropped when the store is next opened
    void this.append({ d: [e.id, e.index] }, false).catch(() => {});
    this.deps.metrics.storeBytes.set(this.used);
    this.deps.metrics.storeSlices.set(this.slices.size);
  }

  /** Removes an object and all its slices (purge by URL, or the origin changed it). */
  async purgeObject(id: string): Promise<void> {
    for (const e of [...this.slices.values()]) if (e.id === id) this.drop(e, 'purged');
    if (this.objects.delete(id)) await this.append({ d: [id, -1] }, true);
    await this.chain;
  }

  /** Removes every object of a service; returns how many. */
  async purgeService(service: string): Promise<number> {
    const ids = [...this.objects.values()].filter((o) => o.service === service).map((o) => o.id);
    for (const id of ids) await this.purgeObject(id);
    return ids.length;
  }

  /** The slice entries, least recently used first (for tests and stats). */
  entries(): SliceEntry[] {
    return [...this.slices.values()];
  }
}

interface PendingDurable {
  f: SharedFile;
  tmp: string;
  final: string;
  dir: string;
  record: JournalRecord;
}

/** Bytes [pos, pos+length) of an open file (short only if the file is). */
export async function readAt(fd: number, pos: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = await new Promise<number>((resolve, reject) =>
      readCb(fd, buf, got, length - got, pos + got, (err, n) => (err ? reject(err) : resolve(n))),
    );
    if (n === 0) break;
    got += n;
  }
  return got === length ? buf : buf.subarray(0, got);
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
