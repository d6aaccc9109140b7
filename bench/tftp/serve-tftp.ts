/**
 * Runs bootgate's TFTP server alone (the appliance wiring lives in src/appliance.ts): for the benchmark and the
 * integration tests. Usage:
 *   node --import tsx bench/tftp/serve-tftp.ts --root DIR --ifname br0 [--port 69] [--set key=value ...]
 * `--set` takes tftp config keys, e.g. --set maxTransfers=100 --set rateLimit.burst=1000 --set dataPath=js.
 * Prints "tftp ready port=N" on stdout when listening; SIGTERM/SIGINT stop it.
 */
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/log/logger.ts';
import { interfaceSocketFactory } from '../../src/net/iface-socket.ts';
import { tftpConfigSchema } from '../../src/tftp/config.ts';
import { createTftpMetrics } from '../../src/tftp/metrics.ts';
import { TftpServer } from '../../src/tftp/server.ts';

const { values } = parseArgs({
  options: {
    root: { type: 'string' },
    ifname: { type: 'string', default: '' },
    port: { type: 'string', default: '69' },
    set: { type: 'string', multiple: true, default: [] },
    log: { type: 'string', default: 'warn' },
    metrics: { type: 'boolean', default: false },
  },
});
const raw: Record<string, unknown> = { root: values.root, port: Number(values.port) };
for (const kv of values.set) {
  const [k, v] = kv.split('=');
  const path = k!.split('.');
  let o = raw;
  for (const p of path.slice(0, -1)) o = (o[p] ??= {}) as Record<string, unknown>;
  o[path.at(-1)!] = v !== undefined && v !== '' && !Number.isNaN(Number(v)) ? Number(v) : v;
}
const config = Object.freeze(tftpConfigSchema.parse(raw));
const registry = new Registry();
const logger = createLogger(values.log as 'warn');
const server = new TftpServer({
  config,
  lanInterface: values.ifname,
  socketFactory: interfaceSocketFactory,
  logger,
  metrics: createTftpMetrics(registry),
  onFileServed: (ip, path, bytes) => {
    if (values.metrics) process.stdout.write(`served ${ip} ${path} ${bytes}\n`);
  },
});
server.start();
process.stdout.write(`tftp ready port=${server.port}\n`);
const shutdown = async (): Promise<void> => {
  server.stop();
  if (values.metrics) process.stdout.write(await registry.metrics());
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
// a line "metrics" on stdin prints the registry (tests read counters without an HTTP endpoint)
process.stdin.on('data', (d) => {
  if (d.toString().includes('metrics')) void registry.metrics().then((t) => process.stdout.write(`${t}\n#END\n`));
});
