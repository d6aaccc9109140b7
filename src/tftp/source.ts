import type { FileHandle } from 'node:fs/promises';

/** Where a transfer's bytes come from: a buffer (cached file) or a file read at an offset, a chunk at a time. */
export interface ByteSource {
  readonly size: number;
  /** Makes [offset, offset+length) readable with `view`; undefined when it already is (no I/O on the hot path). */
  prepare(offset: number, length: number): Promise<void> | undefined;
  /** A view of bytes that `prepare` made available (clipped at the end of the file). */
  view(offset: number, length: number): Buffer;
  close(): void;
}

export class MemorySource implements ByteSource {
  constructor(readonly data: Buffer) {}
  get size(): number {
    return this.data.length;
  }
  prepare(): undefined {
    return undefined;
  }
  view(offset: number, length: number): Buffer {
    return this.data.subarray(offset, Math.min(offset + length, this.data.length));
  }
  close(): void {}
}

/** A large file: never buffered whole; each read fetches one chunk (≥ one window) at the offset the window starts. */
export class FileSource implements ByteSource {
  private chunk: Buffer;
  private chunkStart = 0;
  private chunkLen = 0;

  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
    chunkBytes: number,
  ) {
    this.chunk = Buffer.allocUnsafe(chunkBytes);
  }

  prepare(offset: number, length: number): Promise<void> | undefined {
    const end = Math.min(offset + length, this.size);
    if (offset >= this.chunkStart && end <= this.chunkStart + this.chunkLen) return undefined;
    if (length > this.chunk.length) this.chunk = Buffer.allocUnsafe(length);
    const want = Math.min(this.chunk.length, this.size - offset);
    return this.fh.read(this.chunk, 0, want, offset).then(({ bytesRead }) => {
      if (bytesRead < Math.min(want, end - offset)) throw Object.assign(new Error('file shrank during the transfer'), { code: 'FILE_CHANGED' });
      this.chunkStart = offset;
      this.chunkLen = bytesRead;
    });
  }

  view(offset: number, length: number): Buffer {
    const s = offset - this.chunkStart;
    return this.chunk.subarray(s, Math.min(s + length, this.chunkLen, this.size - this.chunkStart));
  }

  close(): void {
    void this.fh.close().catch(() => undefined);
  }
}
