import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetnsLab } from '../../src/lab/netns.ts';
import { startTerminal, type Terminal, type TerminalOptions } from '../../src/lab/qemu.ts';

/**
 * The demo thin-client OS (boot-images/build.sh, build-sandisk.sh) booting in QEMU terminals (src/lab/qemu.ts), with
 * the lab's stand-ins in place of bootgate (whose TFTP/HTTP/iSCSI servers are not there yet):
 *   bgdemo-srv: bridge br0 10.73.0.1/24 + fd00:73::1/64; dnsmasq (DHCP, TFTP, IPv6 RAs); python3 http.server on
 *   10.73.0.1:80 serving boot.ipxe, per-MAC sanboot scripts, vmlinuz, initrd.gz and a `booted` file (the /booted
 *   endpoint stand-in); tgtd on 10.73.0.1:3260 serving copies of the two sanboot disks.
 *   QEMU runs in bgdemo-srv on a tap per terminal, bridged to br0.
 * Asserted: each terminal prints BOOTGATE-TERMINAL-BOOTED with its MAC and a leased address on its serial
 * console, its GET /booted?mac=<mac> reached the HTTP server, and QEMU exits after the guest powers off.
 */
const ROOT = join(fileURLToPath(import.meta.url), '../../..');
const IMAGES = process.env.BOOTGATE_IMAGES ?? join(ROOT, '.lab/images');
const SERVER_IP = '10.73.0.1';
/** port 80, so the sanboot disks' `bootgate=dhcp` (→ http://<DHCP server>) reaches the stand-in too */
const HTTP = `http://${SERVER_IP}`;
/** tgtd's management socket is a file (/var/run/tgtd/socket.<port>): a port of our own keeps other tgtds apart */
const TGT_CONTROL_PORT = '7373';
const IQN = 'iqn.2026-11.test.bootgate.demo';
/** terminals that sanboot (tgt LUN 0 is its controller, so the disk is LUN 1): MAC → [disk image, target] */
const SANBOOT: Record<string, [string, string]> = {
  '52:54:00:73:00:04': ['sandisk-bios.img', `${IQN}:bios`],
  '52:54:00:73:00:05': ['sandisk-efi.img', `${IQN}:efi`],
};
const BOOT_FILES = ['vmlinuz', 'initrd.gz', 'undionly.kpxe', 'ipxe.efi', 'snponly.efi'];
const BOOT_TIMEOUT_MS = 240_000;
/** set BOOTGATE_E2E_LOGS=<dir> to keep the serial consoles (timestamped) and the dnsmasq log after the run */
const KEEP_LOGS = process.env.BOOTGATE_E2E_LOGS;
/** set BOOTGATE_E2E_NO_RA=1 to measure boots on a LAN without IPv6 router advertisements (as bootgate's may be) */
const SEND_RA = process.env.BOOTGATE_E2E_NO_RA !== '1';
/** The iPXE script every terminal gets; the kernel command line is what the demo OS expects. */
const KERNEL_CMDLINE = `initrd=initrd.gz console=ttyS0 quiet bootgate=${HTTP}`;
const BOOT_IPXE = [
  '#!ipxe',
  'echo BOOTGATE-IPXE-SCRIPT mac=${net0/mac} ip=${net0/ip} platform=${platform}',
  `chain --autofree ${HTTP}/\${net0/mac:hexhyp}.ipxe || echo no per-MAC script, booting the kernel`,
  `kernel ${HTTP}/vmlinuz ${KERNEL_CMDLINE}`,
  `initrd ${HTTP}/initrd.gz`,
  'boot',
  '',
].join('\n');

