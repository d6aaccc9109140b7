/**
 * The storm's network and servers (bench/storm/full-run.ts, test/integration/boot-storm-full.test.ts):
 *   <prefix>-srv  br0 SERVER/22, where one server stack at a time runs (bootgate, or dnsmasq + nginx + tgtd)
 *   <prefix>-cli  a veth into br0 (no address; the route to the LAN) and one macvlan per terminal on it, each with
 *                 the terminal's MAC; udhcpc puts the leased address on it (/32). arp_ignore=1: only the macvlan
 *                 holding an address answers ARP for it, so the server sees each terminal at its own MAC.
 * Servers are spawned in their own process group and stopped by that group's PID; the namespaces are deleted by
 * down(). The subnet is 10.223.0.0/22 unless given (prefix s22s: one helper's range).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { openSync, readdirSync, readFileSync } from 'node:fs';

export const stormMac = (i: number): string =>
  `52:54:00:22:${(((i + 1) >> 8) & 0xff).toString(16).padStart(2, '0')}:${((i + 1) & 0xff).toString(16).padStart(2, '0')}`;

const ipq = (args: string[], input?: string): string => execFileSync('ip', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
const quiet = (args: string[]): void => {
  try {
    ipq(args);
  } catch {
    /* already gone */
  }
};

export class StormNet {
  readonly srv: string;
  readonly cli: string;
  readonly ifPrefix: string;
  private readonly children = new Set<ChildProcess>();
  /** set by down(): nothing more is started (a signal's cleanup may run while a bench is between steps) */
  private closed = false;

  constructor(
    readonly prefix: string,
    readonly server = '10.223.0.1',
    readonly terminals = 200,
  ) {
    this.srv = `${prefix}-srv`;
    this.cli = `${prefix}-cli`;
    this.ifPrefix = `${prefix}-m`;
  }

  up(): void {
    this.closed = false;
    this.downNet();
    for (const ns of [this.srv, this.cli]) {
      ipq(['netns', 'add', ns]);
      ipq(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    ipq(['-n', this.srv, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    ipq(['-n', this.srv, 'addr', 'add', `${this.server}/22`, 'dev', 'br0']);
    ipq(['-n', this.srv, 'link', 'set', 'br0', 'up']);
    const v = `${this.prefix}-c0`;
    ipq(['link', 'add', v, 'netns', this.cli, 'type', 'veth', 'peer', 'name', `${v}b`, 'netns', this.srv]);
    ipq(['-n', this.srv, 'link', 'set', `${v}b`, 'master', 'br0', 'up']);
    ipq(['-n', this.cli, 'link', 'set', v, 'up']);
    const lines: string[] = [];
    for (let i = 0; i < this.terminals; i++) {
      const m = `${this.ifPrefix}${i}`;
      lines.push(`link add ${m} link ${v} address ${stormMac(i)} type macvlan mode bridge`, `link set ${m} up`);
    }
    ipq(['-n', this.cli, '-batch', '-'], lines.join('\n') + '\n');
    const net = this.server.replace(/\.\d+$/, '.0');
    ipq(['-n', this.cli, 'route', 'add', `${net}/22`, 'dev', v]);
    for (const k of ['net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0'])
      execFileSync('ip', ['netns', 'exec', this.cli, 'sysctl', '-q', '-w', k]);
  }

  /** Between runs: the leased addresses off the terminals, the server's neighbour cache empty. */
  reset(): void {
    const lines = Array.from({ length: this.terminals }, (_, i) => `addr flush dev ${this.ifPrefix}${i}`);
    ipq(['-n', this.cli, '-batch', '-'], lines.join('\n') + '\n');
    quiet(['-n', this.srv, 'neigh', 'flush', 'dev', 'br0']);
  }

  /** Spawns `cmd` in the server namespace, in its own process group, output to `log`. */
  spawnServer(cmd: string, args: string[], log: string, cwd?: string): ChildProcess {
    if (this.closed) throw new Error('the storm network is going down');
    const fd = openSync(log, 'a');
    const c = spawn('ip', ['netns', 'exec', this.srv, cmd, ...args], { stdio: ['ignore', fd, fd], detached: true, ...(cwd ? { cwd } : {}) });
    this.children.add(c);
    c.once('exit', () => this.children.delete(c));
    return c;
  }

  /** Stops one server's process group (TERM, then KILL after 5 s) and waits for it. */
  async stop(c: ChildProcess): Promise<void> {
    if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    try {
      process.kill(-c.pid, 'SIGTERM');
    } catch {
      return;
    }
    const t = setTimeout(() => {
      try {
        process.kill(-c.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, 5000);
    await exited;
    clearTimeout(t);
  }

  async down(): Promise<void> {
    this.closed = true;
    for (const c of [...this.children]) await this.stop(c);
    this.downNet();
  }

  private downNet(): void {
    for (const ns of [this.cli, this.srv]) quiet(['netns', 'del', ns]);
  }
}

/** CPU seconds (user + system) used so far by every live process of process group `pgid` (Linux /proc). */
export function groupCpuSeconds(pgid: number): number {
  let ticks = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue;
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // after "pid (comm) ": state ppid pgrp … utime(12th) stime(13th)
    if (Number(f[2]) === pgid) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / 100;
}

/** Busy CPU seconds of the whole machine so far, all cores (/proc/stat: everything but idle and iowait). */
export function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const busy = f.reduce((a, x) => a + x, 0) - f[3]! - f[4]!;
  return busy / 100;
}
