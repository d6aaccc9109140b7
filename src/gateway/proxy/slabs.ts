/** bytes per slab; pieces larger than a quarter of it get their own buffer */
const SLAB_BYTES = 64 * 1024;

/**
 * Buffers for what the proxy writes to a client in one piece (a response head with its small body), cut from
 * 64 KiB slabs as Node's Buffer pool does for allocations up to 4 KiB: one ArrayBuffer per 4 KiB response costs
 * more than the copy into it (measured: ~2 µs against ~0.2 µs). A piece stays valid while it is referenced (the
 * socket keeps it until written); a slab is never written again once cut past, and the GC frees it when none of
 * its pieces is alive. One per proxy (no module state).
 */
export class OutputSlab {
  private slab: Buffer | undefined;
  private used = 0;

  take(n: number): Buffer {
    if (n > SLAB_BYTES / 4) return Buffer.allocUnsafeSlow(n);
    if (!this.slab || this.used + n > SLAB_BYTES) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.used = 0;
    }
    const piece = this.slab.subarray(this.used, this.used + n);
    this.used = (this.used + n + 7) & ~7; // 8-byte aligned, as Node's pool
    return piece;
  }
}

/** bytes of a socket's read chunk; a region left smaller than READ_MIN_BYTES starts a new chunk */
const READ_CHUNK_BYTES = 16 * 1024;
const READ_MIN_BYTES = 4 * 1024;

/**
 * Where one upstream socket reads into (net.connect's `onread` with a buffer generator): the rest of its own 16 KiB
 * chunk, and after each read the rest after what that read filled. Each read's bytes are thus a view nothing writes
 * again, so the exchange may keep them (held until its record commits, or queued in a socket) without a copy, and a
 * 4 KiB response costs a third of an ArrayBuffer rather than the 64 KiB one Node allocates and shrinks per read on
 * its Readable path. Per socket: a region is the socket's until its next read.
 */
export class ReadChunks {
  private chunk = Buffer.allocUnsafeSlow(READ_CHUNK_BYTES);
  private used = 0;

  /** The region the next read goes into. */
  region(): Buffer {
    if (READ_CHUNK_BYTES - this.used < READ_MIN_BYTES) {
      this.chunk = Buffer.allocUnsafeSlow(READ_CHUNK_BYTES);
      this.used = 0;
    }
    return this.chunk.subarray(this.used);
  }

  /** The last read put `n` bytes at the start of the last region: its bytes, never handed out again. */
  filled(n: number): Buffer {
    const bytes = this.chunk.subarray(this.used, this.used + n);
    this.used = (this.used + n + 7) & ~7;
    return bytes;
  }
}
