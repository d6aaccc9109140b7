import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { NetnsLab } from '../../src/lab/netns.ts';

const REPO = join(fileURLToPath(import.meta.url), '../../..');
export const SERVE_TFTP = join(REPO, 'bench/tftp/serve-tftp.ts');
export const TFTP_PROBE = join(REPO, 'test/helpers/tftp_probe.py');

/** bootgate's TFTP server alone (bench/tftp/serve-tftp.ts) in the lab's server namespace, on `ifname`. */
export class TftpServerProcess {
  child: ChildProcess | undefined;
  output = '';

  constructor(
    private readonly lab: NetnsLab,
    private readonly root: string,
    private readonly ifname: string,
    private readonly settings: Record<string, number | string> = {},
  ) {}

  async start(): Promise<void> {
    const sets = Object.entries(this.settings).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
    const child = this.lab.spawnIn(
      this.lab.server,
      process.execPath,
      ['--import', 'tsx', SERVE_TFTP, '--root', this.root, '--ifname', this.ifname, '--log', 'warn', '--metrics', ...sets],
      { stdio: ['pipe', 'pipe', 'pipe'], cwd: REPO },
    );
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (this.output.includes('tftp ready')) {
          clearInterval(t);
          resolve();
        }
      }, 50);
      child.once('exit', (code) => {
        clearInterval(t);
        reject(new Error(`serve-tftp exited (${code}):\n${this.output}`));
      });
    });
  }

  /** Current value of a metric (sum over series matching the labels), read from the process's registry. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const from = this.output.length;
    this.child!.stdin!.write('metrics\n');
    for (let i = 0; i < 100 && !this.output.slice(from).includes('#END'); i++) await new Promise((r) => setTimeout(r, 20));
    let sum = 0;
    for (const line of this.output.slice(from).split('\n')) {
      const m = /^(\w+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const l = Object.fromEntries(
        (m[2] ?? '')
          .split(',')
          .filter(Boolean)
          .map((kv) => kv.split('=').map((x) => x.replace(/"/g, '')) as [string, string]),
      );
      if (Object.entries(labels).every(([k, v]) => l[k] === v)) sum += Number(m[3]);
    }
    return sum;
  }

  served(): string[] {
    return this.output.split('\n').filter((l) => l.startsWith('served '));
  }
}
