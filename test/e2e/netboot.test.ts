import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Lab, ROOT } from '../../src/lab/lab.ts';
import type { BootRecord } from '../../src/store/boot-repository.ts';
import { BIN } from '../helpers/bootgate-process.ts';
import { launchChromiumInNetns, logIn, type NetnsBrowser } from '../helpers/chromium-netns.ts';

/**
 * Real terminals boot the demo OS through bootgate alone: DHCP (with RAs), TFTP and HTTP boot all served by one
 * `bootgate serve` in a lab namespace; QEMU under TCG. The serial console must show the OS marker and the store
 * must hold a complete timeline for each terminal. The BIOS terminal boots while the web UI's room screen is open
 * in Chromium (in the lab namespace): its tile goes through the stages live and its panel shows the waterfall.
 */
describe('e2e: QEMU terminals netboot through bootgate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bg-e2e-'));
  // Images are shared with `npm start` (built once per checkout); the lab state is this test's own.
  const lab = new Lab({ dir, ns: 'bge2e', imagesDir: process.env.BOOTGATE_IMAGES ?? join(ROOT, '.lab/images') });

  before(async () => {
    await lab.up();
  });

  let chrome: NetnsBrowser | undefined;
  after(async () => {
    await chrome?.close();
    await lab.down();
    rmSync(dir, { recursive: true, force: true });
  });

  const stagesOf = (b: BootRecord | undefined): string[] => (b ? [...new Set(b.events.map((e) => e.stage))] : []);

  it('SeaBIOS + iPXE ROM: DHCP → script → kernel → initrd → booted, followed live on the room screen', async () => {
    const MAC = '52:54:00:e2:00:01';
    execFileSync('ip', ['netns', 'exec', 'bge2e', process.execPath, BIN, 'staff', 'add', 'e2e', '--role', 'cashier', '--config', lab.configFile], {
      input: 'e2e-room-pass\n',
    });
    chrome = await launchChromiumInNetns(dir, 'bge2e');
    const page = chrome.page;
    // every stage the tile is drawn in, as it happens
    await page.addInitScript(`window.__stages = [];
      new MutationObserver((rs) => { for (const r of rs) for (const n of r.addedNodes)
        if (n.nodeType === 1 && n.dataset && n.dataset.mac === '${MAC}') window.__stages.push(n.dataset.stage); })
        .observe(document, { childList: true, subtree: true });`);
    await logIn(page, 'http://127.0.0.1:8443/ui/', { user: 'e2e', password: 'e2e-room-pass' });
    const r = await lab.boot({ firmware: 'bios', mac: MAC, tap: 'tape2e1' });
    assert.match(r.serial, /BOOTGATE-TERMINAL-BOOTED mac=52:54:00:e2:00:01 ip=10\.77\.0\.1\d\d/);
    assert.equal(r.boot?.stage, 'booted');
    assert.deepEqual(stagesOf(r.boot), ['ipxe-dhcp-offered', 'ipxe-dhcp-acked', 'script', 'kernel', 'initrd', 'booted']);
    await page.waitForSelector(`.tile[data-mac="${MAC}"][data-stage="booted"]`);
    const seen = [...new Set(await page.evaluate(() => (window as unknown as { __stages: string[] }).__stages))];
    assert.deepEqual(seen, ['loading', 'booted'], 'the tile followed the boot without a reload (iPXE DHCP is already loading)');
    await page.click(`.tile[data-mac="${MAC}"]`);
    await page.waitForSelector(`#detail[data-mac="${MAC}"] .waterfall tr.step[data-stage="booted"]`);
    const steps = await page.$$eval('#detail .waterfall:first-of-type tr.step', (rows) => rows.map((row) => (row as HTMLElement).dataset.stage));
    assert.deepEqual(steps, ['ipxe-dhcp-offered', 'ipxe-dhcp-acked', 'script', 'kernel', 'initrd', 'booted']);
    assert.deepEqual(chrome.cspViolations, []);
  });

  it('OVMF UEFI, native EDK2 PXE → ipxe.efi by TFTP → script → kernel → initrd → booted', async () => {
    const r = await lab.boot({ firmware: 'uefi', uefiNetboot: 'edk2-pxe', mac: '52:54:00:e2:00:02', tap: 'tape2e2' });
    assert.match(r.serial, /BOOTGATE-TERMINAL-BOOTED mac=52:54:00:e2:00:02/);
    assert.equal(r.boot?.stage, 'booted');
    assert.deepEqual(stagesOf(r.boot), [
      'dhcp-offered',
      'dhcp-acked',
      'nbp',
      'ipxe-dhcp-offered',
      'ipxe-dhcp-acked',
      'script',
      'kernel',
      'initrd',
      'booted',
    ]);
  });

  it('the timelines are served by the API and printed by `bootgate terminals`', () => {
    const token = readFileSync(join(dir, 'data/keys/admin.token'), 'utf8').trim();
    const api = JSON.parse(
      execFileSync(
        'ip',
        ['netns', 'exec', 'bge2e', 'curl', '-sf', '-H', `authorization: Bearer ${token}`, 'http://127.0.0.1:8443/api/v1/terminals'],
        { encoding: 'utf8' },
      ),
    ) as Array<{
      mac: string;
      firmware: string;
      lastBoot: { stage: string } | null;
    }>;
    const byMac = new Map(api.map((t) => [t.mac, t]));
    assert.equal(byMac.get('52:54:00:e2:00:01')?.lastBoot?.stage, 'booted');
    assert.equal(byMac.get('52:54:00:e2:00:02')?.firmware, 'x64-efi');
    // the CLI asks the running appliance (its API listens inside the lab namespace); -c before the subcommand
    const text = execFileSync('ip', ['netns', 'exec', 'bge2e', process.execPath, join(ROOT, 'bin/bootgate.js'), '-c', lab.configFile, 'terminals'], {
      encoding: 'utf8',
    });
    assert.match(text, /52:54:00:e2:00:02 {2}10\.77\.0\.\d+ {2}x64-efi {2}booted/);
    assert.match(text, /dhcp-offered \+0\.00s, .*booted \+\d+\.\d\ds/);
  });
});
