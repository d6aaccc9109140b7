import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { NetnsLab } from '../../src/lab/netns.ts';
import type { AuditRecordInput, SeatSession } from '../../src/gateway/seats-and-audit.ts';

/** test/helpers/gateway-runner.ts running in a namespace, driven over its stdin/stdout control channel. */
export class GatewayProcess {
  readonly records: AuditRecordInput[] = [];
  /** every stdout line (control replies, audit records, pino JSON logs) */
  readonly lines: string[] = [];
  private readonly waiting: Array<(line: string) => boolean> = [];
  readonly stderr: string[] = [];
  private constructor(readonly child: ChildProcess) {}

  static async start(lab: NetnsLab, ns: string, args: string[]): Promise<GatewayProcess> {
    const child = lab.spawnIn(ns, process.execPath, ['--import', 'tsx', 'test/helpers/gateway-runner.ts', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      cwd: process.cwd(),
    });
    const g = new GatewayProcess(child);
    child.stderr!.on('data', (c: Buffer) => g.stderr.push(c.toString()));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      g.lines.push(line);
      if (line.startsWith('audit ')) g.records.push(JSON.parse(line.slice(6)) as AuditRecordInput);
      const i = g.waiting.findIndex((w) => w(line));
      if (i >= 0) g.waiting.splice(i, 1);
    });
    await g.waitLine((l) => l === 'gateway ready', 30_000);
    return g;
  }

  waitLine(match: (line: string) => boolean, timeoutMs = 10_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`gateway: no matching line; stderr: ${this.stderr.join('')}`)), timeoutMs);
      const exit = () => reject(new Error(`gateway exited; stderr: ${this.stderr.join('')}`));
      this.child.once('exit', exit);
      this.waiting.push((line) => {
        if (!match(line)) return false;
        clearTimeout(timer);
        this.child.off('exit', exit);
        resolve(line);
        return true;
      });
    });
  }

  private async command(msg: object, op: string): Promise<string> {
    const reply = this.waitLine((l) => l.startsWith(`ok ${op} `) || l.startsWith('fail '));
    this.child.stdin!.write(`${JSON.stringify(msg)}\n`);
    const line = await reply;
    if (line.startsWith('fail ')) throw new Error(`gateway: ${line}`);
    return line.slice(`ok ${op} `.length);
  }

  open(ip: string, session: SeatSession): Promise<string> {
    return this.command({ op: 'open', ip, session }, 'open');
  }

  close(ip: string): Promise<string> {
    return this.command({ op: 'close', ip }, 'close');
  }

  async counters(): Promise<Record<string, { packets: number; bytes: number }>> {
    return JSON.parse(await this.command({ op: 'counters' }, 'counters'));
  }

  async waitRecords(n: number, timeoutMs = 10_000): Promise<AuditRecordInput[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.records.length < n) {
      if (Date.now() > deadline) throw new Error(`only ${this.records.length} of ${n} audit records: ${JSON.stringify(this.records)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.records;
  }

  /** SIGTERM, then wait for a clean exit. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const exited = new Promise<number | null>((r) => this.child.once('exit', (code) => r(code)));
    this.child.kill('SIGTERM');
    return exited;
  }
}
