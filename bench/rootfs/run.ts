/**
 * Boot time of the root-on-iSCSI OS (boot-images/build-rootdisk.sh), bootgate against the peer stack, same image,
 * same run, one QEMU terminal (TCG) at a time, interleaved so both sides see the same machine load:
 *   bootgate   `bootgate serve` in namespace bgr21b (DHCP, iPXE script, iSCSI through a discard-mode overlay)
 *   peer       dnsmasq (DHCP, iPXE script by DHCP filename) + python3 http.server (script, /booted) + tgtd 1.0.85
 *              (a fresh sparse copy of the image per boot, LUN 1) in namespace bgr21p-srv
 * Firmwares: BIOS (SeaBIOS + iPXE ROM) and UEFI (OVMF + iPXE EFI ROM). Measured from QEMU start to the OS's
 * BOOTGATE-ROOTFS-UP line (written to its iSCSI root, synced, reported over HTTP) and to QEMU's exit (poweroff).
 * Usage (root): node --import tsx bench/rootfs/run.ts [rounds=3]  — prints a table, medians and ratios, load average.
 * BENCH_LOGS=<dir> keeps every boot's serial console (timestamped lines) there.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LAB_BRIDGE, Lab, ROOT } from '../../src/lab/lab.ts';
import { NetnsLab } from '../../src/lab/netns.ts';
import { startTerminal, type Firmware, type Terminal } from '../../src/lab/qemu.ts';

const ROUNDS = Number(process.argv[2] ?? 3);
const IMAGES = process.env.BOOTGATE_IMAGES ?? join(ROOT, '.lab/images');
const PEER_IP = '10.75.0.1';
const TGT_PORT = '7521';
const IQN = 'iqn.2026-11.test.bootgate.rootfs';

interface Sample {
  side: 'bootgate' | 'peer';
  firmware: Firmware;
  upS: number;
  exitS: number;
}

/** the terminal booting now (stopped by the signal handler too) */
let current: Terminal | undefined;

