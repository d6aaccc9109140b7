import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { SpaceExhaustedError, type BlockDevice } from '../iscsi/block-device.ts';

/**
 * A terminal's disk: a read-only base image (one image version) plus a copy-on-write overlay.
 *
 * Layout: `data` is a sparse file the size of the disk, offset-identical to the image (no indirection), and
 * `map` holds one bit per granule (4 KiB) saying "this granule lives in the overlay". Reads take each run
 * of granules from the overlay or the base. A write to a granule not yet in the overlay copies the base
 * bytes around it first (read-modify-write) so a granule is always whole.
 *
 * Crash consistency (SBC-3 write cache semantics, WCE=1): a write updates the in-memory map once its data is
 * in the data file; the map file is written only on flush() (SYNCHRONIZE CACHE, or FUA), after the data file
 * has been fdatasync'ed. So the persisted map is never ahead of the data, and everything acknowledged after a
 * flush survives kill -9 or power loss. Unflushed writes may be lost, as on any disk with a write cache.
 */
export const GRANULE_BYTES = 4096;
const MAP_MAGIC = 'BGOVMAP1';
const MAP_HEADER = 64;
const MAP_PAGE = 4096;

export interface OverlayDiskOptions {
  /** image version file (opened read-only) */
  basePath: string;
  /** overlay directory files */
  dataPath: string;
  mapPath: string;
  /** writes go straight to the base (no overlay) — never used for golden images */
  readOnly?: boolean;
  /** bound on overlay bytes (allocated granules × 4 KiB); writes beyond it fail with SpaceExhaustedError */
  limitBytes?: number;
  /** identity for VPD 0x83/0x80: image + terminal, so every terminal disk has its own NAA id */
  id: string;
}

export class OverlayDisk implements BlockDevice {
  readonly blockSize = 512;
  readonly supportsUnmap: boolean;
  readonly naa: Buffer;
  readonly serial: string;
  readonly blockCount: number;
  readonly readOnly: boolean;
  private readonly granules: number;
  private readonly bits: Uint8Array;
  private allocated = 0;
  private reserved = 0;
  private readonly dirtyPages = new Set<number>();
  /** writes (and unmaps) in flight, by granule range */
  private readonly inflight = new Set<{ g0: number; g1: number; done: Promise<void> }>();
  private flushing: Promise<void> | undefined;

  private constructor(
    private readonly base: FileHandle,
    private readonly data: FileHandle,
    private readonly map: FileHandle,
    private readonly opts: OverlayDiskOptions,
    sizeBytes: number,
    bits: Uint8Array,
  ) {
    this.blockCount = Math.floor(sizeBytes / 512);
    this.readOnly = opts.readOnly ?? false;
    this.supportsUnmap = !this.readOnly;
    this.granules = Math.ceil(sizeBytes / GRANULE_BYTES);
    this.bits = bits;
    for (let i = 0; i < bits.length; i++) this.allocated += popcount(bits[i]!);
    const h = createHash('sha256').update(opts.id).digest();
    // NAA 6 (IEEE Registered Extended), locally derived: unique per (image, terminal) (virtio-win#460)
    this.naa = Buffer.from(h.subarray(0, 8));
    this.naa[0] = 0x60 | (this.naa[0]! & 0x0f);
    this.serial = h.subarray(8, 16).toString('hex');
  }

  static async open(opts: OverlayDiskOptions): Promise<OverlayDisk> {
    const base = await open(opts.basePath, 'r');
    const size = (await base.stat()).size;
    const data = await open(opts.dataPath, 'a+').then(async (h) => {
      await h.close();
      return open(opts.dataPath, 'r+');
    });
    if ((await data.stat()).size !== size) await data.truncate(size);
    const granules = Math.ceil(size / GRANULE_BYTES);
    const mapBytes = Math.ceil(granules / 8);
    const map = await open(opts.mapPath, 'a+').then(async (h) => {
      await h.close();
      return open(opts.mapPath, 'r+');
    });
    const bits = new Uint8Array(mapBytes);
    const st = await map.stat();
    const header = Buffer.alloc(MAP_HEADER);
    let valid = false;
    if (st.size >= MAP_HEADER) {
      await map.read(header, 0, MAP_HEADER, 0);
      valid =
        header.toString('ascii', 0, 8) === MAP_MAGIC && header.readUInt32BE(8) === GRANULE_BYTES && Number(header.readBigUInt64BE(16)) === granules;
    }
    if (valid) {
      await map.read(Buffer.from(bits.buffer, bits.byteOffset, bits.length), 0, mapBytes, MAP_HEADER);
    } else {
      header.fill(0);
      header.write(MAP_MAGIC, 0, 'ascii');
      header.writeUInt32BE(GRANULE_BYTES, 8);
      header.writeBigUInt64BE(BigInt(granules), 16);
      await map.truncate(0);
      await map.write(header, 0, MAP_HEADER, 0);
      await map.truncate(MAP_HEADER + mapBytes);
      await map.sync();
    }
    return new OverlayDisk(base, data, map, opts, size, bits);
  }

