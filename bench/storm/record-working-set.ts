/**
 * Records the boot working set of the root-on-iSCSI OS (boot-images/build-rootdisk.sh) once, from a real boot:
 * `bootgate serve` in namespace s22s-ws (LAN br0 10.223.9.1/24, discard overlay), one QEMU terminal (TCG, BIOS:
 * SeaBIOS + iPXE ROM), tcpdump on br0 capturing TCP port 3260 from before the terminal starts until QEMU exits
 * (the OS powers off after reporting /booted). The capture is decoded by bench/storm/working-set.ts (our PDU
 * framer) into every SCSI command of both sessions — iPXE's sanboot (INT 13h reads for SYSLINUX, the kernel and
 * initrd on the FAT partition) and the kernel initiator's (`iscsistart -b` from the iBFT, then ext4 root) — with
 * their CDBs, LBAs, block counts, issue and completion times, and written to bench/storm/working-set.json.
 * Usage (root): node --import tsx bench/storm/record-working-set.ts [out.json] [--keep-pcap file]
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LAB_BRIDGE, Lab, ROOT } from '../../src/lab/lab.ts';
import { startTerminal, type Terminal } from '../../src/lab/qemu.ts';
import { decodeCapture, summarize, type WorkingSet } from './working-set.ts';

const args = process.argv.slice(2);
const keepAt = args.indexOf('--keep-pcap');
const keepPcap = keepAt >= 0 ? args.splice(keepAt, 2)[1] : undefined;
const OUT = args[0] ?? join(ROOT, 'bench/storm/working-set.json');
const IMAGES = process.env.BOOTGATE_IMAGES ?? join(ROOT, '.lab/images');
const MAC = '52:54:00:22:5a:01';

async function main(): Promise<void> {
  const image = execFileSync('bash', [join(ROOT, 'boot-images/build-rootdisk.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  const imageSha = createHash('sha256').update(readFileSync(image)).digest('hex');
  const dir = mkdtempSync(join(tmpdir(), 's22s-ws-'));
  const pcap = join(dir, 'boot.pcap');
  const lab = new Lab({
    dir: join(dir, 'lab'),
    ns: 's22s-ws',
    server: '10.223.9.1',
    imagesDir: IMAGES,
    configOverrides: {
      boot: { defaultProfile: 'disk' },
      profiles: { disk: { sanboot: 'rootos' } },
      iscsi: { images: { rootos: image }, overlays: { defaultMode: 'discard' } },
    },
  });
  let term: Terminal | undefined;
  let dump: ReturnType<typeof spawn> | undefined;
  const cleanup = async (): Promise<void> => {
    await term?.stop();
    if (dump?.pid && dump.exitCode === null) {
      process.kill(dump.pid, 'SIGTERM');
      await new Promise((r) => dump!.once('exit', r));
    }
    await lab.down();
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void cleanup().finally(() => process.exit(130)));
  let upS = 0;
  let console: readonly string[] = [];
  try {
    await lab.up();
    // -U: each packet written at once (nothing left in tcpdump's buffer at SIGTERM); -s 0: whole frames
    dump = spawn('ip', ['netns', 'exec', lab.ns, 'tcpdump', '-i', LAB_BRIDGE, '-U', '-s', '0', '-w', pcap, 'tcp', 'port', '3260'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    await new Promise<void>((resolve, reject) => {
      dump!.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('listening on')) resolve();
      });
      dump!.once('exit', (c) => reject(new Error(`tcpdump exited ${c}: ${err}`)));
    });
    term = startTerminal({ ns: lab.ns, bridge: LAB_BRIDGE, tap: 's22s-wst', mac: MAC, firmware: 'bios' });
    const up = await term.waitForLine(/^BOOTGATE-(?:ROOTFS-UP|TERMINAL-FAILED)\b/, 300_000);
    if (!up.line.startsWith('BOOTGATE-ROOTFS-UP')) throw new Error(`${up.line}\n${term.lines().slice(-30).join('\n')}`);
    upS = up.elapsedMs / 1000;
    await term.waitForExit(120_000);
    console = term.lines();
    await new Promise((r) => setTimeout(r, 500)); // the last FIN/ACKs
  } finally {
    await cleanup();
  }
  if (keepPcap) copyFileSync(pcap, keepPcap);
  const sessions = decodeCapture(readFileSync(pcap));
  const ws: WorkingSet = {
    note:
      `Recorded ${new Date().toISOString()} by bench/storm/record-working-set.ts: one BIOS boot (QEMU TCG, SeaBIOS + iPXE ROM) of ` +
      `boot-images/build-rootdisk.sh's image (sha256 ${imageSha}) through bootgate, discard overlay; OS up ${upS.toFixed(1)} s after ` +
      `QEMU start; load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}. Times are ms from each session's SYN (TCG: the gaps are the guest's CPU time, slow).`,
    blockSize: 512,
    sessions,
  };
  // one command per line: small diffs, readable
  const session = ({ commands, ...head }: (typeof sessions)[number]): string =>
    `${JSON.stringify(head).slice(0, -1)},"commands":[\n${commands.map((c) => JSON.stringify(c)).join(',\n')}\n]}`;
  writeFileSync(OUT, `{"note":${JSON.stringify(ws.note)},"blockSize":${ws.blockSize},"sessions":[\n${sessions.map(session).join(',\n')}\n]}\n`);
  rmSync(dir, { recursive: true, force: true });
  for (const s of sessions) process.stdout.write(`${s.initiatorName} → ${s.targetName}: ${JSON.stringify(summarize(s))}\n`);
  process.stdout.write(`console tail:\n${console.slice(-5).join('\n')}\nwrote ${OUT}\n`);
}

await main();
