/**
 * A real boot storm: K QEMU terminals (TCG, BIOS: SeaBIOS + iPXE ROM) started at once, each booting the
 * root-on-iSCSI OS (boot-images/build-rootdisk.sh) to its BOOTGATE-ROOTFS-UP line (root mounted from its iSCSI
 * disk, a file written and synced, /booted reported) and its poweroff. Stacks, one at a time on the same LAN
 * (namespace s22s-q-srv, br0 10.223.0.1/22), order rotated per round:
 *   bootgate      `bootgate serve`, a discard overlay per terminal, admission off
 *   bootgate-adm  the same with boot.admission (bound --bound, released on /booted)
 *   peer          dnsmasq (DHCP, the iPXE script by filename, RAs) + nginx + tgtd, a disk (sparse copy on /dev/shm)
 *                 per terminal (bench/storm/full-run.ts startPeer)
 * Per terminal: seconds from its QEMU start to ROOTFS-UP; per storm: p50, p99 (= max for K < 100), the last one.
 * The machine has 2 shared cores: K TCG guests share them, so the figures measure the CPU more than the servers.
 * Usage (root): node --import tsx bench/storm/qemu-storm.ts [--k 6,8] [--rounds 1] [--bound 2] [--stacks …]
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startTerminal, type Terminal } from '../../src/lab/qemu.ts';
import { bootgateConfig, prepareFiles, SERVER, startBootgate, startPeer, type Running } from './stacks.ts';
import { groupCpuSeconds, machineBusySeconds, stormMac, StormNet } from './net.ts';

const { values } = parseArgs({
  options: {
    k: { type: 'string', default: '6,8' },
    rounds: { type: 'string', default: '1' },
    bound: { type: 'string', default: '2' },
    stacks: { type: 'string', default: 'bootgate,bootgate-adm,peer' },
    out: { type: 'string', default: '/tmp/s22s-qstorm' },
  },
});
const KS = values.k!.split(',').map(Number);
const STACKS = values.stacks!.split(',');
const BOUND = Number(values.bound);
const OUT = values.out!;

const pct = (v: number[], p: number): number => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
};

/** the terminals running now (a signal's cleanup stops them too) */
const live = new Set<Terminal>();

async function storm(net: StormNet, k: number, logs: string): Promise<{ up: number[]; failed: string[] }> {
  const terms: Terminal[] = [];
  try {
    for (let i = 0; i < k; i++)
      terms.push(
        startTerminal({
          ns: net.srv,
          bridge: 'br0',
          tap: `s22s-qt${i}`,
          mac: stormMac(i),
          firmware: 'bios',
          serialLogFile: join(logs, `term-${i}.serial`),
        }),
      );
    for (const t of terms) live.add(t);
    const res = await Promise.all(
      terms.map(async (t) => {
        const m = await t.waitForLine(/^BOOTGATE-(?:ROOTFS-UP|TERMINAL-FAILED)\b/, 900_000).catch((e: Error) => ({ line: e.message, elapsedMs: -1 }));
        if (!m.line.startsWith('BOOTGATE-ROOTFS-UP')) return { ok: false, s: 0, why: m.line };
        await t.waitForExit(300_000).catch(() => undefined);
        if (process.env.STORM_STOP_AT_EXIT !== '0') await t.stop();
        return { ok: true, s: m.elapsedMs / 1000, why: '' };
      }),
    );
    return { up: res.filter((r) => r.ok).map((r) => r.s), failed: res.filter((r) => !r.ok).map((r) => r.why) };
  } finally {
    for (const t of terms) {
      await t.stop();
      live.delete(t);
    }
  }
}

async function main(): Promise<void> {
  const { image, bootRoot, peerDir } = prepareFiles(OUT, Math.max(...KS));
  const net = new StormNet('s22s-q', SERVER, 0);
  let running: Running | undefined;
  const cleanup = async (): Promise<void> => {
    for (const t of live) await t.stop();
    await net.down();
    running?.cleanup?.();
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void cleanup().finally(() => process.exit(130)));
  const results = join(OUT, 'results.jsonl');
  const rows: { k: number; stack: string; up: number[]; failed: number; load: number[]; cpu: number; busy: number }[] = [];
  try {
    net.up();
    let run = 0;
    for (let round = 1; round <= Number(values.rounds); round++) {
      for (const k of KS) {
        const order = [...STACKS.slice(round % STACKS.length), ...STACKS.slice(0, round % STACKS.length)];
        for (const stack of order) {
          run++;
          const work = join(OUT, `run-${run}-${stack}-${k}`);
          mkdirSync(work, { recursive: true });
          running =
            stack === 'peer'
              ? await startPeer(net, work, peerDir, image, k, true)
              : await startBootgate(
                  net,
                  work,
                  bootgateConfig({ dataDir: join(work, 'data'), root: bootRoot, image, ...(stack === 'bootgate-adm' ? { bound: BOUND } : {}) }),
                );
          const cpu0 = running.groups.reduce((a, g) => a + groupCpuSeconds(g.pid!), 0);
          const load0 = loadavg()[0]!;
          const busy0 = machineBusySeconds();
          const t0 = performance.now();
          const r = await storm(net, k, work);
          const cpu = running.groups.reduce((a, g) => a + groupCpuSeconds(g.pid!), 0) - cpu0;
          // the machine's busy share of its 2 cores during the storm (QEMU, servers and everyone else)
          const busy = (machineBusySeconds() - busy0) / (((performance.now() - t0) / 1000) * 2);
          const row = {
            k,
            stack,
            round,
            up: r.up,
            failed: r.failed.length,
            firstFailure: r.failed[0],
            load: [load0, loadavg()[0]!],
            cpu,
            busy,
            bound: stack === 'bootgate-adm' ? BOUND : 0,
          };
          rows.push(row);
          appendFileSync(results, JSON.stringify(row) + '\n');
          process.stderr.write(
            `${stack} K=${k} round ${round}: up ${r.up.map((x) => x.toFixed(1)).join(' ')} s; failed ${r.failed.length}${r.failed[0] ? ` (${r.failed[0]})` : ''}; server CPU ${cpu.toFixed(1)} s; machine busy ${(busy * 100).toFixed(0)} %; load ${load0.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}\n`,
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
  console.log('| K | stack | up | p50 s | p99 = last s | server CPU s | machine busy | load1 start → end |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.k} | ${r.stack}${r.stack === 'bootgate-adm' ? ` (bound ${BOUND})` : ''} | ${r.up.length}/${r.k} | ${r.up.length ? pct(r.up, 50).toFixed(1) : '-'} | ${r.up.length ? pct(r.up, 99).toFixed(1) : '-'} | ${r.cpu.toFixed(1)} | ${(r.busy * 100).toFixed(0)} % | ${r.load.map((x) => x.toFixed(1)).join(' → ')} |`,
    );
}

await main();