  /** bytes held in the overlay */
  get overlayBytes(): number {
    return this.allocated * GRANULE_BYTES;
  }

  private has(g: number): boolean {
    return (this.bits[g >> 3]! & (1 << (g & 7))) !== 0;
  }
  private mark(g: number, on: boolean): void {
    const i = g >> 3;
    const before = this.bits[i]!;
    const after = on ? before | (1 << (g & 7)) : before & ~(1 << (g & 7));
    if (before === after) return;
    this.bits[i] = after;
    this.allocated += on ? 1 : -1;
    this.dirtyPages.add(Math.floor(i / MAP_PAGE));
  }

  async read(offset: number, length: number, buf: Buffer, bufOffset: number): Promise<void> {
    const end = offset + length;
    let pos = offset;
    const reads: Promise<void>[] = [];
    while (pos < end) {
      const g = Math.floor(pos / GRANULE_BYTES);
      const inOverlay = this.has(g);
      let g2 = g + 1;
      while (g2 * GRANULE_BYTES < end && this.has(g2) === inOverlay) g2++;
      const runEnd = Math.min(end, g2 * GRANULE_BYTES);
      reads.push(readFully(inOverlay ? this.data : this.base, buf, bufOffset + (pos - offset), runEnd - pos, pos));
      pos = runEnd;
    }
    await Promise.all(reads);
  }

