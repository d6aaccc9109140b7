/**
 * The whole-morning boot storm, bootgate against the peer stack in the same run (issue 16 §3). For each N and
 * repetition, in rotated order, one server stack at a time on the same LAN (bench/storm/net.ts, 10.223.0.0/22):
 *   bootgate      `bootgate serve`: DHCP, TFTP, HTTP boot, iSCSI with a discard overlay per terminal over the
 *                 root-on-iSCSI image (boot-images/build-rootdisk.sh), admission off
 *   bootgate-adm  the same with boot.admission on (bound --bound, released on /booted)
 *   peer          dnsmasq (DHCP + TFTP, tftp-max raised to 1000) + nginx (HTTP, sendfile) + tgtd (iSCSI): one
 *                 target per terminal with its own LUN, a fresh sparse copy of the same image on /dev/shm (what a
 *                 café on tgt does without overlays: a disk per seat), bound to that terminal's initiator name
 * The terminals (bench/storm/full-storm.ts, one Node process in the client namespace) do DHCP with busybox udhcpc,
 * TFTP of undionly.kpxe, the iPXE script, the kernel and initrd (.lab/images/vmlinuz, initrd.gz) over HTTP, the
 * recorded iSCSI working set (bench/storm/working-set.json), /booted. Prints a table; raw lines in $OUT/results.jsonl.
 * Usage (root): node --import tsx bench/storm/full-run.ts [--ns 50,100,200] [--reps 2] [--bound 16]
 *   [--stacks bootgate,bootgate-adm,peer] [--out /tmp/s22s-storm]
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../../src/lab/lab.ts';
import { groupCpuSeconds, machineBusySeconds, StormNet } from './net.ts';
import { bootgateConfig, drive, prepareFiles, SERVER, startBootgate, startPeer, type Running } from './stacks.ts';

const { values } = parseArgs({
  options: {
    ns: { type: 'string', default: '50,100,200' },
    reps: { type: 'string', default: '2' },
    bound: { type: 'string', default: '16' },
    stacks: { type: 'string', default: 'bootgate,bootgate-adm,peer' },
    out: { type: 'string', default: '/tmp/s22s-storm' },
    verify: { type: 'boolean', default: false },
  },
});
const NS = values.ns!.split(',').map(Number);
const REPS = Number(values.reps);
const BOUND = Number(values.bound);
const STACKS = values.stacks!.split(',');
const OUT = values.out!;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const { image, bootRoot, peerDir } = prepareFiles(OUT, Math.max(...NS));
  const maxN = Math.max(...NS);
  const net = new StormNet('s22s', SERVER, maxN);
  let running: Running | undefined;
  const cleanup = async (): Promise<void> => {
    await net.down();
    running?.cleanup?.();
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void cleanup().finally(() => process.exit(130)));
  const results = join(OUT, 'results.jsonl');
  try {
    net.up();
    let run = 0;
    for (const n of NS) {
      for (let rep = 1; rep <= REPS; rep++) {
        const order = [...STACKS.slice(rep % STACKS.length), ...STACKS.slice(0, rep % STACKS.length)];
        for (const stack of order) {
          run++;
          const work = join(OUT, `run-${run}-${stack}-${n}`);
          mkdirSync(work, { recursive: true });
          net.reset();
          if (stack === 'peer') running = await startPeer(net, work, peerDir, image, n);
          else
            running = await startBootgate(
              net,
              work,
              bootgateConfig({ dataDir: join(work, 'data'), root: bootRoot, image, ...(stack === 'bootgate-adm' ? { bound: BOUND } : {}) }),
            );
          await sleep(500);
          const cpu0 = running.groups.reduce((a, g) => a + groupCpuSeconds(g.pid!), 0);
          const load = loadavg()[0]!;
          const busy0 = machineBusySeconds();
          const r = await drive(net, stack === 'peer' ? 'peer' : 'bootgate', n, stack === 'peer' ? peerDir : bootRoot, stack, values.verify!);
          const cpu = running.groups.reduce((a, g) => a + groupCpuSeconds(g.pid!), 0) - cpu0;
          // what the rest of the machine (other users of the 2 cores) used meanwhile, beside servers and driver
          const others = machineBusySeconds() - busy0 - cpu - Number(r.clientCpuS);
          const row = {
            ...r,
            stack,
            rep,
            bound: stack === 'bootgate-adm' ? BOUND : 0,
            load1: load,
            serverCpuS: Math.round(cpu * 100) / 100,
            othersCpuS: Math.round(others * 100) / 100,
          };
          appendFileSync(results, JSON.stringify(row) + '\n');
          process.stderr.write(
            `${stack} N=${n} rep ${rep}: ${String(r.completed)}/${n} wall ${String(r.wallMs)} ms, total p99 ${String((r.total as { p99: number }).p99)} ms, cpu ${cpu.toFixed(1)} s, others ${others.toFixed(1)} s, load ${load.toFixed(2)}${r.firstFailure ? ` first failure: ${String(r.firstFailure)}` : ''}\n`,
          );
          for (const g of running.groups) await net.stop(g);
          running.cleanup?.();
          running = undefined;
        }
      }
    }
  } finally {
    await cleanup();
  }
  execFileSync('python3', [join(ROOT, 'bench/storm/summary.py'), results], { stdio: 'inherit' });
}

await main();
