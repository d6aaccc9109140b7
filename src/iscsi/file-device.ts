import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import type { BlockDevice } from './block-device.ts';

/** A plain file as a disk (tests, benchmarks, and read-only images without an overlay). */
export class FileBlockDevice implements BlockDevice {
  readonly blockSize = 512;
  readonly supportsUnmap = false;
  readonly naa: Buffer;
  readonly serial: string;

  private constructor(
    private readonly fh: FileHandle,
    readonly blockCount: number,
    readonly readOnly: boolean,
    id: string,
  ) {
    const h = createHash('sha256').update(id).digest();
    this.naa = Buffer.from(h.subarray(0, 8));
    this.naa[0] = 0x60 | (this.naa[0]! & 0x0f); // NAA 6 (IEEE registered extended) nibble
    this.serial = h.subarray(8, 16).toString('hex');
  }

  static async open(path: string, opts: { readOnly: boolean; id?: string }): Promise<FileBlockDevice> {
    const fh = await open(path, opts.readOnly ? 'r' : 'r+');
    const st = await fh.stat();
    return new FileBlockDevice(fh, Math.floor(st.size / 512), opts.readOnly, opts.id ?? path);
  }

  async read(offset: number, length: number, buf: Buffer, bufOffset: number): Promise<void> {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, bufOffset + done, length - done, offset + done);
      if (bytesRead === 0) {
        buf.fill(0, bufOffset + done, bufOffset + length);
        return;
      }
      done += bytesRead;
    }
  }

  async write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
    if (fua) await this.fh.datasync();
  }

  flush(): Promise<void> {
    return this.fh.datasync();
  }

  async unmap(): Promise<void> {}

  close(): Promise<void> {
    return this.fh.close();
  }
}
