/**
 * The reverse proxy of proxy mode alone, in one process, for profiling (`--cpu-prof`) and for the cost of one
 * proxied request without the rest of the appliance: bootgate's real PlatformRegistry (temporary SQLite file, four
 * instances heartbeated every second), the real `platformReverseRouter` and `HttpProxy` in reverse mode, a seat
 * lookup that finds no seat (the bench's terminals have no session, as in bench/platforms/run.sh). Run it inside
 * a namespace of your own with the instances (e.g. nginx) already listening; drive it with wrk; it prints the
 * process's CPU per request it relayed when it gets SIGINT or SIGTERM.
 *
 *   node --import tsx bench/platforms/reverse-inproc.ts --listen 127.0.0.1:8090 \
 *        --instances http://127.0.0.1:18101/,http://127.0.0.1:18102/ [--capacities 10,20]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { fixedHostsLookup } from '../../src/gateway/destination/lookup.ts';
import { DestinationPolicy } from '../../src/gateway/destination/policy.ts';
import { createGatewayMetrics } from '../../src/gateway/metrics.ts';
import { HttpProxy } from '../../src/gateway/proxy/http-proxy.ts';
import { platformsConfigSchema } from '../../src/platforms/config.ts';
import { createPlatformsMetrics } from '../../src/platforms/metrics.ts';
import { PlatformRegistry } from '../../src/platforms/registry.ts';
import { platformReverseRouter } from '../../src/platforms/reverse-route.ts';
import { openDatabase } from '../../src/store/database.ts';
import { PlatformRepository } from '../../src/store/platform-repository.ts';

const { values } = parseArgs({
  options: { listen: { type: 'string', default: '127.0.0.1:8090' }, instances: { type: 'string' }, capacities: { type: 'string' } },
});
if (!values.instances) throw new Error('--instances URL,URL,… is required');
const urls = values.instances.split(',');
const caps = values.capacities ? values.capacities.split(',').map(Number) : urls.map((_, i) => 10 * (i + 1));
const [host, port] = [values.listen.slice(0, values.listen.lastIndexOf(':')), Number(values.listen.slice(values.listen.lastIndexOf(':') + 1))];

const dir = mkdtempSync(join(tmpdir(), 'bgplat-reverse-'));
const db = openDatabase(join(dir, 'bootgate.db'));
const logger = pino({ level: 'silent' });
const registry = new Registry();
const config = platformsConfigSchema.parse({ classes: { game: { mode: 'proxy' } } });
const reg = new PlatformRegistry({
  repository: new PlatformRepository(db),
  config,
  now: Date.now,
  logger,
  metrics: createPlatformsMetrics(registry),
});
const tokens = urls.map((url, i) => {
  const r = reg.add({ class: 'game', name: String.fromCharCode(65 + i), url, capacity: caps[i]! });
  if (!r.ok) throw new Error(r.message);
  return { id: r.id, token: r.token, sessions: i + 1 };
});
const beat = (): void => {
  for (const t of tokens) reg.heartbeat(t.id, t.token, { activeSessions: t.sessions, cpu: 0.2, memory: 0.3 });
};
beat();
setInterval(beat, 1000).unref();
reg.start();

const metrics = createGatewayMetrics(registry);
const proxy = new HttpProxy({
  options: { mode: 'reverse', host, port, connectTimeoutMs: 5000, idleTimeoutMs: 60_000 },
  seats: { lookupByIp: () => undefined },
  audit: { append: async () => {} },
  logger,
  metrics,
  destinations: new DestinationPolicy({ options: { allow: [], lanSubnets: [] }, gatewayAddresses: () => [], lookup: fixedHostsLookup({}) }),
  reverse: platformReverseRouter({ registry: reg, config, seatAt: () => undefined }),
});
await proxy.start();
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
console.log(`reverse proxy on ${values.listen} → ${urls.join(' ')}`);

const done = async (): Promise<void> => {
  const c = process.cpuUsage(cpu0);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const n = (await metrics.requests.get()).values.reduce((s, v) => s + v.value, 0);
  const us = (c.user + c.system) / Math.max(1, n);
  console.log(
    `requests ${n}; process CPU ${((c.user + c.system) / 1e6).toFixed(2)} s over ${wall.toFixed(1)} s ` +
      `(user ${(c.user / 1e6).toFixed(2)}, system ${(c.system / 1e6).toFixed(2)}); ${us.toFixed(1)} µs per request`,
  );
  await proxy.stop();
  reg.stop();
  db.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
};
process.once('SIGINT', () => void done());
process.once('SIGTERM', () => void done());
