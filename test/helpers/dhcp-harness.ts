import { Registry } from 'prom-client';
import { parseConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { ConfiguredBootPolicy } from '../../src/boot/policy.ts';
import { decodeDhcp, type DhcpPacket } from '../../src/dhcp/codec.ts';
import { createDhcpMetrics } from '../../src/dhcp/metrics.ts';
import { DhcpServer } from '../../src/dhcp/server.ts';
import { createLogger } from '../../src/log/logger.ts';
import { openDatabase, type Db } from '../../src/store/database.ts';
import { LeaseRepository, type LeaseRecord } from '../../src/store/lease-repository.ts';
import { ipToInt } from '../../src/wire/ipv4.ts';
import { MemoryNetwork, tick, type Sent } from './memory-network.ts';

export const SERVER_ID = '10.9.0.1';

export function baseConfig(dhcp: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Readonly<Config> {
  return parseConfig({
    interfaces: { lan: 'lan0' },
    dhcp: {
      subnet: '10.9.0.0/24',
      range: { start: '10.9.0.100', end: '10.9.0.199' },
      router: '10.9.0.1',
      dns: ['10.9.0.1'],
      leaseSeconds: 3600,
      relaySubnets: [{ subnet: '10.20.0.0/24', range: { start: '10.20.0.50', end: '10.20.0.60' }, router: '10.20.0.1' }],
      relayAgents: ['10.20.0.1', '10.9.0.2'],
      ...dhcp,
    },
    http: { port: 8080 },
    ...extra,
  });
}

export interface Harness {
  server: DhcpServer;
  net: MemoryNetwork;
  db: Db;
  registry: Registry;
  now: { t: number };
  /** injects on port 67 (or 4011), lets the commit run, returns decoded replies */
  exchange(buf: Buffer, port?: number, from?: { address?: string; port?: number; linkSource?: string }): Promise<Array<Sent & { p: DhcpPacket }>>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  close(): void;
}

export function makeHarness(
  config = baseConfig(),
  opts: {
    db?: Db;
    probe?: (ip: string) => Promise<boolean>;
    durable?: () => Promise<void>;
    seats?: Set<string>;
    onLeaseEnded?: (l: LeaseRecord) => void;
  } = {},
): Harness {
  const net = new MemoryNetwork();
  const db = opts.db ?? openDatabase(':memory:');
  const registry = new Registry();
  const now = { t: 1_800_000_000_000 };
  const server = new DhcpServer({
    config: config.dhcp,
    lanInterface: 'lan0',
    serverId: ipToInt(SERVER_ID),
    socketFactory: net.factory,
    leases: new LeaseRepository(db),
    policy: new ConfiguredBootPolicy({
      boot: config.boot,
      profiles: config.profiles,
      reservations: config.dhcp.reservations,
      serverAddress: ipToInt(SERVER_ID),
      httpPort: config.http.port,
    }),
    logger: createLogger('silent'),
    metrics: createDhcpMetrics(registry),
    clock: () => now.t,
    ...(opts.probe ? { conflictProbe: (ip: string) => opts.probe!(ip) } : {}),
    ...(opts.durable ? { durable: opts.durable } : {}),
    ...(opts.onLeaseEnded ? { onLeaseEnded: opts.onLeaseEnded } : {}),
    ...(opts.seats ? { knownClients: { isKnown: (mac: string) => opts.seats!.has(mac), macs: () => opts.seats! } } : {}),
  });
  server.start();
  return {
    server,
    net,
    db,
    registry,
    now,
    async exchange(buf, port = 67, from = {}) {
      net.inject(port, buf, from);
      await tick();
      await tick();
      return net.take().map((s) => ({ ...s, p: decodeDhcp(s.buf) }));
    },
    async metric(name, labels = {}) {
      const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
      const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
      return Number(v?.value ?? 0);
    },
    close() {
      void server.stop(); // no durable hook here: it completes synchronously
      if (!opts.db) db.close();
    },
  };
}
