import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { NetnsLab } from '../../src/lab/netns.ts';

const REPO = join(fileURLToPath(import.meta.url), '../../..');
export const DNS_RUNNER = join(REPO, 'test/helpers/dns-runner.ts');

/** bootgate's resolver alone (test/helpers/dns-runner.ts) in one of the lab's namespaces. */
export class DnsResolverProcess {
  child: ChildProcess | undefined;
  output = '';

  constructor(
    private readonly lab: NetnsLab,
    private readonly ns: string,
    private readonly config: Record<string, unknown>,
    private readonly local: string[] = [],
  ) {}

  async start(): Promise<void> {
    const args = ['--import', 'tsx', DNS_RUNNER, '--config', JSON.stringify(this.config), '--queries', ...this.local.flatMap((l) => ['--local', l])];
    const child = this.lab.spawnIn(this.ns, process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: REPO });
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (this.output.includes('dns ready')) {
          clearInterval(t);
          resolve();
        }
      }, 50);
      child.once('exit', (code) => {
        clearInterval(t);
        reject(new Error(`dns-runner exited (${code}):\n${this.output}`));
      });
    });
  }

  /** Current value of a metric (sum over the series matching the labels), read from the process's registry. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const from = this.output.length;
    this.child!.stdin!.write('metrics\n');
    for (let i = 0; i < 200 && !this.output.slice(from).includes('#END'); i++) await new Promise((r) => setTimeout(r, 20));
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

  /** The onQuery events printed so far. */
  queries(): Array<Record<string, unknown>> {
    return this.output
      .split('\n')
      .filter((l) => l.startsWith('query '))
      .map((l) => JSON.parse(l.slice(6)) as Record<string, unknown>);
  }
}
