/**
 * One slice on its way from the origin: the chunks received so far, kept in memory (at most one slice) so a reader
 * that joins late gets them first and then the rest as it arrives. Every reader sees the same bytes; the end comes
 * only after the whole slice arrived with the right length (and digest), and an error reaches every reader.
 */
import type { ObjectMeta } from './object-meta.ts';
import type { SharedFile } from './open-files.ts';

export class SliceFill {
  private readonly chunks: Buffer[] = [];
  private received = 0;
  private done = false;
  private error: Error | undefined;
  private wake: (() => void)[] = [];
  /** readers that joined this fill (the first is the one that started it) */
  readers = 0;
  /** the slice's file once its bytes are written (after finish, before it is durable): joined readers send it from there */
  file: SharedFile | undefined;
  /** settles when the slice is in its file, or will not be (the store failed, the fill failed) */
  readonly written: Promise<void>;
  private resolveWritten!: () => void;
  /** the object's metadata, once the origin's head was accepted */
  readonly ready: Promise<ObjectMeta>;
  private resolveReady!: (m: ObjectMeta) => void;
  private rejectReady!: (e: Error) => void;

  constructor(
    readonly id: string,
    readonly index: number,
  ) {
    this.ready = new Promise((res, rej) => {
      this.resolveReady = res;
      this.rejectReady = rej;
    });
    this.ready.catch(() => {}); // a fill nobody reads must not be an unhandled rejection
    this.written = new Promise((res) => (this.resolveWritten = res));
  }

  /** The slice is in `file` (undefined: it could not be stored; its bytes are still here). */
  settle(file: SharedFile | undefined): void {
    this.file ??= file;
    this.resolveWritten();
  }

  get bytes(): number {
    return this.received;
  }

  accept(meta: ObjectMeta): void {
    this.resolveReady(meta);
  }

  push(chunk: Buffer): void {
    if (this.done || this.error) return;
    this.chunks.push(chunk);
    this.received += chunk.length;
    this.signal();
  }

  finish(): void {
    this.done = true;
    this.signal();
  }

  fail(e: Error): void {
    if (this.done) return;
    this.error = e;
    this.rejectReady(e);
    this.resolveWritten();
    this.signal();
  }

  /** every byte arrived (and passed the digest): only the store's write is pending */
  get finished(): boolean {
    return this.done;
  }

  get failed(): boolean {
    return this.error !== undefined;
  }

  /** All the slice's bytes in one buffer (after finish). */
  body(): Buffer {
    return Buffer.concat(this.chunks, this.received);
  }

  private signal(): void {
    const w = this.wake;
    this.wake = [];
    for (const f of w) f();
  }

  /** The slice from its first byte, as it arrives. */
  async *read(): AsyncGenerator<Buffer> {
    let i = 0;
    for (;;) {
      while (i < this.chunks.length) yield this.chunks[i++]!;
      if (this.error) throw this.error;
      if (this.done) return;
      await new Promise<void>((r) => this.wake.push(r));
    }
  }
}
