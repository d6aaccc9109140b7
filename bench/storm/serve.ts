/**
 * bootgate's HTTP boot server for the boot-storm bench (bench/storm/run.sh): every terminal gets a kernel
 * profile (vmlinuz + initrd.gz from --root); with --admission N, admission control (boot/admission.ts) with a
 * bound of N, released on /booted.
 *   node --import tsx bench/storm/serve.ts --root DIR [--listen 0.0.0.0] [--port 8080] [--admission N] [--poll S]
 */
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/log/logger.ts';
import { createHttpMetrics } from '../../src/http/metrics.ts';
import { ConfiguredBootPolicy } from '../../src/boot/policy.ts';
import { admissionConfigSchema, bootConfigSchema } from '../../src/boot/config.ts';
import { HttpBootServer } from '../../src/http/server.ts';
import { httpConfigSchema } from '../../src/http/config.ts';
import { AdmissionQueue, createAdmissionMetrics } from '../../src/boot/admission.ts';

const { values } = parseArgs({
  options: {
    root: { type: 'string' },
    listen: { type: 'string', default: '0.0.0.0' },
    port: { type: 'string', default: '8080' },
    admission: { type: 'string' },
    poll: { type: 'string', default: '1' },
  },
});
if (!values.root) {
  process.stderr.write('usage: serve.ts --root DIR [--listen ADDR] [--port N] [--admission N] [--poll S]\n');
  process.exit(2);
}
const logger = createLogger('warn');
const registry = new Registry();
const admission = values.admission
  ? new AdmissionQueue({
      config: admissionConfigSchema.parse({ enabled: true, maxInHeavyPhase: Number(values.admission), pollSeconds: Number(values.poll) }),
      metrics: createAdmissionMetrics(registry),
    })
  : undefined;
const server = new HttpBootServer({
  config: { ...httpConfigSchema.parse({}), root: values.root, listen: values.listen!, port: Number(values.port), maxConnectionsPerClient: 0 },
  profiles: new ConfiguredBootPolicy({
    boot: bootConfigSchema.parse({ defaultProfile: 'thin' }),
    profiles: { thin: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'console=ttyS0' } },
    reservations: [],
    serverAddress: 0,
    httpPort: 0,
  }),
  logger: logger.child({ module: 'http' }),
  metrics: createHttpMetrics(registry),
  iscsiPort: 3260,
  ...(admission ? { admission } : {}),
  onBootEvent: (e) => {
    if (e.kind === 'booted' && e.mac) admission?.release(e.mac, 'booted');
  },
});
await server.start();
const timer = admission ? setInterval(() => admission.expire(), 1000) : undefined;
process.stdout.write(`storm serve listening on ${values.listen}:${server.port} admission=${values.admission ?? 'off'}\n`);
const stop = (): void => {
  clearInterval(timer);
  void server.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