function dnsmasqConf(dir: string): string {
  return [
    'port=0',
    'interface=br0',
    'bind-interfaces',
    'user=root',
    'keep-in-foreground',
    `pid-file=${dir}/dnsmasq.pid`,
    `log-facility=${dir}/dnsmasq.log`,
    'log-dhcp',
    `dhcp-leasefile=${dir}/dnsmasq.leases`,
    'dhcp-range=10.73.0.100,10.73.0.200,255.255.255.0,10m',
    'dhcp-authoritative',
    'no-ping',
    'enable-tftp',
    `tftp-root=${dir}/root`,
    // iPXE identifies itself with option 175: it gets the script over HTTP; firmware PXE gets an iPXE binary first
    'dhcp-match=set:ipxe,175',
    'dhcp-match=set:efi64,option:client-arch,7',
    'dhcp-match=set:efi64,option:client-arch,9',
    `dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe,,${SERVER_IP}`,
    `dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi,,${SERVER_IP}`,
    `dhcp-boot=tag:ipxe,${HTTP}/boot.ipxe`,
    // iPXE setting no-pxedhcp (175.176 = 1): do not wait ~3 s for ProxyDHCP offers
    'dhcp-option=tag:ipxe,encap:175,176,1b',
    // RAs (SLAAC only) so iPXE's IPv6 autoconfiguration does not wait ~13 s for a router
    ...(SEND_RA ? ['enable-ra', 'dhcp-range=fd00:73::,ra-only,64,10m'] : []),
    '',
  ].join('\n');
}

