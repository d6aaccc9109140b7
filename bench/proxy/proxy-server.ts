/**
 * bootgate's explicit proxy for the benchmark: every request is one audit record, committed with group commit
 * before the client sees its response complete (the proxy holds back the last chunk until the sink resolves).
 * The sink is chosen with BENCH_SINK:
 *   sqlite (default) — the appliance's own trail, wired as src/appliance.ts wires it: src/audit/log.ts assigns
 *                      the hash chain, the audit writer thread (src/store/audit-writer-thread.ts) commits each
 *                      group commit on its own connection (WAL + synchronous=FULL), on a fresh database in
 *                      <audit-file>.d/
 *   sqlite-main      — the same trail committed on the main thread (WAL + WalSync), as before the writer thread
 *   file             — NDJSON appended with group commit (records gathered while the previous fdatasync runs
 *                      are written and synced together)
 *   none             — resolves at once (not durable: isolates the proxy path's own cost)
 *
 *   node --import tsx bench/proxy/proxy-server.ts [--host 127.0.0.1] --port 18128 [--seat-ip 127.0.0.1] --audit-file FILE
 * On SIGTERM it prints "audit records durable: N" (records committed to the sink) to stderr.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { AuditSigner } from '../../src/audit/keys.ts';
import { AuditLog } from '../../src/audit/log.ts';
import { createAuditMetrics } from '../../src/audit/metrics.ts';
import { createGatewayMetrics } from '../../src/gateway/metrics.ts';
import type { AuditRecordInput, AuditSink } from '../../src/gateway/seats-and-audit.ts';
import { HttpProxy } from '../../src/gateway/proxy/http-proxy.ts';
import { DestinationPolicy } from '../../src/gateway/destination/policy.ts';
import { fixedHostsLookup } from '../../src/gateway/destination/lookup.ts';
import { createLogger } from '../../src/log/logger.ts';
import { AuditRepository } from '../../src/store/audit-repository.ts';
import { openDatabase } from '../../src/store/database.ts';
import { AuditWriterThread } from '../../src/store/audit-writer-thread.ts';
import { WalSync } from '../../src/store/wal-sync.ts';

interface BenchSink extends AuditSink {
  durable(): number;
  close(): Promise<void>;
}

class GroupCommitFileSink implements BenchSink {
  private pending: Array<{ line: string; done: () => void; fail: (e: unknown) => void }> = [];
  private flushing = false;
  private count = 0;
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
        this.count += batch.length;
        for (const b of batch) b.done();
      } catch (e) {
        for (const b of batch) b.fail(e);
      }
    }
    this.flushing = false;
  }
  durable(): number {
    return this.count;
  }
  async close(): Promise<void> {
    process.stderr.write(`fsync batches: ${this.batches}\n`);
    await this.fh.close();
  }
}

/** BENCH_LATENCY=1: each record's append → durable time, summarised at exit */
const latencies: number[] | undefined = process.env.BENCH_LATENCY ? [] : undefined;

/** The appliance's audit trail, wired as src/appliance.ts and src/gateway/services.ts wire it. */
async function sqliteSink(dir: string, thread: boolean): Promise<BenchSink> {
  const db = openDatabase(join(dir, 'bootgate.db'), { syncInCommit: false });
  const wal = new WalSync(join(dir, 'bootgate.db-wal'));
  const repo = new AuditRepository(db);
  const registry = new Registry();
  const metrics = createAuditMetrics(registry);
  const writer = thread ? new AuditWriterThread(join(dir, 'bootgate.db')) : undefined;
  await writer?.start();
  const log = new AuditLog({
    repo,
    signer: AuditSigner.loadOrCreate(join(dir, 'keys')),
    logger: createLogger('warn'),
    metrics,
    durable: () => wal.sync(),
    ...(writer ? { writer } : {}),
  });
  return {
    append: async (r) => {
      const { time: _time, ...fields } = r;
      const t0 = performance.now();
      await log.append(fields);
      latencies?.push(performance.now() - t0);
    },
    durable: () => repo.last()?.seq ?? 0,
    close: async () => {
      await log.stop();
      await writer?.close();
      await wal.close();
      const h = (await metrics.batches.get()).values;
      const count = h.find((v) => v.metricName === 'bootgate_audit_batch_records_count')?.value ?? 0;
      const sum = h.find((v) => v.metricName === 'bootgate_audit_batch_records_sum')?.value ?? 0;
      if (latencies?.length) {
        latencies.sort((x, y) => x - y);
        const q = (f: number) => latencies[Math.floor(f * (latencies.length - 1))]!.toFixed(2);
        process.stderr.write(`append → durable ms: p50 ${q(0.5)} p90 ${q(0.9)} p99 ${q(0.99)} max ${q(1)}\n`);
      }
      process.stderr.write(`group commits: ${count} (${count ? (sum / count).toFixed(1) : '-'} records each)\n`);
      db.close();
    },
  };
}

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '18128' },
    'audit-file': { type: 'string' },
    // the address the load generator connects from (the one seat with an open session)
    'seat-ip': { type: 'string', default: '127.0.0.1' },
    // networks the origin servers are on (private in the benchmark's namespaces): the destination policy allows them
    allow: { type: 'string', multiple: true, default: ['127.0.0.0/8', '10.0.0.0/8'] },
  },
});
const file = values['audit-file']!;
const kind = process.env.BENCH_SINK ?? 'sqlite';
let sink: BenchSink;
if (kind === 'sqlite' || kind === 'sqlite-main') sink = await sqliteSink(`${file}.d`, kind === 'sqlite');
else if (kind === 'file') sink = new GroupCommitFileSink(await open(file, 'a'));
else if (kind === 'none') {
  let n = 0;
  sink = { append: async () => void n++, durable: () => n, close: async () => undefined };
} else throw new Error(`BENCH_SINK=${kind}: expected sqlite, sqlite-main, file or none`);
const seat = {
  seat: 'bench',
  mac: '52:54:00:00:00:01',
  sessionId: 's-bench',
  user: { id: 'u-bench', name: 'Bench User', docType: 'id', docNumber: 'B-1' },
};
const proxy = new HttpProxy({
  options: { mode: 'explicit', host: values.host!, port: Number(values.port), connectTimeoutMs: 5000, idleTimeoutMs: 60000 },
  seats: { lookupByIp: (ip) => (ip === values['seat-ip'] ? seat : undefined) },
  audit: sink,
  logger: createLogger('warn'),
  metrics: createGatewayMetrics(new Registry()),
  // the policy of the appliance (its cost is part of the measurement), with the bench's origins allowed
  destinations: new DestinationPolicy({
    options: { allow: values.allow!, lanSubnets: [] },
    gatewayAddresses: () => [],
    lookup: fixedHostsLookup({}),
  }),
});
await proxy.start();
process.stdout.write(`proxy ready (audit sink: ${kind})\n`);
process.on('SIGTERM', () => {
  void proxy.stop().then(async () => {
    process.stderr.write(`audit records durable: ${sink.durable()}\n`);
    await sink.close();
    process.exit(0);
  });
});
