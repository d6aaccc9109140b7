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
