import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AdmissionQueue } from '../../src/boot/admission.ts';
import { admissionConfigSchema } from '../../src/boot/config.ts';
import { startHttpBoot, type HttpBootHarness } from '../helpers/http-boot.ts';

/**
 * Admission control on a real iPXE (QEMU TCG, SeaBIOS + the ipxe-qemu option ROM): the bound is 1 and another
 * terminal holds the slot, so the QEMU terminal's serial console shows `bootgate: waiting: 0 ahead, about N s`
 * and it keeps chaining (held long polls, fifteen of them: the loop must not nest); when the slot is released it
 * gets its real script and fetches its kernel. QEMU's user-mode network (slirp) hands out the script URL as the DHCP boot file and carries the
 * guest's HTTP connections to the server on the host's loopback: no namespace, no traffic off the host.
 */
const MAC = '52:54:00:b5:21:10';
const HOLDER = '52:54:00:b5:21:99';
const ANSI = /\x1b\[[0-9;?=]*[ -/]*[@-~]|\x1b[@-Z\\-_c]|\x08/g;

describe('boot admission on a QEMU iPXE terminal', () => {
  let h: HttpBootHarness;
  let q: AdmissionQueue;
  let qemu: ChildProcess | undefined;
  let serial = '';

  before(async () => {
    q = new AdmissionQueue({ config: admissionConfigSchema.parse({ enabled: true, maxInHeavyPhase: 1, pollSeconds: 2, abandonSeconds: 60 }) });
    assert.deepEqual(q.request(HOLDER), { admitted: true });
    h = await startHttpBoot({ profiles: { thin: { kernel: 'vmlinuz', cmdline: 'console=ttyS0' } }, admission: q });
    writeFileSync(join(h.root, 'vmlinuz'), 'not a kernel');
  });
  after(async () => {
    if (qemu?.pid !== undefined && qemu.exitCode === null) qemu.kill('SIGKILL');
    await h?.close();
  });

  const until = async (what: string, cond: () => boolean, ms: number): Promise<void> => {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) assert.fail(`timed out waiting for ${what}; serial:\n${serial.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  it("the waiting terminal's screen shows its place; released, it fetches its kernel", async () => {
    const url = `http://10.0.2.2:${h.server.port}/boot.ipxe?mac=${MAC.replaceAll(':', '-')}`;
    qemu = spawn(
      'qemu-system-x86_64',
      [
        '-accel',
        'tcg',
        '-m',
        '128',
        '-smp',
        '1',
        '-nographic',
        '-monitor',
        'none',
        '-serial',
        'stdio',
        '-no-reboot',
        '-boot',
        'n',
        '-netdev',
        `user,id=n0,bootfile=${url}`,
        '-device',
        `virtio-net-pci,netdev=n0,mac=${MAC}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    qemu.stdout!.setEncoding('utf8').on('data', (d: string) => (serial += d.replace(ANSI, '').replaceAll('\r', '\n')));
    const waits = (): string[] => serial.split('\n').filter((l) => /^bootgate: waiting: \d+ ahead, about \d+ s$/.test(l.trim()));
    // 15 polls: a waiting loop whose `chain` nested (no --replace) hung real iPXE after about nine
    await until('fifteen waiting lines on the serial console', () => waits().length >= 15, 300_000);
    assert.match(waits()[0]!.trim(), /^bootgate: waiting: 0 ahead, about \d+ s$/);
    assert.ok(!h.events.some((e) => e.kind === 'file'), 'nothing downloaded while waiting');
    assert.deepEqual(
      q.snapshot().waiting.map((w) => w.mac),
      [MAC],
    );
    q.release(HOLDER, 'booted');
    await until('the kernel fetched', () => h.events.some((e) => e.kind === 'file' && e.path === '/vmlinuz'), 60_000);
    assert.ok(
      h.events.some((e) => e.kind === 'script' && e.mac === MAC),
      'the real script was served to the terminal',
    );
    assert.equal(q.snapshot().inHeavyPhase[0]?.mac, MAC);
  });
});
