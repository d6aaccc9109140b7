/**
 * bootgate's explicit proxy for the benchmark: every request is one audit record, appended to an NDJSON file
 * with group commit (records gathered while the previous fdatasync runs are written and synced together;
 * append() resolves only once its record is on disk). The identity/audit modules supply the real sink in the
 * appliance; this one stands in with the same durability contract so the cost is measured honestly.
 *
 *   node --import tsx bench/proxy/proxy-server.ts --port 18128 --audit-file FILE
 */
import { open, type FileHandle } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { createGatewayMetrics } from '../../src/gateway/metrics.ts';
import type { AuditRecordInput, AuditSink } from '../../src/gateway/ports.ts';
import { HttpProxy } from '../../src/gateway/proxy/http-proxy.ts';
import { createLogger } from '../../src/log/logger.ts';

class GroupCommitFileSink implements AuditSink {
  private pending: Array<{ line: string; done: () => void; fail: (e: unknown) => void }> = [];
  private flushing = false;
  batches = 0;
  constructor(private readonly fh: FileHandle) {}
  append(r: AuditRecordInput): Promise<void> {
    return new Promise((done, fail) => {
      this.pending.push({ line: `${JSON.stringify(r)}\n`, done, fail });
      if (!this.flushing) void this.flush();
    });
  }
  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.pending.length) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.fh.write(batch.map((b) => b.line).join(''));
        await this.fh.datasync();
        this.batches++;
        for (const b of batch) b.done();
      } catch (e) {
        for (const b of batch) b.fail(e);
      }
    }
    this.flushing = false;
  }
}

const { values } = parseArgs({ options: { port: { type: 'string', default: '18128' }, 'audit-file': { type: 'string' } } });
const fh = await open(values['audit-file']!, 'a');
const sink = process.env.BENCH_SINK === 'none' ? Object.assign({ append: async () => undefined }, { batches: 0 }) : new GroupCommitFileSink(fh);
const seat = { seat: 'bench', mac: '52:54:00:00:00:01', sessionId: 's-bench', user: { id: 'u-bench', name: 'Bench User', docType: 'id', docNumber: 'B-1' } };
const proxy = new HttpProxy({
  options: { mode: 'explicit', host: '127.0.0.1', port: Number(values.port), connectTimeoutMs: 5000, idleTimeoutMs: 60000 },
  seats: { lookupByIp: (ip) => (ip === '127.0.0.1' ? seat : undefined) },
  audit: sink,
  logger: createLogger('warn'),
  metrics: createGatewayMetrics(new Registry()),
});
await proxy.start();
process.stdout.write('proxy ready\n');
process.on('SIGTERM', () => {
  void proxy.stop().then(async () => {
    await fh.close();
    process.stderr.write(`fsync batches: ${sink.batches}\n`);
    process.exit(0);
  });
});
