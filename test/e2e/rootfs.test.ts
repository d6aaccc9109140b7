import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { LAB_BRIDGE, Lab, ROOT } from '../../src/lab/lab.ts';
import { startTerminal, type Firmware, type Terminal } from '../../src/lab/qemu.ts';

/**
 * A real Linux whose ROOT FILESYSTEM is on the iSCSI disk (boot-images/build-rootdisk.sh), booted through bootgate
 * alone by QEMU terminals (TCG), BIOS (SeaBIOS + iPXE ROM) and UEFI (OVMF + iPXE EFI ROM): iPXE sanboot of the
 * terminal's overlay → SYSLINUX / systemd-boot on the disk → the initramfs reads the iBFT, `iscsistart -b` logs in,
 * ext4 root mounted from partition 2 → the OS writes a file per boot and a log line, syncs, reports /booted and
 * powers off (or holds until the test releases it). Asserted, sharing boots between assertions:
 *   - discard: a file written in one boot is gone at the next; keep: it is still there, across a bootgate restart;
 *   - terminals booted at once never see each other's files;
 *   - a super terminal writes a marker, an operator commits (`bootgate images commit`), the committed version is a
 *     clean ext4, a terminal booting afterwards sees the marker, and a terminal that was up on the old version
 *     during the commit still reads and writes its own disk (page cache dropped) without the marker;
 *   - the golden image's sha256 never changes.
 * Instructions reach the OS over bootgate's HTTP root: bgroot/<mac>.cmd (`hold`, `marker=<text>`), <mac>.release.
 */
const IMAGES = process.env.BOOTGATE_IMAGES ?? join(ROOT, '.lab/images');
const BOOT_TIMEOUT_MS = 300_000;
const MAC = {
  discard: '52:54:00:21:01:01',
  keep: '52:54:00:21:01:02',
  hold: '52:54:00:21:01:03',
  super: '52:54:00:21:01:04',
  after: '52:54:00:21:01:05',
  uefiDiscard: '52:54:00:21:02:01',
  uefiKeep: '52:54:00:21:02:02',
};
const MARKER = 'v2-from-the-super-terminal';

interface Up {
  boot: number;
  boots: string[];
  marker: string;
  log: number;
  seconds: number;
}

