/**
 * The appliance's management API (the same ManagementServer app and identity/audit services that `bootgate serve`
 * mounts) on 127.0.0.1, over an existing data directory, as a child process the audit export tests can measure:
 * `node --max-old-space-size=N --import tsx audit-api-process.ts <dataDir>`. Prints `listening <port>` when ready.
 *
 * GET /test/memory returns the peak of heapUsed + arrayBuffers (and rss) since the last `POST /test/memory/reset`,
 * sampled in-process every 100 ms right after a full garbage collection (run with --expose-gc): what the process
 * retains, not how much garbage the young generation happens to hold at that instant. A test reads the peak
 * during an export instead of hoping a scrape lands on it.
 */
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { ManagementServer } from '../../src/api/management.ts';
import { createIdentityServices } from '../../src/compose/identity.ts';
import { BootRepository } from '../../src/store/boot-repository.ts';
import { openDatabase } from '../../src/store/database.ts';
import { LeaseRepository } from '../../src/store/lease-repository.ts';
import { NO_TERMINALS } from '../../src/terminal/client-address.ts';

const dataDir = process.argv[2]!;
const logger = pino({ level: 'warn' });
const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'bootgate_' });
const db = openDatabase(join(dataDir, 'bootgate.db'));
const identity = createIdentityServices({ db, dataDir, logger, registry, terminals: NO_TERMINALS });
identity.start();
const mgmt = new ManagementServer({
  listen: '127.0.0.1:0',
  registry,
  leases: new LeaseRepository(db),
  boots: new BootRepository(db),
  logger,
  routers: [identity.router],
});
const app = mgmt.app();

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const sample = () => {
  gc();
  const m = process.memoryUsage();
  return { heapPlusBuffers: m.heapUsed + m.arrayBuffers, rss: m.rss };
};
let base = sample();
let peak = { ...base };
let samples = 0;
const timer = setInterval(() => {
  const s = sample();
  samples++;
  peak = { heapPlusBuffers: Math.max(peak.heapPlusBuffers, s.heapPlusBuffers), rss: Math.max(peak.rss, s.rss) };
}, 100);
app.post('/test/memory/reset', (_req, res) => {
  base = sample();
  peak = { ...base };
  samples = 0;
  res.json({ base });
});
app.get('/test/memory', (_req, res) => res.json({ base, peak, samples, now: sample() }));

const server = app.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`listening ${typeof a === 'object' && a ? a.port : 0}\n`);
});
process.on('SIGTERM', () => {
  clearInterval(timer);
  server.closeAllConnections();
  server.close(() => {
    identity.stop();
    db.close();
    process.exit(0);
  });
});
