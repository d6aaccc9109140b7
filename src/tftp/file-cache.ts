import { readFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';

interface Entry {
  data: Buffer;
  /** the identity the data was read under: a change of any of these invalidates it */
  mtimeMs: number;
  size: number;
  ino: number;
}

/** The file's identity as seen by stat (mtime, size, inode). */
export type FileStamp = Pick<Stats, 'mtimeMs' | 'size' | 'ino'>;

/**
 * Hot boot files in memory, LRU by bytes (a boot storm reads the same NBP/kernel/initrd hundreds of times).
 * An entry is used only while the file's mtime, size and inode still match; concurrent misses share one read.
 */
export class FileCache {
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Buffer>>();
  private bytes = 0;

  constructor(
    readonly maxBytes: number,
    readonly maxFileBytes: number,
  ) {}

  get size(): number {
    return this.bytes;
  }

  cacheable(size: number): boolean {
    return size <= this.maxFileBytes && size <= this.maxBytes;
  }

  /** The cached bytes if still current (marks it recently used), else undefined. */
  lookup(path: string, st: FileStamp): Buffer | undefined {
    const e = this.entries.get(path);
    if (!e) return undefined;
    if (e.mtimeMs !== st.mtimeMs || e.size !== st.size || e.ino !== st.ino) {
      this.remove(path);
      return undefined;
    }
    this.entries.delete(path);
    this.entries.set(path, e);
    return e.data;
  }

  /** Reads the file once for all concurrent callers and keeps it if it still matches the stamp. */
  load(path: string, st: FileStamp): Promise<Buffer> {
    const key = `${path}\0${st.mtimeMs}\0${st.size}\0${st.ino}`;
    let p = this.loading.get(key);
    if (p) return p;
    p = readFile(path)
      .then((data) => {
        // a file rewritten between stat and read has another length: serve what was read, do not cache it
        if (data.length === st.size) this.insert(path, { data, mtimeMs: st.mtimeMs, size: st.size, ino: st.ino });
        return data;
      })
      .finally(() => this.loading.delete(key));
    this.loading.set(key, p);
    return p;
  }

  private insert(path: string, e: Entry): void {
    this.remove(path);
    if (!this.cacheable(e.size)) return;
    this.entries.set(path, e);
    this.bytes += e.size;
    for (const [k] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.remove(k);
    }
  }

  private remove(path: string): void {
    const e = this.entries.get(path);
    if (!e) return;
    this.entries.delete(path);
    this.bytes -= e.size;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}