const hex = (mac: string): string => mac.replaceAll(':', '');
const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('e2e: root filesystem on iSCSI through bootgate (BIOS and UEFI, discard / keep / super)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bg-e2e-rootfs-'));
  const httpRoot = join(dir, 'http');
  let golden = '';
  let goldenSha = '';
  const lab = new Lab({
    dir,
    ns: 'bgr21',
    imagesDir: IMAGES,
    configOverrides: {
      boot: { defaultProfile: 'disk' },
      profiles: { disk: { sanboot: 'rootos' } },
      http: { port: 80, root: httpRoot },
      iscsi: {
        images: { rootos: join(IMAGES, 'rootdisk.img') },
        overlays: {
          defaultMode: 'discard',
          terminals: { [MAC.keep]: 'keep', [MAC.hold]: 'keep', [MAC.super]: 'super', [MAC.uefiKeep]: 'keep' },
        },
      },
    },
  });
  const running = new Set<Terminal>();

  before(async () => {
    golden = execFileSync('bash', [join(ROOT, 'boot-images/build-rootdisk.sh')], {
      env: { ...process.env, BOOTGATE_IMAGES: IMAGES },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 900_000,
    }).trim();
    goldenSha = sha256(golden);
    mkdirSync(join(httpRoot, 'bgroot'), { recursive: true });
    await lab.up();
  });

  after(async () => {
    for (const t of running) await t.stop();
    await lab.down();
    if (process.env.BOOTGATE_E2E_LOGS) execFileSync('cp', ['-r', dir, process.env.BOOTGATE_E2E_LOGS]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts a terminal and resolves once its OS is up on the iSCSI root (BOOTGATE-ROOTFS-UP parsed). */
  async function start(t: TestContext, firmware: Firmware, mac: string, tap: string): Promise<{ term: Terminal; up: Up }> {
    const term = startTerminal({ ns: lab.ns, bridge: LAB_BRIDGE, tap, mac, firmware, serialLogFile: join(dir, `${tap}-${Date.now()}.serial`) });
    running.add(term);
    const m = await term.waitForLine(/^BOOTGATE-(?:ROOTFS-UP|TERMINAL-FAILED)\b.*/, BOOT_TIMEOUT_MS);
    const r = /^BOOTGATE-ROOTFS-UP mac=(\S+) boot=(\d+) boots=(\S*) marker=(\S+) log=(\d+) up=/.exec(m.line);
    assert.ok(r, m.line);
    assert.equal(r[1], mac);
    // the OS went the whole way: iPXE sanboot, the bootloader on the disk, the initramfs's iSCSI login, the root mount
    const lines = term.lines();
    for (const re of [
      /^Booting from SAN device 0x80/,
      /iscsistart: .* is operational now/,
      /^bootgate-rootdisk: root \/dev\/sd[a-z]2 \(ext4\) mounted/,
    ]) {
      assert.ok(
        lines.some((l) => re.test(l)),
        `no ${re} on ${mac}'s console`,
      );
    }
    const up: Up = { boot: Number(r[2]), boots: r[3] ? r[3].split(',') : [], marker: r[4]!, log: Number(r[5]), seconds: m.elapsedMs / 1000 };
    t.diagnostic(`${firmware} ${mac}: root-on-iSCSI OS up ${up.seconds.toFixed(1)} s after QEMU start (boot ${up.boot})`);
    return { term, up };
  }

  /** Waits for the guest's poweroff (QEMU -no-reboot exits 0) and checks bootgate recorded its /booted report. */
  async function finish(term: Terminal, mac: string): Promise<void> {
    const exit = await term.waitForExit(120_000);
    assert.equal(exit.code, 0, `QEMU exit ${exit.code ?? exit.signal}`);
    await term.stop();
    running.delete(term);
    assert.equal(lab.latestBoot(mac)?.stage, 'booted');
  }

  async function boot(t: TestContext, firmware: Firmware, mac: string, tap: string): Promise<Up> {
    const { term, up } = await start(t, firmware, mac, tap);
    await finish(term, mac);
    return up;
  }

  const bootMany = (t: TestContext, firmware: Firmware, terms: [string, string][]): Promise<Up[]> =>
    Promise.all(terms.map(([mac, tap]) => boot(t, firmware, mac, tap)));

  it('BIOS: discard drops the last boot, keep keeps it across a bootgate restart; two at once see only their own files', async (t) => {
    const [d1, k1] = await bootMany(t, 'bios', [
      [MAC.discard, 'bgr21d'],
      [MAC.keep, 'bgr21k'],
    ]);
    assert.deepEqual([d1!.boot, d1!.boots, d1!.log], [1, [`1-${hex(MAC.discard)}`], 1]);
    assert.deepEqual([k1!.boot, k1!.boots, k1!.log], [1, [`1-${hex(MAC.keep)}`], 1]);

    await lab.down(); // the data directory (overlays, manifest, leases) stays
    await lab.up();

    const [d2, k2] = await bootMany(t, 'bios', [
      [MAC.discard, 'bgr21d'],
      [MAC.keep, 'bgr21k'],
    ]);
    assert.deepEqual([d2!.boot, d2!.boots, d2!.log], [1, [`1-${hex(MAC.discard)}`], 1], 'discard: boot 1 is gone');
    assert.deepEqual([k2!.boot, k2!.boots, k2!.log], [2, [`1-${hex(MAC.keep)}`, `2-${hex(MAC.keep)}`], 2], 'keep: boot 1 survived');
    assert.equal(sha256(golden), goldenSha);
  });

  it('BIOS: a super terminal commits a version while a keep terminal runs on the old one; the next terminal boots the new one', async (t) => {
    const bg = join(httpRoot, 'bgroot');
    const hy = (mac: string): string => mac.replaceAll(':', '-');
    writeFileSync(join(bg, `${hy(MAC.hold)}.cmd`), 'hold\n');
    writeFileSync(join(bg, `${hy(MAC.super)}.cmd`), `marker=${MARKER}\n`);

    const held = await start(t, 'bios', MAC.hold, 'bgr21h');
    assert.deepEqual([held.up.boots, held.up.marker], [[`1-${hex(MAC.hold)}`], '-']);
    await held.term.waitForLine(/^BOOTGATE-ROOTFS-HOLDING mac=/, 10_000);

    const s = await boot(t, 'bios', MAC.super, 'bgr21s');
    assert.deepEqual([s.boots, s.marker], [[`1-${hex(MAC.super)}`], MARKER]);

    // as an operator would: the CLI through the management API (inside the lab's namespace, where it listens)
    const cli = (...args: string[]): string =>
      execFileSync('ip', ['netns', 'exec', lab.ns, process.execPath, join(ROOT, 'bin/bootgate.js'), ...args, '--config', lab.configFile], {
        encoding: 'utf8',
      });
    const v = JSON.parse(cli('images', 'commit', '--image', 'rootos', '--mac', MAC.super, '--note', 'marker')) as { version: number; path: string };
    assert.equal(v.version, 2);
    const images = JSON.parse(cli('images', 'list')) as { image: string; current: number }[];
    assert.equal(images.find((i) => i.image === 'rootos')?.current, 2);
    // the committed version is a clean ext4 (the super terminal remounted / read-only before its poweroff)
    const p2 = Number(/img2 +(\d+)/.exec(execFileSync('sfdisk', ['-l', '-o', 'Device,Start', v.path], { encoding: 'utf8' }))![1]) * 512;
    execFileSync('e2fsck', ['-fn', `${v.path}?offset=${p2}`], { stdio: 'pipe' });

    const a = await boot(t, 'bios', MAC.after, 'bgr21a');
    assert.deepEqual([a.boot, a.boots, a.marker], [2, [`1-${hex(MAC.super)}`, `2-${hex(MAC.after)}`], MARKER], 'the new version');

    // the terminal that was up during the commit: still on its version, its writes and reads (from the disk) fine
    writeFileSync(join(bg, `${hy(MAC.hold)}.release`), 'go\n');
    const verify = await held.term.waitForLine(/^BOOTGATE-ROOTFS-VERIFY .*/, 60_000);
    const r = /^BOOTGATE-ROOTFS-VERIFY mac=(\S+) boots=(\S+) marker=(\S+) after=(\S+) log=(\d+)$/.exec(verify.line);
    assert.ok(r, verify.line);
    assert.deepEqual(r.slice(1, 4), [MAC.hold, `1-${hex(MAC.hold)},1-${hex(MAC.hold)}-after`, '-']);
    assert.match(r[4]!, /^after_the_release_at_/);
    assert.equal(r[5], '1');
    await finish(held.term, MAC.hold);
    assert.equal(sha256(golden), goldenSha);
  });

  it('UEFI: discard drops the last boot, keep keeps it; booted at once, each sees only its own files', async (t) => {
    // the image is now version 2 (previous test): every fresh overlay starts with the super terminal's boot file
    const base = [`1-${hex(MAC.super)}`];
    const [d1, k1] = await bootMany(t, 'uefi', [
      [MAC.uefiDiscard, 'bgr21ud'],
      [MAC.uefiKeep, 'bgr21uk'],
    ]);
    assert.deepEqual([d1!.boots, d1!.marker], [[...base, `2-${hex(MAC.uefiDiscard)}`], MARKER]);
    assert.deepEqual(k1!.boots, [...base, `2-${hex(MAC.uefiKeep)}`]);
    const [d2, k2] = await bootMany(t, 'uefi', [
      [MAC.uefiDiscard, 'bgr21ud'],
      [MAC.uefiKeep, 'bgr21uk'],
    ]);
    assert.deepEqual(d2!.boots, [...base, `2-${hex(MAC.uefiDiscard)}`], 'discard: the last boot is gone');
    assert.deepEqual(k2!.boots, [...base, `2-${hex(MAC.uefiKeep)}`, `3-${hex(MAC.uefiKeep)}`], 'keep: the last boot survived');
    assert.equal(sha256(golden), goldenSha);
  });
});
