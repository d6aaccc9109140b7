/**
 * Slice files kept open for the readers that send them (nginx's open_file_cache, for the slices of the moment): a
 * hot slice is opened once, not once per reader, and a slice just fetched is sent from the file the store wrote —
 * from the page cache with sendfile — instead of from memory. An open file is shared: each reader holds a reference
 * while its sendfile runs, and the file closes when the last one lets go after the table retired it (evicted,
 * dropped, replaced). A retired file's bytes stay readable through the descriptor even once unlinked, and are the
 * bytes that were verified.
 */
import type { FileHandle } from 'node:fs/promises';

export class SharedFile {
  /** the table's reference plus one per reader */
  private refs = 1;
  private retired = false;

  constructor(readonly fh: FileHandle) {}

  get fd(): number {
    return this.fh.fd;
  }

  /** A reader's reference: the release function, or undefined when the file has already closed. */
  acquire(): (() => void) | undefined {
    if (this.refs === 0) return undefined;
    this.refs++;
    let held = true;
    return () => {
      if (held) this.unref();
      held = false;
    };
  }

  /** The owner lets go; the file closes once no reader holds it. */
  retire(): void {
    if (this.retired) return;
    this.retired = true;
    this.unref();
  }

  private unref(): void {
    if (--this.refs === 0) void this.fh.close().catch(() => {});
  }
}

/** At most `max` shared slice files by slice name, least recently used retired first. */
export class OpenFiles {
  private readonly files = new Map<string, SharedFile>();

  constructor(private readonly max: number) {}

  get(name: string): SharedFile | undefined {
    const f = this.files.get(name);
    if (f) {
      this.files.delete(name);
      this.files.set(name, f);
    }
    return f;
  }

  /** Keeps `f` under `name` (retiring the file it replaces, and the least recently used beyond the bound). */
  set(name: string, f: SharedFile): void {
    this.delete(name);
    this.files.set(name, f);
    for (const [k, old] of this.files) {
      if (this.files.size <= this.max) break;
      this.files.delete(k);
      old.retire();
    }
  }

  delete(name: string): void {
    const f = this.files.get(name);
    if (!f) return;
    this.files.delete(name);
    f.retire();
  }

  clear(): void {
    for (const f of this.files.values()) f.retire();
    this.files.clear();
  }
}
