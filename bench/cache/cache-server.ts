/**
 * bootgate's edge cache for the benchmark: the real explicit HttpProxy with the real EdgeCache wired as the
 * appliance wires it (compose/cache.ts: origins dialled through the destination policy), every request one audit
 * record appended to an NDJSON file with group commit (fdatasync) before the client sees its response complete.
 * Every client address is seated (one session), so no cashier is needed.
 *
 *   node --import tsx bench/cache/cache-server.ts --host H --port P --dir DIR --allow CIDR --hosts name=ip,…
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { cacheConfigSchema } from '../../src/cache/config.ts';
import { EdgeCache } from '../../src/cache/edge-cache.ts';
import { createCacheMetrics } from '../../src/cache/metrics.ts';
import { HttpOrigin } from '../../src/cache/origin.ts';
import { policyDial } from '../../src/compose/cache.ts';
import { fixedHostsLookup } from '../../src/gateway/destination/lookup.ts';
import { DestinationPolicy } from '../../src/gateway/destination/policy.ts';
import { createGatewayMetrics } from '../../src/gateway/metrics.ts';
import { HttpProxy } from '../../src/gateway/proxy/http-proxy.ts';
import type { AuditRecordInput, SeatSession } from '../../src/gateway/seats-and-audit.ts';
import { createLogger } from '../../src/log/logger.ts';

const { values } = parseArgs({
  options: { host: { type: 'string' }, port: { type: 'string' }, dir: { type: 'string' }, allow: { type: 'string' }, hosts: { type: 'string' } },
});
const dir = values.dir!;
const hosts = Object.fromEntries(
  (values.hosts ?? '')
    .split(',')
    .filter(Boolean)
    .map((kv) => kv.split('=') as [string, string]),
);
const log = createLogger('warn');
const destinations = new DestinationPolicy({
  options: { allow: [values.allow!], lanSubnets: [] },
  gatewayAddresses: () => [],
  lookup: fixedHostsLookup(hosts),
});
const cache = new EdgeCache({
  // BENCH_VERIFY=0: slices are not re-hashed on every read (verifyOnRead off), to see what the check costs
  config: cacheConfigSchema.parse({ enabled: true, maxBytes: 40 * 1024 ** 3, builtinDomains: false, verifyOnRead: process.env.BENCH_VERIFY !== '0' }),
  directory: join(dir, 'cache'),
  origin: new HttpOrigin(policyDial(destinations, 5000)),
  clock: { now: Date.now, timers: { set: (fn, ms) => setTimeout(fn, ms), clear: (t) => clearTimeout(t as NodeJS.Timeout) } },
  metrics: createCacheMetrics(new Registry()),
  log,
  domains: [{ service: 'bench', names: ['*.cdn.test'] }],
});

const fh = await open(join(dir, 'audit.ndjson'), 'a');
let pending: Array<{ line: string; done: () => void }> = [];
let flushing = false;
let durable = 0;
async function flush(): Promise<void> {
  flushing = true;
  while (pending.length) {
    const batch = pending;
    pending = [];
    await fh.write(batch.map((b) => b.line).join(''));
    await fh.datasync();
    durable += batch.length;
    for (const b of batch) b.done();
  }
  flushing = false;
}
const sink = {
  append: (r: AuditRecordInput): Promise<void> =>
    new Promise((done) => {
      pending.push({ line: `${JSON.stringify(r)}\n`, done });
      if (!flushing) void flush();
    }),
};
const seat: SeatSession = {
  seat: 'B1',
  mac: '52:54:00:00:00:01',
  sessionId: 's-bench',
  user: { id: 'u-bench', name: 'Bench', docType: 'passport', docNumber: 'B0000000' },
};
const proxy = new HttpProxy({
  seats: { lookupByIp: () => seat },
  audit: sink,
  logger: log,
  metrics: createGatewayMetrics(new Registry()),
  destinations,
  cache,
  options: { mode: 'explicit', host: values.host!, port: Number(values.port), connectTimeoutMs: 5000, idleTimeoutMs: 120_000 },
});
await cache.start();
await proxy.start();
process.stdout.write('cache ready\n');
process.on('SIGTERM', () => {
  void (async () => {
    await proxy.stop();
    await cache.stop();
    process.stderr.write(`audit records durable: ${durable}\n${JSON.stringify(cache.statsSnapshot().services)}\n`);
    process.exit(0);
  })();
});
