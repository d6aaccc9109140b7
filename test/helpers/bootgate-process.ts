import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { NetnsLab } from '../../src/lab/netns.ts';

export const BIN = join(fileURLToPath(import.meta.url), '../../../bin/bootgate.js');

/** `bootgate serve` running inside a namespace, started and killed by the test. */
export class BootgateProcess {
  readonly dir = mkdtempSync(join(tmpdir(), 'bg-it-'));
  readonly configFile = join(this.dir, 'bootgate.yaml');
  child: ChildProcess | undefined;
  output = '';

  constructor(
    private readonly lab: NetnsLab,
    config: Record<string, unknown>,
  ) {
    writeFileSync(this.configFile, stringify({ dataDir: join(this.dir, 'data'), ...config }));
  }

  async start(): Promise<void> {
    const child = this.lab.spawnIn(this.lab.server, process.execPath, [BIN, 'serve', '--config', this.configFile]);
    this.child = child;
    // this run's output only: after a restart, the first run's "bootgate started" must not count
    const from = this.output.length;
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        this.output += d.toString();
        if (this.output.includes('bootgate started', from)) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`bootgate exited (${code}) before start:\n${this.output}`)));
    });
  }

  /** kill -9: no cleanup code runs in bootgate. */
  async kill9(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    process.kill(c.pid!, 'SIGKILL');
    await exited;
  }

  async stop(): Promise<number | null> {
    const c = this.child;
    if (!c || c.exitCode !== null) return c?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
    process.kill(c.pid!, 'SIGTERM');
    return exited;
  }

  /** Scrapes one metric from /metrics inside the namespace (sum over series matching the label filter). */
  metric(listen: string, name: string, labels: Record<string, string> = {}): number {
    const text = this.lab.exec(this.lab.server, 'curl', ['-s', `http://${listen}/metrics`]);
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) sum += Number(m[3]);
    }
    return sum;
  }

  /**
   * `/api/v1` on `listen` inside the namespace, with the bootstrap admin token (curl --fail-with-body: a 4xx or 5xx
   * throws); the reply parsed as JSON when it is JSON.
   */
  api(listen: string, method: string, path: string, body?: unknown): unknown {
    const token = readFileSync(join(this.dir, 'data/keys/admin.token'), 'utf8').trim();
    const args = ['-sS', '--fail-with-body', '-X', method, '-H', `authorization: Bearer ${token}`];
    if (body !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(body));
    const out = this.lab.exec(this.lab.server, 'curl', [...args, `http://${listen}/api/v1${path}`]);
    try {
      return JSON.parse(out) as unknown;
    } catch {
      return out;
    }
  }

  /** The CLI against this appliance's config, inside the namespace; `input` on stdin (e.g. a staff password). */
  cli(args: string[], input?: string): string {
    return this.lab.exec(this.lab.server, process.execPath, [BIN, ...args, '--config', this.configFile], {
      timeoutMs: 30_000,
      ...(input !== undefined ? { input } : {}),
    });
  }
}

export function writeScript(dir: string, name: string, body: string): string {
  const f = join(dir, name);
  writeFileSync(f, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return f;
}

/** A seat's lease with busybox udhcpc in `ns` (address and default route through the gateway), as a terminal's OS takes it. */
export function leaseWithUdhcpc(lab: NetnsLab, ns: string, dir: string): string {
  const script = writeScript(
    dir,
    'udhcpc.sh',
    'case "$1" in bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface"; ip route replace default via "$router";; esac',
  );
  return lab.exec(ns, 'busybox', ['udhcpc', '-i', 'eth0', '-q', '-n', '-t', '4', '-T', '1', '-s', script], { timeoutMs: 20_000 });
}

/** Waits (about 5 s at most) until `url` answers from inside `ns`: a server the test has just spawned there. */
export async function waitForHttp(lab: NetnsLab, ns: string, url: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      lab.exec(ns, 'curl', ['-sf', '-o', '/dev/null', url]);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