  /**
   * Writes run concurrently unless their granule ranges overlap: an overlapping write waits for the earlier
   * one (a read-modify-write of an edge granule must not interleave with another write to that granule).
   */
  write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    const g0 = Math.floor(offset / GRANULE_BYTES);
    const g1 = Math.ceil((offset + data.length) / GRANULE_BYTES);
    return this.locked(g0, g1, () => this.doWrite(offset, data, fua));
  }

  private async locked(g0: number, g1: number, fn: () => Promise<void>): Promise<void> {
    const before = [...this.inflight].filter((w) => w.g0 < g1 && g0 < w.g1).map((w) => w.done);
    const entry = { g0, g1, done: Promise.resolve() };
    entry.done = (before.length ? Promise.all(before) : Promise.resolve()).then(fn);
    this.inflight.add(entry);
    try {
      await entry.done;
    } finally {
      this.inflight.delete(entry);
    }
  }

  /** resolves when every write started before it has finished (successfully or not) */
  private async drain(): Promise<void> {
    await Promise.all([...this.inflight].map((w) => w.done.catch(() => undefined)));
  }

  private async doWrite(offset: number, data: Buffer, fua: boolean): Promise<void> {
    if (this.readOnly) throw new Error('read-only disk');
    const end = offset + data.length;
    const g0 = Math.floor(offset / GRANULE_BYTES);
    const g1 = Math.ceil(end / GRANULE_BYTES); // exclusive
    let fresh = 0;
    for (let g = g0; g < g1; g++) if (!this.has(g)) fresh++;
    // concurrent writes never share a granule (see locked()), so reserving their fresh granules is exact
    if (this.opts.limitBytes !== undefined && (this.allocated + this.reserved + fresh) * GRANULE_BYTES > this.opts.limitBytes) {
      throw new SpaceExhaustedError(`overlay limit ${this.opts.limitBytes} bytes reached`);
    }
    this.reserved += fresh;
    try {
      await this.writeGranules(offset, data, g0, g1, end);
    } finally {
      this.reserved -= fresh;
    }
    if (fua) await this.syncNow();
  }

  private async writeGranules(offset: number, data: Buffer, g0: number, g1: number, end: number): Promise<void> {
    // Edge granules not yet in the overlay: fill the bytes around the write from the base (copy-on-write).
    const headPad = offset - g0 * GRANULE_BYTES;
    const tailPad = Math.min(g1 * GRANULE_BYTES, this.blockCount * 512) - end;
    if ((headPad && !this.has(g0)) || (tailPad && !this.has(g1 - 1))) {
      const start = g0 * GRANULE_BYTES;
      const stop = Math.min(g1 * GRANULE_BYTES, this.blockCount * 512);
      const whole = Buffer.allocUnsafe(stop - start);
      if (headPad) await (this.has(g0) ? readFully(this.data, whole, 0, headPad, start) : readFully(this.base, whole, 0, headPad, start));
      if (tailPad) {
        const src = this.has(g1 - 1) ? this.data : this.base;
        await readFully(src, whole, end - start, tailPad, end);
      }
      data.copy(whole, headPad);
      await writeFully(this.data, whole, start);
    } else {
      await writeFully(this.data, data, offset);
    }
    for (let g = g0; g < g1; g++) this.mark(g, true);
  }

  /** SYNCHRONIZE CACHE: data first, then the map pages that changed (map never ahead of data). */
  flush(): Promise<void> {
    // Writes already queued complete first, so "everything acknowledged before" is covered.
    return this.drain().then(() => this.syncNow());
  }

  /** data fdatasync, then the dirty map pages (serialised: two syncs never interleave their map writes) */
  private syncNow(): Promise<void> {
    const run = async (): Promise<void> => {
      // Snapshot the map pages first: a bit set after this point has data the datasync may not cover.
      const pages = [...this.dirtyPages];
      this.dirtyPages.clear();
      const copies = pages.map((p) => {
        const from = p * MAP_PAGE;
        return { at: MAP_HEADER + from, bytes: Buffer.from(this.bits.subarray(from, Math.min(this.bits.length, from + MAP_PAGE))) };
      });
      try {
        await this.data.datasync();
        for (const c of copies) await writeFully(this.map, c.bytes, c.at);
        if (copies.length) await this.map.datasync();
      } catch (err) {
        for (const p of pages) this.dirtyPages.add(p);
        throw err;
      }
    };
    const p = (this.flushing ?? Promise.resolve()).then(run);
    this.flushing = p.catch(() => undefined);
    return p;
  }

  /** UNMAP: granules wholly inside the range go back to the image (LBPRZ=0 allows any data). */
  unmap(offset: number, length: number): Promise<void> {
    const g0 = Math.ceil(offset / GRANULE_BYTES);
    const g1 = Math.floor((offset + length) / GRANULE_BYTES);
    if (g1 <= g0) return Promise.resolve();
    return this.locked(g0, g1, async () => {
      for (let g = g0; g < g1; g++) this.mark(g, false);
    });
  }

  /** Calls fn with (offset, length) for each run of overlay granules (commit of a super overlay). */
  async forEachAllocatedRun(fn: (offset: number, length: number) => Promise<void>): Promise<void> {
    let g = 0;
    while (g < this.granules) {
      if (!this.has(g)) {
        g++;
        continue;
      }
      let e = g + 1;
      while (e < this.granules && this.has(e) && e - g < 256) e++;
      const off = g * GRANULE_BYTES;
      await fn(off, Math.min(e * GRANULE_BYTES, this.blockCount * 512) - off);
      g = e;
    }
  }

  /** reads overlay bytes (not merged with the base) */
  readOverlay(offset: number, length: number, buf: Buffer): Promise<void> {
    return readFully(this.data, buf, 0, length, offset);
  }

  async close(): Promise<void> {
    await this.flush().catch(() => undefined);
    await Promise.all([this.base.close(), this.data.close(), this.map.close()]);
  }
}

function popcount(b: number): number {
  let n = 0;
  for (; b; b &= b - 1) n++;
  return n;
}

export async function readFully(fh: FileHandle, buf: Buffer, at: number, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, at + done, length - done, position + done);
    if (bytesRead === 0) {
      buf.fill(0, at + done, at + length); // past the end of a shorter file: zeros
      return;
    }
    done += bytesRead;
  }
}

export async function writeFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}
