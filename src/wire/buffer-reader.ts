import { DecodeError } from './decode-error.ts';

/** A cursor over untrusted bytes: every read is checked against the end before it happens. */
export class BufferReader {
  private pos: number;
  readonly end: number;

  constructor(
    private readonly buf: Buffer,
    readonly protocol: string,
    start = 0,
    end = buf.length,
  ) {
    if (start < 0 || end > buf.length || start > end) {
      throw new DecodeError(protocol, start, 'BAD_RANGE', `range ${start}..${end} outside buffer of ${buf.length}`);
    }
    this.pos = start;
    this.end = end;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** Throws TRUNCATED unless n more bytes are available. */
  need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.end) {
      throw new DecodeError(this.protocol, this.pos, 'TRUNCATED', `${what} needs ${n} bytes, ${this.remaining} left`);
    }
  }

  u8(what = 'u8'): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what = 'u16'): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(what = 'u32'): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A view (not a copy) of the next n bytes. */
  bytes(n: number, what = 'bytes'): Buffer {
    this.need(n, what);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  skip(n: number, what = 'skip'): void {
    this.need(n, what);
    this.pos += n;
  }

  fail(code: string, detail: string, offset = this.pos): never {
    throw new DecodeError(this.protocol, offset, code, detail);
  }
}
