import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Lab, ROOT } from '../../src/lab/lab.ts';

/**
 * A terminal whose profile is `sanboot` boots the demo disk image over iSCSI from bootgate alone: DHCP → iPXE
 * script (sanboot iscsi:…:<per-terminal IQN>) → the terminal's copy-on-write overlay of the golden image →
 * SYSLINUX → kernel → the OS reports in.
 */
describe('e2e: iSCSI sanboot through bootgate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bg-e2e-san-'));
  const images = process.env.BOOTGATE_IMAGES ?? join(ROOT, '.lab/images');
  const lab = new Lab({
    dir,
    ns: 'bgsan',
    imagesDir: images,
    configOverrides: {
      boot: { defaultProfile: 'disk' },
      profiles: { disk: { sanboot: 'demo' } },
      iscsi: { images: { demo: join(images, 'sandisk-bios.img') }, overlays: { defaultMode: 'discard' } },
    },
  });

  before(async () => {
    lab.ensureImages();
    if (!existsSync(join(images, 'sandisk-bios.img'))) {
      const b = spawnSync('bash', [join(ROOT, 'boot-images/build-sandisk.sh'), 'bios'], {
        encoding: 'utf8',
        env: { ...process.env, BOOTGATE_IMAGES: images },
      });
      assert.equal(b.status, 0, b.stderr);
    }
    await lab.up();
  });

  after(async () => {
    await lab.down();
    rmSync(dir, { recursive: true, force: true });
  });

  it('SeaBIOS + iPXE sanboots its own overlay of the golden image and the OS reports booted', async () => {
    const r = await lab.boot({ firmware: 'bios', mac: '52:54:00:5e:00:01', tap: 'tapsan1' });
    assert.match(r.serial, /BOOTGATE-TERMINAL-BOOTED mac=52:54:00:5e:00:01/);
    assert.equal(r.boot?.stage, 'booted');
    assert.ok(r.boot!.events.some((e) => e.stage === 'script'));
    // The overlay directory for this terminal exists: the disk was served through its copy-on-write layer.
    assert.ok(existsSync(join(dir, 'data/overlays')), 'overlays directory created');
  });
});
