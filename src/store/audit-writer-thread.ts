import { Worker } from 'node:worker_threads';
import type { AuditWriter, OpenOps } from '../audit/log.ts';
import type { AuditRecord } from '../audit/record.ts';
import { BootgateError, type ErrorCode } from '../errors.ts';
import { auditRow } from './audit-repository.ts';
import type { FromAuditWriter, ToAuditWriter } from './audit-writer-protocol.ts';

const WORKER = new URL('./audit-writer-worker.ts', import.meta.url).href;
/**
 * The thread's bootstrap: registers tsx's loader (by absolute URL, whatever the working directory), then loads the
 * worker's TypeScript (Node 20 threads do not run `--import` hooks before their entry module).
 */
const BOOTSTRAP = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => m.register()).then(() => import(${JSON.stringify(WORKER)}))`;

/**
 * The main thread's end of the audit writer thread (audit-writer-worker.ts): `write` posts a batch of sealed
 * records and resolves once the thread has committed it durably (its connection runs synchronous=FULL). If the
 * thread dies, every batch in flight and every later one is rejected: nothing unconfirmed is acknowledged.
 */
export class AuditWriterThread implements AuditWriter {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: unknown) => void }>();
  private dead: Error | undefined;
  private closed: (() => void) | undefined;

  constructor(private readonly dbFile: string) {}

  /** Starts the thread; resolves when its connection is open (after the main connection ran the migrations). */
  async start(): Promise<void> {
    const worker = new Worker(BOOTSTRAP, { eval: true, workerData: { file: this.dbFile } });
    this.worker = worker;
    await new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', (batch: FromAuditWriter[]) => {
        for (const m of batch) {
          if (m.t === 'ready') {
            worker.off('error', reject);
            resolve();
          } else if (m.t === 'done') {
            const w = this.waiting.get(m.id);
            this.waiting.delete(m.id);
            if (!w) continue;
            if (m.error) w.reject(new BootgateError(m.error.code as ErrorCode, m.error.message));
            else w.resolve();
          } else this.closed?.();
        }
      });
    });
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => this.fail(new BootgateError('AUDIT_WRITER_EXIT', `audit writer thread exited (code ${code})`)));
  }

  write(records: AuditRecord[], ops?: OpenOps): Promise<void> {
    if (this.dead) return Promise.reject(this.dead);
    if (!this.worker) return Promise.reject(new BootgateError('AUDIT_WRITER_EXIT', 'audit writer thread not started'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker!.postMessage({ t: 'write', id, rows: records.map(auditRow), ...ops } satisfies ToAuditWriter);
    });
  }

  /** Commits what it has, closes its connection and ends the thread (call after AuditLog.stop()). */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker || this.dead) return;
    await new Promise<void>((resolve) => {
      this.closed = resolve;
      worker.postMessage({ t: 'close' } satisfies ToAuditWriter);
    });
    this.dead = new BootgateError('AUDIT_WRITER_EXIT', 'audit writer thread closed');
    await worker.terminate();
  }

  private fail(e: Error): void {
    this.dead ??= e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }
}