async function bootOnce(ns: string, firmware: Firmware, mac: string, tap: string): Promise<{ upS: number; exitS: number }> {
  const logs = process.env.BENCH_LOGS; // a directory: keep each boot's serial console with timestamps
  const serialLogFile = logs ? join(logs, `${ns}-${firmware}-${mac.replaceAll(':', '')}.serial`) : undefined;
  const term = startTerminal({ ns, bridge: LAB_BRIDGE, tap, mac, firmware, ...(serialLogFile ? { serialLogFile } : {}) });
  current = term;
  try {
    const up = await term.waitForLine(/^BOOTGATE-(?:ROOTFS-UP|TERMINAL-FAILED)\b/, 300_000);
    if (!up.line.startsWith('BOOTGATE-ROOTFS-UP')) throw new Error(`${firmware} on ${ns}: ${up.line}\n${term.lines().slice(-30).join('\n')}`);
    const exit = await term.waitForExit(120_000);
    return { upS: up.elapsedMs / 1000, exitS: exit.elapsedMs / 1000 };
  } finally {
    await term.stop();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const image = execFileSync('bash', [join(ROOT, 'boot-images/build-rootdisk.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  const dir = mkdtempSync(join(tmpdir(), 'bg-bench-rootfs-'));
  const lab = new Lab({
    dir: join(dir, 'bootgate'),
    ns: 'bgr21b',
    imagesDir: IMAGES,
    configOverrides: {
      boot: { defaultProfile: 'disk' },
      profiles: { disk: { sanboot: 'rootos' } },
      iscsi: { images: { rootos: image }, overlays: { defaultMode: 'discard' } },
    },
  });
  const peer = new NetnsLab('bgr21p');
  const root = join(dir, 'peer');
  const samples: Sample[] = [];
  const load0 = loadavg();
  const cleanup = async (): Promise<void> => {
    await current?.stop();
    await lab.down();
    await peer.destroy();
    for (const f of [`socket.${TGT_PORT}`, `socket.${TGT_PORT}.lock`]) rmSync(join('/var/run/tgtd', f), { force: true });
    rmSync(dir, { recursive: true, force: true });
  };
  // an interrupted run still stops its QEMU, bootgate, dnsmasq, http.server, tgtd (by PID) and removes its namespaces
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => void cleanup().finally(() => process.exit(130)));
  }
  try {
    await lab.up();
    // the peer: the same iPXE path by hand (iPXE's DHCP filename → a script that sanboots tgt's LUN 1)
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'boot.ipxe'), `#!ipxe\nchain http://${PEER_IP}/\${net0/mac:hexhyp}.ipxe\n`);
    writeFileSync(join(root, 'booted'), 'ok\n');
    const conf = [
      'port=0',
      'interface=br0',
      'bind-interfaces',
      'user=root',
      'keep-in-foreground',
      `dhcp-leasefile=${dir}/dnsmasq.leases`,
      'dhcp-range=10.75.0.100,10.75.0.200,255.255.255.0,10m',
      'dhcp-authoritative',
      'no-ping',
      'dhcp-match=set:ipxe,175',
      `dhcp-boot=tag:ipxe,http://${PEER_IP}/boot.ipxe`,
      'dhcp-option=tag:ipxe,encap:175,176,1b',
      // RAs, as bootgate sends them: without a router iPXE's IPv6 autoconfiguration waits ~13 s (see test/e2e/demo-os)
      'enable-ra',
      'dhcp-range=fd00:75::,ra-only,64,10m',
      '',
    ].join('\n');
    writeFileSync(join(dir, 'dnsmasq.conf'), conf);
    peer.createServer('br0', `${PEER_IP}/24`);
    execFileSync('ip', ['-n', peer.server, 'addr', 'add', 'fd00:75::1/64', 'dev', 'br0', 'nodad']);
    peer.spawnIn(peer.server, 'dnsmasq', [`--conf-file=${join(dir, 'dnsmasq.conf')}`]);
    peer.spawnIn(peer.server, 'python3', ['-m', 'http.server', '80', '--bind', PEER_IP, '--directory', root]);
    peer.spawnIn(peer.server, 'tgtd', ['-f', '-C', TGT_PORT, '--iscsi', `portal=${PEER_IP}:3260`]);
    const tgtadm = (...a: string[]): string => execFileSync('tgtadm', ['-C', TGT_PORT, '--lld', 'iscsi', ...a], { encoding: 'utf8', stdio: 'pipe' });
    for (let i = 0; ; i++) {
      try {
        tgtadm('--op', 'show', '--mode', 'sys');
        break;
      } catch (err) {
        if (i === 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    let n = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const firmware of ['bios', 'uefi'] as Firmware[]) {
        n++;
        const mac = `52:54:00:21:0f:${n.toString(16).padStart(2, '0')}`;
        const b = await bootOnce(lab.ns, firmware, mac, 'bgr21bt');
        samples.push({ side: 'bootgate', firmware, ...b });
        // tgt: a target with a fresh sparse copy of the golden image per boot (what a discard overlay gives the
        // terminal); targets are left until tgtd goes (a dead initiator's session keeps its LU busy)
        const copy = join(dir, `tgt-disk-${n}.img`);
        execFileSync('cp', ['--sparse=always', image, copy]);
        tgtadm('--op', 'new', '--mode', 'target', '--tid', String(n), '-T', `${IQN}:${n}`);
        tgtadm('--op', 'new', '--mode', 'logicalunit', '--tid', String(n), '--lun', '1', '-b', copy);
        tgtadm('--op', 'bind', '--mode', 'target', '--tid', String(n), '-I', 'ALL');
        writeFileSync(join(root, `${mac.replaceAll(':', '-')}.ipxe`), `#!ipxe\nsanboot iscsi:${PEER_IP}:::1:${IQN}:${n}\n`);
        const p = await bootOnce(peer.server, firmware, mac, 'bgr21pt');
        samples.push({ side: 'peer', firmware, ...p });
        process.stderr.write(`round ${round + 1} ${firmware}: bootgate ${b.upS.toFixed(1)} s, peer ${samples.at(-1)!.upS.toFixed(1)} s\n`);
      }
    }
  } finally {
    await cleanup();
  }
  const load1 = loadavg();
  console.log('side\tfirmware\tup_s\texit_s');
  for (const s of samples) console.log(`${s.side}\t${s.firmware}\t${s.upS.toFixed(2)}\t${s.exitS.toFixed(2)}`);
  for (const fw of ['bios', 'uefi'] as Firmware[]) {
    const b = median(samples.filter((s) => s.side === 'bootgate' && s.firmware === fw).map((s) => s.upS));
    const p = median(samples.filter((s) => s.side === 'peer' && s.firmware === fw).map((s) => s.upS));
    console.log(
      `${fw}: median to ROOTFS-UP bootgate ${b.toFixed(1)} s, dnsmasq+http.server+tgt ${p.toFixed(1)} s, bootgate/peer ${(b / p).toFixed(2)}`,
    );
  }
  console.log(`load average (1/5/15 min) at start ${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${load1.map((x) => x.toFixed(2)).join(' ')}`);
}

await main();