/** Resolves once `child` has printed `text` on stdout or stderr. */
function waitForOutput(child: ChildProcess, text: string, timeoutMs: number, sink: { out: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${text}" within ${timeoutMs} ms:\n${sink.out}`)), timeoutMs);
    const onData = (d: Buffer): void => {
      sink.out += d.toString();
      if (sink.out.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before "${text}":\n${sink.out}`));
    });
  });
}

/** Resolves once `sink.out` (appended to by a child's output handlers) matches `re`. */
async function waitForText(sink: { out: string }, re: RegExp, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!re.test(sink.out)) {
    if (Date.now() > end) assert.fail(`no ${re} within ${timeoutMs} ms in:\n${sink.out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('demo thin-client OS netboots in QEMU (stand-in dnsmasq + python http.server)', () => {
  const lab = new NetnsLab('bgdemo');
  const dir = mkdtempSync(join(tmpdir(), 'bg-demo-'));
  const http = { out: '' };
  const terminals: Terminal[] = [];
  /** MAC → address each terminal reported on its console */
  const ips = new Map<string, string>();

  before(async () => {
    execFileSync('bash', [join(ROOT, 'boot-images/build-sandisk.sh')], {
      // runs build.sh first
      env: { ...process.env, BOOTGATE_IMAGES: IMAGES },
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 600_000,
    });
    const root = join(dir, 'root');
    execFileSync('mkdir', ['-p', root]);
    for (const f of BOOT_FILES) copyFileSync(join(IMAGES, f), join(root, f));
    writeFileSync(join(root, 'boot.ipxe'), BOOT_IPXE);
    writeFileSync(join(root, 'booted'), 'ok\n');
    writeFileSync(join(dir, 'dnsmasq.conf'), dnsmasqConf(dir));
    for (const [mac, [disk, target]] of Object.entries(SANBOOT)) {
      // tgt opens the LUN read-write: serve a copy, never the built image
      execFileSync('cp', ['--sparse=always', join(IMAGES, disk), join(dir, disk)]);
      const script = `#!ipxe\nset initiator-iqn ${IQN}:client-\${net0/mac:hexhyp}\nsanboot iscsi:${SERVER_IP}:::1:${target}\n`;
      writeFileSync(join(root, `${mac.replace(/:/g, '-')}.ipxe`), script);
    }

    lab.createServer('br0', `${SERVER_IP}/24`);
    execFileSync('ip', ['-n', lab.server, 'addr', 'add', 'fd00:73::1/64', 'dev', 'br0', 'nodad']);
    const dnsmasq = lab.spawnIn(lab.server, 'dnsmasq', [`--conf-file=${join(dir, 'dnsmasq.conf')}`]);
    const dnsmasqOut = { out: '' };
    dnsmasq.stdout!.on('data', (d: Buffer) => (dnsmasqOut.out += d.toString()));
    dnsmasq.stderr!.on('data', (d: Buffer) => (dnsmasqOut.out += d.toString()));
    const httpd = lab.spawnIn(lab.server, 'python3', ['-u', '-m', 'http.server', '80', '--bind', SERVER_IP, '--directory', root]);
    await waitForOutput(httpd, 'Serving HTTP', 10_000, http);
    assert.equal(dnsmasq.exitCode, null, `dnsmasq exited: ${dnsmasqOut.out}`);

    lab.spawnIn(lab.server, 'tgtd', ['-f', '-C', TGT_CONTROL_PORT, '--iscsi', `portal=${SERVER_IP}:3260`]);
    const tgtadm = (...args: string[]): string =>
      execFileSync('tgtadm', ['-C', TGT_CONTROL_PORT, '--lld', 'iscsi', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    for (let i = 0; ; i++) {
      try {
        tgtadm('--op', 'show', '--mode', 'sys');
        break;
      } catch (err) {
        if (i === 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    let tid = 0;
    for (const [disk, target] of Object.values(SANBOOT)) {
      tid++;
      tgtadm('--op', 'new', '--mode', 'target', '--tid', String(tid), '-T', target);
      tgtadm('--op', 'new', '--mode', 'logicalunit', '--tid', String(tid), '--lun', '1', '-b', join(dir, disk));
      tgtadm('--op', 'bind', '--mode', 'target', '--tid', String(tid), '-I', 'ALL');
    }
  });

  after(async () => {
    for (const t of terminals) await t.stop();
    await lab.destroy();
    // tgtd was SIGKILLed (it ignores SIGTERM while targets exist): remove its management socket files (ours only)
    for (const f of [`socket.${TGT_CONTROL_PORT}`, `socket.${TGT_CONTROL_PORT}.lock`]) rmSync(join('/var/run/tgtd', f), { force: true });
    if (KEEP_LOGS) execFileSync('cp', [join(dir, 'dnsmasq.log'), join(dir, 'dnsmasq.leases'), KEEP_LOGS]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** console lines that show which path a terminal took, in the order they must appear */
  // iPXE may print a progress percentage before "ok" when a download is slow ("vmlinuz... 58%     ok").
  // The kernel's first console line can land on iPXE's last one, cutting its "ok" (seen once in CI:
  // "http://10.73.0.1/initrd.gz... obootgate-demo: kernel …"): the initrd line needs only the "o", and the kernel line
  // may start there.
  const NETBOOT_KERNEL = [/^http:\/\/10\.73\.0\.1\/vmlinuz\.\.\.(?: +\d+%)? +ok/, /^http:\/\/10\.73\.0\.1\/initrd\.gz\.\.\.(?: +\d+%)? +ok?/];
  const KERNEL_LINE = /(?:^|\.\.\.(?: +\d+%)? +ok?)bootgate-demo: kernel /;
  const SAN_PATH = [/^Registered SAN device 0x80/, /^Booting from SAN device 0x80/];

  async function boot(t: TestContext, path: RegExp[], opts: Omit<TerminalOptions, 'ns' | 'bridge'>): Promise<Terminal> {
    const serialLogFile = join(KEEP_LOGS ?? dir, `${opts.tap}.serial`);
    const term = startTerminal({ ns: lab.server, bridge: 'br0', serialLogFile, ...opts });
    terminals.push(term);
    // the demo OS ends with exactly one of BOOTGATE-TERMINAL-BOOTED / BOOTGATE-TERMINAL-FAILED
    const marker = await term.waitForLine(/^BOOTGATE-TERMINAL-(?:BOOTED|FAILED)\b/, BOOT_TIMEOUT_MS);
    const booted = /^BOOTGATE-TERMINAL-BOOTED mac=(\S+) ip=(\S+)$/.exec(marker.line);
    assert.ok(booted, marker.line);
    const [, mac, ip] = booted;
    assert.equal(mac, opts.mac);
    assert.match(ip!, /^10\.73\.0\.(1\d\d|200)$/);
    ips.set(opts.mac, ip!);
    // the terminal's report reached the /booted stand-in (the marker comes after it; the server's log line travels
    // through another pipe, so it may be read a little later than the serial line)
    await waitForText(http, new RegExp(`"GET /booted\\?mac=${opts.mac} HTTP/1\\.[01]" 200`), 10_000);
    const exit = await term.waitForExit(60_000);
    assert.equal(exit.code, 0, `QEMU exit ${exit.code ?? exit.signal}`);
    const ipxe = await term.waitForLine(/^BOOTGATE-IPXE-SCRIPT mac=(\S+)/, 0);
    assert.equal(ipxe.match[1], opts.mac);
    const lines = term.lines();
    let at = lines.indexOf(ipxe.line);
    for (const re of [...path, KERNEL_LINE]) {
      const next = lines.findIndex((l, i) => (i > at || (re === KERNEL_LINE && i === at)) && re.test(l));
      assert.ok(next >= 0, `no ${re} after line ${at} on the console:\n${lines.slice(at).join('\n')}`);
      at = next;
    }
    // boot timings (TCG) for the report: QEMU start → iPXE script → marker
    t.diagnostic(
      `${opts.firmware}${opts.uefiNetboot ? `/${opts.uefiNetboot}` : ''}: iPXE script at ${(ipxe.elapsedMs / 1000).toFixed(1)} s, ` +
        `marker at ${(marker.elapsedMs / 1000).toFixed(1)} s, QEMU exit at ${(exit.elapsedMs / 1000).toFixed(1)} s`,
    );
    return term;
  }

  it('BIOS: SeaBIOS + iPXE e1000 ROM → boot.ipxe over HTTP → kernel → marker + /booted report', async (t) => {
    await boot(t, NETBOOT_KERNEL, { tap: 'bgdemot1', mac: '52:54:00:73:00:01', firmware: 'bios' });
  });

  it('UEFI: OVMF + iPXE EFI ROM → boot.ipxe over HTTP → kernel → marker + /booted report', async (t) => {
    await boot(t, NETBOOT_KERNEL, { tap: 'bgdemot2', mac: '52:54:00:73:00:02', firmware: 'uefi', uefiNetboot: 'ipxe-rom' });
  });

  it("UEFI: OVMF's own PXE → TFTP ipxe.efi → boot.ipxe → kernel → marker + /booted report", async (t) => {
    const term = await boot(t, NETBOOT_KERNEL, { tap: 'bgdemot3', mac: '52:54:00:73:00:03', firmware: 'uefi', uefiNetboot: 'edk2-pxe' });
    // OVMF's PXE fetched iPXE over TFTP before iPXE ran the script
    const nbp = await term.waitForLine(/^NBP filename is (\S+)/, 0);
    assert.equal(nbp.match[1], 'ipxe.efi');
    assert.ok(term.lines().indexOf(nbp.line) < term.lines().findIndex((l) => l.startsWith('BOOTGATE-IPXE-SCRIPT')));
  });

  it('BIOS: iPXE ROM → per-MAC script → sanboot iSCSI (tgt) → SYSLINUX disk → kernel → marker + /booted report', async (t) => {
    await boot(t, [...SAN_PATH, /^SYSLINUX /], { tap: 'bgdemot4', mac: '52:54:00:73:00:04', firmware: 'bios' });
  });

  it('UEFI: iPXE EFI ROM → per-MAC script → sanboot iSCSI (tgt) → systemd-boot ESP → kernel → marker + /booted report', async (t) => {
    await boot(t, SAN_PATH, { tap: 'bgdemot5', mac: '52:54:00:73:00:05', firmware: 'uefi', uefiNetboot: 'ipxe-rom' });
  });

  it('each terminal reported the address the DHCP server leased it (dnsmasq lease file)', () => {
    const leases = readFileSync(join(dir, 'dnsmasq.leases'), 'utf8');
    assert.equal(ips.size, 5);
    for (const [mac, ip] of ips) assert.match(leases, new RegExp(`^\\d+ ${mac} ${ip.replace(/\./g, '\\.')} `, 'm'));
  });
});
