import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { targetIqn as iqnOf } from '../../src/terminal/iqn.ts';
import { parseMac } from '../../src/terminal/mac.ts';

const targetIqn = (image: string, mac: string): string => iqnOf(image, parseMac(mac));
import { IscsiTargetProcess } from '../helpers/iscsi-target-process.ts';

/**
 * A real iPXE (Debian's ipxe.lkrn under QEMU TCG, user-mode network: the host's loopback is 10.0.2.2) logs in
 * to bootgate's target with its own key set and `sanboot`s the demo OS disk (boot-images/build-sandisk.sh):
 * SYSLINUX reads the kernel and initrd through INT 13h → iPXE → iSCSI → the terminal's overlay disk.
 */
const ROOT = join(fileURLToPath(import.meta.url), '../../..');
const IMAGES = process.env.BOOTGATE_IMAGES ?? join(ROOT, '.lab/images');
const MAC = '52:54:00:5a:00:01';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

describe('iPXE sanboot from the bootgate target (QEMU)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bg-sanboot-'));
  let target: IscsiTargetProcess;
  let port: number;
  before(async () => {
    if (!existsSync(join(IMAGES, 'sandisk-bios.img'))) {
      const b = spawnSync('bash', [join(ROOT, 'boot-images/build-sandisk.sh'), 'bios'], {
        encoding: 'utf8',
        env: { ...process.env, BOOTGATE_IMAGES: IMAGES },
      });
      assert.equal(b.status, 0, b.stderr);
    }
    copyFileSync(join(IMAGES, 'sandisk-bios.img'), join(dir, 'sandisk.img'));
    port = await freePort();
    target = new IscsiTargetProcess([
      '--port',
      String(port),
      '--listen',
      '127.0.0.1',
      '--data-dir',
      join(dir, 'data'),
      '--overlay-image',
      `demo=${join(dir, 'sandisk.img')}`,
      '--log-level',
      'info',
    ]);
    await target.start();
  });
  after(async () => {
    await target.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('BIOS: iPXE logs in, sanboots the terminal disk, SYSLINUX loads the demo kernel from it', async () => {
    const iqn = targetIqn('demo', MAC);
    const r = spawnSync(
      'qemu-system-x86_64',
      [
        '-accel',
        'tcg',
        '-m',
        '256',
        '-nographic',
        '-monitor',
        'none',
        '-serial',
        'stdio',
        '-no-reboot',
        '-netdev',
        'user,id=n0',
        '-device',
        `e1000,netdev=n0,mac=${MAC}`,
        '-kernel',
        '/usr/lib/ipxe/ipxe.lkrn',
        '-append',
        `dhcp && sanboot iscsi:10.0.2.2::${port}:0:${iqn}`,
      ],
      { encoding: 'utf8', timeout: 150_000 },
    );
    const out = (r.stdout ?? '').replace(/\r/g, '');
    assert.match(out, /Registered SAN device 0x80/, out.slice(-3000));
    assert.match(out, /Booting from SAN device 0x80/);
    assert.match(out, /SYSLINUX \d/);
    assert.match(out, /bootgate-demo: kernel /, 'the kernel and initrd came off the iSCSI disk');
    assert.match(out, /BOOTGATE-TERMINAL-(BOOTED|FAILED)/, 'the demo OS ran to its end');
    await new Promise((r) => setTimeout(r, 500)); // spawnSync blocked the loop: let the target's log pipe drain
    assert.match(
      target.output,
      new RegExp(`"initiator":"iqn\\.2010-04\\.org\\.ipxe:[^"]*","target":"${iqn.replace(/\./g, '\\.')}".*session established`),
    );
  });
});
