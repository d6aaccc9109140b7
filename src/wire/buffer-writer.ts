/** Appends big-endian fields into a growable buffer; `finish()` returns exactly the bytes written. */
export class BufferWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialSize = 576) {
    this.buf = Buffer.alloc(initialSize);
  }

  get length(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16BE(v & 0xffff, this.pos);
    this.pos += 2;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** Writes `b` into a fixed-width field, zero-padded; throws if it does not fit. */
  fixed(b: Uint8Array, width: number): this {
    if (b.length > width) throw new RangeError(`field of ${b.length} bytes exceeds width ${width}`);
    this.ensure(width);
    this.buf.fill(0, this.pos, this.pos + width);
    this.buf.set(b, this.pos);
    this.pos += width;
    return this;
  }

  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  /** Overwrites two bytes already written (a length known only after its field, e.g. a DNS RDLENGTH). */
  patchU16(at: number, v: number): void {
    if (at < 0 || at + 2 > this.pos) throw new RangeError(`patch at ${at} outside the ${this.pos} bytes written`);
    this.buf.writeUInt16BE(v & 0xffff, at);
  }
}
