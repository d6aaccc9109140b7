/**
 * Runs the gateway alone (nftables gate, portal, explicit proxy, HTTP and TLS interceptors), for tests and
 * benchmarks; the appliance wires the same classes to identity and audit.
 *
 *   node --import tsx src/gateway/standalone.ts --lan IF --lan-subnet CIDR --portal-url URL [--wan IF]
 *        [--explicit-port 3128] [--http-port 3129] [--tls-port 3130] [--portal-port 8081] [--table bootgate]
 *        [--allow CIDR ...] [--host-mismatch record|refuse] [--lan-tcp PORT ...] [--lan-udp PORT ...]
 *        [--host-map name=ip ...] [--no-nft] [--log-level warn]
 * The gate's input chain lets the LAN reach the proxy ports, the portal and the --lan-tcp/--lan-udp ports only.
 *
 * Sessions and audit live in memory and are driven over stdin/stdout, one JSON object per line:
 *   in:  {"op":"open","ip":"10.76.1.10","session":{seat,mac,user:{...},sessionId}} | {"op":"close","ip":…}
 *        | {"op":"counters"}
 *   out: "ok <op> <json>" after the gate has changed, "audit <json>" per record, "gateway ready" once listening.
 * SIGTERM/SIGINT stop it: listeners closed, the nftables table removed, ip_forward restored.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/log/logger.ts';
import { createGatewayMetrics } from '../../src/gateway/metrics.ts';
import { NftablesGate } from '../../src/gateway/nftables/gate.ts';
import { execNft } from '../../src/net/nft-runner.ts';
import type { AuditRecordInput, SeatSession } from '../../src/gateway/seats-and-audit.ts';
import { Portal } from '../../src/gateway/portal.ts';
import { HttpProxy } from '../../src/gateway/proxy/http-proxy.ts';
import { TlsInterceptor } from '../../src/gateway/proxy/tls-interceptor.ts';
import { fixedHostsLookup } from '../../src/gateway/destination/lookup.ts';
import { DestinationPolicy } from '../../src/gateway/destination/policy.ts';
import { refusedIpv4Networks } from '../../src/gateway/destination/ranges.ts';
import { hostAddresses } from '../../src/compose/gateway.ts';

const { values } = parseArgs({
  options: {
    lan: { type: 'string' },
    wan: { type: 'string' },
    'lan-subnet': { type: 'string' },
    'portal-url': { type: 'string' },
    listen: { type: 'string', default: '0.0.0.0' },
    'explicit-port': { type: 'string', default: '3128' },
    'http-port': { type: 'string', default: '3129' },
    'tls-port': { type: 'string', default: '3130' },
    'portal-port': { type: 'string', default: '8081' },
    allow: { type: 'string', multiple: true },
    'host-mismatch': { type: 'string', default: 'record' },
    'lan-tcp': { type: 'string', multiple: true },
    'lan-udp': { type: 'string', multiple: true },
    table: { type: 'string', default: 'bootgate' },
    'host-map': { type: 'string', multiple: true },
    'no-nft': { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'warn' },
  },
});

const logger = createLogger(values['log-level'] as 'warn');
const metrics = createGatewayMetrics(new Registry());
const sessions = new Map<string, SeatSession>();
const seats = { lookupByIp: (ip: string) => sessions.get(ip) };
const audit = {
  append: async (r: AuditRecordInput) => {
    process.stdout.write(`audit ${JSON.stringify(r)}\n`);
  },
};
const hostMap = new Map((values['host-map'] ?? []).map((s) => s.split('=') as [string, string]));
const destinations = new DestinationPolicy({
  options: { allow: values.allow ?? [], lanSubnets: values['lan-subnet'] ? [values['lan-subnet']] : [] },
  gatewayAddresses: hostAddresses,
  lookup: fixedHostsLookup(hostMap),
});
const hostMismatch = values['host-mismatch'] === 'refuse' ? 'refuse' : 'record';

const host = values.listen!;
const ports = {
  explicit: Number(values['explicit-port']),
  http: Number(values['http-port']),
  tls: Number(values['tls-port']),
  portal: Number(values['portal-port']),
};
const timeouts = { connectTimeoutMs: 10_000, idleTimeoutMs: 120_000 };
const common = { seats, audit, logger, metrics, destinations };
const explicit = new HttpProxy({ ...common, options: { mode: 'explicit', host, port: ports.explicit, ...timeouts } });
const transparent = new HttpProxy({ ...common, options: { mode: 'transparent', host, port: ports.http, hostMismatch, ...timeouts } });
const tlsInt = new TlsInterceptor({ ...common, options: { host, port: ports.tls, hostMismatch, helloTimeoutMs: 10_000, ...timeouts } });
const portal = new Portal({
  logger,
  options: {
    host,
    port: ports.portal,
    publicUrl: values['portal-url'] ?? `http://127.0.0.1:${ports.portal}/`,
    message: 'This seat has no open session. Please see the cashier.',
  },
});
const gate = values['no-nft']
  ? undefined
  : new NftablesGate({
      logger,
      nft: execNft(),
      currentSeats: () => [...sessions.keys()],
      options: {
        table: values.table!,
        lanInterface: values.lan!,
        wanInterface: values.wan,
        lanSubnet: values['lan-subnet']!,
        httpInterceptPort: ports.http,
        tlsInterceptPort: ports.tls,
        portalPort: ports.portal,
        manageForwarding: true,
        refusedDestinations: [...refusedIpv4Networks(), values['lan-subnet']!],
        allowedDestinations: (values.allow ?? []).filter((n) => !n.includes(':')),
        lanServices: {
          tcp: [ports.explicit, ports.http, ports.tls, ports.portal, ...(values['lan-tcp'] ?? []).map(Number)],
          udp: (values['lan-udp'] ?? []).map(Number),
        },
      },
    });

await portal.start();
await explicit.start();
await transparent.start();
await tlsInt.start();
await gate?.start();

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.all([explicit.stop(), transparent.stop(), tlsInt.stop(), portal.stop()]);
  await gate?.stop();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  void (async () => {
    const msg = JSON.parse(line) as { op: string; ip?: string; session?: SeatSession };
    if (msg.op === 'open' && msg.ip && msg.session) {
      sessions.set(msg.ip, msg.session);
      await gate?.allow(msg.ip);
    } else if (msg.op === 'close' && msg.ip) {
      sessions.delete(msg.ip);
      await gate?.deny(msg.ip);
    } else if (msg.op === 'counters') {
      const c = gate ? Object.fromEntries(await gate.counters()) : {};
      process.stdout.write(`ok counters ${JSON.stringify(c)}\n`);
      return;
    } else if (msg.op === 'verify') {
      await gate?.verify();
    }
    process.stdout.write(`ok ${msg.op} {}\n`);
  })().catch((err: unknown) => process.stdout.write(`fail ${JSON.stringify(String(err))}\n`));
});
rl.on('close', () => void stop());
process.stdout.write('gateway ready\n');
