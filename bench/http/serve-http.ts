/**
 * Standalone bootgate HTTP boot server for the benchmark (bench/http/run.sh) and manual checks:
 *   node --import tsx bench/http/serve-http.ts --root DIR [--listen 0.0.0.0] [--port 8080] [--workers N]
 *     [--chunk-bytes N] [--read-buffers N] [--small-file-bytes N]
 * Runs in the foreground until SIGTERM/SIGINT. Logs at warn level to stderr.
 */
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/log/logger.ts';
import { createHttpMetrics } from '../../src/http/metrics.ts';
import { ConfiguredBootPolicy } from '../../src/boot/policy.ts';
import { bootConfigSchema } from '../../src/boot/config.ts';
import { HttpBootServer } from '../../src/http/server.ts';
import { httpConfigSchema } from '../../src/http/config.ts';

const { values } = parseArgs({
  options: {
    root: { type: 'string' },
    listen: { type: 'string', default: '0.0.0.0' },
    port: { type: 'string', default: '8080' },
    'chunk-bytes': { type: 'string' },
    'small-file-bytes': { type: 'string' },
    'read-buffers': { type: 'string' },
    workers: { type: 'string' },
  },
});
if (!values.root) {
  process.stderr.write(
    'usage: serve-http.ts --root DIR [--listen ADDR] [--port N] [--chunk-bytes N] [--read-buffers N] [--small-file-bytes N] [--workers N]\n',
  );
  process.exit(2);
}

const logger = createLogger('warn');
const registry = new Registry();
const server = new HttpBootServer({
  config: {
    ...httpConfigSchema.parse({}),
    root: values.root,
    listen: values.listen!,
    port: Number(values.port),
    ...(values['chunk-bytes'] ? { readChunkBytes: Number(values['chunk-bytes']) } : {}),
    ...(values.workers ? { workers: Number(values.workers) } : {}),
    ...(values['read-buffers'] ? { readBuffers: Number(values['read-buffers']) } : {}),
    ...(values['small-file-bytes'] ? { smallFileBytes: Number(values['small-file-bytes']) } : {}),
    // every benchmark client shares one address (nginx has no limit_conn by default either)
    maxConnectionsPerClient: 0,
  },
  profiles: new ConfiguredBootPolicy({
    boot: bootConfigSchema.parse({ defaultProfile: 'local' }),
    profiles: { local: { exit: true } },
    reservations: [],
    serverAddress: 0,
    httpPort: 0,
  }),
  logger: logger.child({ module: 'http' }),
  metrics: createHttpMetrics(registry),
  iscsiPort: 3260,
});
await server.start();
process.stdout.write(`serve-http listening on ${values.listen}:${server.port} root=${values.root}\n`);
const stop = (): void => {
  void server.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
