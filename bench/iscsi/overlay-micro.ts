/**
 * Micro-benchmark of the block stores without the network: 256 KiB sequential writes then reads at queue depth
 * 16 through FileBlockDevice (the image itself), OverlayDisk (fresh overlay over the image), and the same overlay
 * after a discard reset that kept its data file.
 *   node --import tsx bench/iscsi/overlay-micro.ts <image> <scratch-dir> [MiB]
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BlockDevice } from '../../src/iscsi/block-device.ts';
import { FileBlockDevice } from '../../src/iscsi/file-device.ts';
import { OverlayDisk } from '../../src/overlay/overlay-disk.ts';

const [image, scratch, mib = '512'] = process.argv.slice(2) as [string, string, string?];
const total = Number(mib) << 20;
const BS = 256 << 10;

async function run(name: string, d: BlockDevice, write: boolean): Promise<void> {
  const buf = Buffer.alloc(BS, 0x5a);
  let next = 0;
  const t0 = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    while (next < total) {
      const off = next;
      next += BS;
      if (write) await d.write(off, buf, false);
      else await d.read(off, BS, Buffer.allocUnsafe(BS), 0);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  if (write) await d.flush();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${name}\t${write ? 'write' : 'read'}\t${(total / s / 1e6).toFixed(0)} MB/s`);
}

const raw = await FileBlockDevice.open(image, { readOnly: false });
await run('file', raw, false);
await run('file', raw, true);
await raw.close();
rmSync(join(scratch, 'ov.data'), { force: true });
rmSync(join(scratch, 'ov.map'), { force: true });
const ov = await OverlayDisk.open({ basePath: image, dataPath: join(scratch, 'ov.data'), mapPath: join(scratch, 'ov.map'), id: 'micro' });
await run('overlay-empty', ov, false);
await run('overlay', ov, true);
await run('overlay-full', ov, false);
await ov.close();
// a discard reset that keeps the data file (overlays.recycleBytes): only the map is emptied, so the next boot's
// first writes land on blocks the filesystem has already allocated
rmSync(join(scratch, 'ov.map'), { force: true });
const again = await OverlayDisk.open({ basePath: image, dataPath: join(scratch, 'ov.data'), mapPath: join(scratch, 'ov.map'), id: 'micro' });
await run('overlay-recycled-empty', again, false);
await run('overlay-recycled', again, true);
await again.close();
