/**
 * Runs bootgate's DNS resolver alone (the appliance wiring is src/appliance.ts): for the integration tests and the
 * benchmark. Usage:
 *   node --import tsx test/helpers/dns-runner.ts --config '{"listen":["10.53.0.1"],"upstreams":["10.54.0.2"]}'
 *        [--local name=ip,ip ...] [--log warn] [--queries]
 * `--local` entries are served through the LocalAnswers port (as the appliance's would be). Prints "dns ready" on
 * stdout when listening; a line "metrics" on stdin prints the registry followed by "#END"; with --queries every
 * onQuery event is printed as "query {json}". SIGTERM/SIGINT stop it.
 */
import { parseArgs } from 'node:util';
import { destination } from 'pino';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/log/logger.ts';
import { dnsConfigSchema } from '../../src/dns/config.ts';
import { createDnsMetrics } from '../../src/dns/metrics.ts';
import { DnsServer } from '../../src/dns/server.ts';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: '{}' },
    local: { type: 'string', multiple: true, default: [] },
    log: { type: 'string', default: 'warn' },
    queries: { type: 'boolean', default: false },
  },
});
const config = Object.freeze(dnsConfigSchema.parse({ enabled: true, ...JSON.parse(values.config) }));
const local = new Map(values.local.map((kv) => [kv.split('=')[0]!.toLowerCase(), kv.split('=')[1]!.split(',')]));
const registry = new Registry();
const server = new DnsServer({
  config,
  logger: createLogger(values.log as 'warn', destination(2)),
  metrics: createDnsMetrics(registry),
  localAnswers: { lookup: (name) => (local.has(name) ? { addresses: local.get(name)! } : undefined) },
  onQuery: values.queries ? (e) => process.stdout.write(`query ${JSON.stringify(e)}\n`) : undefined,
});
await server.start();
process.stdout.write(`dns ready ${JSON.stringify(server.addresses)}\n`);
const shutdown = async (): Promise<void> => {
  await server.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
process.stdin.on('data', (d) => {
  if (d.toString().includes('metrics')) void registry.metrics().then((t) => process.stdout.write(`${t}\n#END\n`));
});
