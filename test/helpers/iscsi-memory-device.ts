import { createHash } from 'node:crypto';
import type { BlockDevice, BlockDeviceProvider, ChapCredentials } from '../../src/iscsi/block-device.ts';

/** A RAM disk for protocol tests. */
export class MemoryDevice implements BlockDevice {
  readonly blockSize = 512;
  readonly supportsUnmap = true;
  readonly naa: Buffer;
  readonly serial: string;
  readonly bytes: Buffer;
  flushes = 0;

  constructor(
    readonly blockCount: number,
    readonly readOnly = false,
    id = 'mem',
    fill?: (i: number) => number,
  ) {
    this.bytes = Buffer.alloc(blockCount * 512);
    if (fill) for (let i = 0; i < this.bytes.length; i++) this.bytes[i] = fill(i);
    const h = createHash('sha256').update(id).digest();
    this.naa = Buffer.from(h.subarray(0, 8));
    this.naa[0] = 0x60 | (this.naa[0]! & 0x0f);
    this.serial = h.subarray(8, 16).toString('hex');
  }
  async read(offset: number, length: number, buf: Buffer, at: number): Promise<void> {
    this.bytes.copy(buf, at, offset, offset + length);
  }
  async write(offset: number, data: Buffer): Promise<void> {
    data.copy(this.bytes, offset);
  }
  async flush(): Promise<void> {
    this.flushes++;
  }
  async unmap(offset: number, length: number): Promise<void> {
    this.bytes.fill(0, offset, offset + length);
  }
}

/** One target name → one device; optional CHAP. Counts opens/releases. */
export function singleDiskProvider(iqn: string, device: BlockDevice, chap?: ChapCredentials) {
  const stats = { opens: 0, releases: 0, reinstatements: 0 };
  const provider: BlockDeviceProvider = {
    async resolve(ctx) {
      if (ctx.targetName !== iqn) return { status: 'not-found' };
      if (ctx.initiatorName.includes('forbidden')) return { status: 'not-allowed' };
      return {
        status: 'ok',
        chap,
        open: async ({ reinstatement }) => {
          stats.opens++;
          if (reinstatement) stats.reinstatements++;
          return { device, release: () => void stats.releases++ };
        },
      };
    },
    async listTargets() {
      return [iqn];
    },
  };
  return { provider, stats };
}
