import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const STANDALONE = fileURLToPath(new URL('./iscsi-target-runner.ts', import.meta.url));

/** test/helpers/iscsi-target-runner.ts as a child process (so tests can kill -9 it). */
export class IscsiTargetProcess {
  child: ChildProcess | undefined;
  output = '';
  constructor(readonly args: string[]) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', STANDALONE, ...this.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        this.output += d.toString();
        if (this.output.includes('iscsi target ready')) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`target exited (${code}) before ready:\n${this.output}`)));
    });
  }

  async kill9(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    process.kill(c.pid!, 'SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    process.kill(c.pid!, 'SIGTERM');
    const t = setTimeout(() => c.exitCode === null && process.kill(c.pid!, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}
