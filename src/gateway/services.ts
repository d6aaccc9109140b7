import { spawn } from 'node:child_process';
import { lookup as dnsLookup } from 'node:dns';
import { networkInterfaces } from 'node:os';
import type { LookupFunction } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AuditLog } from '../audit/log.ts';
import type { SeatDirectory } from '../identity/seat-directory.ts';
import { createConntrackMetrics } from './conntrack/metrics.ts';
import { ConntrackRecorder } from './conntrack/recorder.ts';
import { createGatewayMetrics } from './metrics.ts';
import { NftablesGate } from './nftables/gate.ts';
import { execNft } from './nftables/nft-runner.ts';
import type { AuditRecordInput, AuditSink, SeatLookup } from './ports.ts';
import { Portal } from './portal.ts';
import { HttpProxy } from './proxy/http-proxy.ts';
import { TlsInterceptor } from './proxy/tls-interceptor.ts';

export interface GatewayConfig {
  table: string;
  manageForwarding: boolean;
  listen: string;
  explicitProxyPort: number;
  httpInterceptPort: number;
  tlsInterceptPort: number;
  tlsUpstreamPort: number;
  /** ports CONNECT may open (default [443]) */
  connectPorts?: readonly number[] | 'any';
  portal: { port: number; url: string; message: string };
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  tlsHelloTimeoutMs: number;
  /** name → address answers for upstream lookups (lab and tests; empty in production) */
  hosts: Record<string, string>;
  /** `flow` audit records for other forwarded traffic (UDP, ICMP, other TCP ports) from conntrack; default true */
  flowLog?: boolean;
}

export interface GatewayServicesDeps {
  config: Readonly<GatewayConfig>;
  lanInterface: string;
  wanInterface?: string | undefined;
  lanSubnet: string;
  directory: SeatDirectory;
  audit: AuditLog;
  /** the address a seat's MAC holds a lease for now */
  ipForMac: (mac: string) => string | undefined;
  logger: Logger;
  registry: Registry;
}

/** Every address of this host (all interfaces, any 127/8), re-read at most once per `ttlMs`. */
function localAddressTest(ttlMs = 5000): (ip: string) => boolean {
  let at = -Infinity;
  let addresses = new Set<string>();
  return (ip) => {
    if (ip.startsWith('127.')) return true;
    const now = Date.now();
    if (now - at > ttlMs) {
      addresses = new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address)));
      at = now;
    }
    return addresses.has(ip);
  };
}

/**
 * The logging gateway wired to identity and audit: the seat directory answers "who is at this address" (only
 * seats with an open session pass), every request or tunnel goes to the audit trail, and session open/close
 * updates the nftables seat set; with `flowLog`, other forwarded flows are recorded from conntrack events.
 * Start order: portal, proxies, the gate, then the flow recorder; stop in reverse.
 */
export function createGatewayServices(deps: GatewayServicesDeps): { start(): Promise<void>; stop(): Promise<void>; gate: NftablesGate } {
  const c = deps.config;
  const logger = deps.logger.child({ module: 'gateway' });
  const metrics = createGatewayMetrics(deps.registry);
  const seats: SeatLookup = {
    lookupByIp: (ip) => {
      const o = deps.directory.lookupByIp(ip);
      if (!o || !o.user || !o.session) return undefined;
      const user = { id: o.user.id, name: o.user.name, docType: o.user.docType, docNumber: o.user.docNumber, ...(o.user.docCountry ? { docCountry: o.user.docCountry } : {}) };
      return { seat: o.seat.name, mac: o.mac, user, sessionId: o.session.id };
    },
  };
  // the audit log stamps each record with its commit time (time never decreases along the chain)
  const withoutTime = ({ time: _time, ...fields }: AuditRecordInput) => fields;
  const audit: AuditSink = {
    append: async (r, openId) => void (await deps.audit.append(withoutTime(r), openId)),
    open: (r) => deps.audit.open(withoutTime(r)),
  };
  const lookup: LookupFunction = ((hostname: string, options: unknown, cb: (...a: unknown[]) => void) => {
    const fixed = c.hosts[hostname.toLowerCase()];
    if (!fixed) return dnsLookup(hostname, options as object, cb as never);
    if ((options as { all?: boolean }).all) process.nextTick(cb, null, [{ address: fixed, family: 4 }]);
    else process.nextTick(cb, null, fixed, 4);
  }) as LookupFunction;
  const timeouts = { connectTimeoutMs: c.connectTimeoutMs, idleTimeoutMs: c.idleTimeoutMs };
  const common = { seats, audit, logger, metrics, lookup };
  const explicit = new HttpProxy({ ...common, options: { mode: 'explicit', host: c.listen, port: c.explicitProxyPort, connectPorts: c.connectPorts ?? [443], ...timeouts } });
  const transparent = new HttpProxy({ ...common, options: { mode: 'transparent', host: c.listen, port: c.httpInterceptPort, ...timeouts } });
  const tls = new TlsInterceptor({
    ...common,
    options: { host: c.listen, port: c.tlsInterceptPort, upstreamPort: c.tlsUpstreamPort, helloTimeoutMs: c.tlsHelloTimeoutMs, ...timeouts },
  });
  const portal = new Portal({ logger, options: { host: c.listen, port: c.portal.port, publicUrl: c.portal.url, message: c.portal.message } });
  const occupiedIps = (): string[] =>
    deps.directory
      .occupied()
      .map((o) => deps.ipForMac(o.mac))
      .filter((ip): ip is string => ip !== undefined);
  const gate = new NftablesGate({
    logger,
    nft: execNft(),
    currentSeats: occupiedIps,
    options: {
      table: c.table,
      lanInterface: deps.lanInterface,
      wanInterface: deps.wanInterface,
      lanSubnet: deps.lanSubnet,
      httpInterceptPort: c.httpInterceptPort,
      tlsInterceptPort: c.tlsInterceptPort,
      portalPort: c.portal.port,
      manageForwarding: c.manageForwarding,
    },
  });
  const flows =
    (c.flowLog ?? true)
      ? new ConntrackRecorder({
          options: { lanSubnet: deps.lanSubnet },
          spawn: (command, args) => spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }),
          seats,
          audit,
          logger,
          metrics: createConntrackMetrics(deps.registry),
          isGatewayAddress: localAddressTest(),
        })
      : undefined;
  let unsubscribe: (() => void) | undefined;
  return {
    gate,
    async start() {
      await portal.start();
      await explicit.start();
      await transparent.start();
      await tls.start();
      await gate.start();
      await flows?.start();
      unsubscribe = deps.directory.onSessionChange((change) => {
        const ip = deps.ipForMac(change.seat.mac);
        if (!ip) return;
        const op = change.type === 'open' ? gate.allow(ip) : gate.deny(ip);
        // connections the seat already holds would outlive the session (conntrack keeps redirecting them)
        if (change.type === 'close') for (const p of [explicit, transparent, tls]) p.closeSeat(ip);
        op.catch((err: unknown) => logger.error({ err, ip, seat: change.seat.name }, 'gate update failed'));
      });
    },
    async stop() {
      unsubscribe?.();
      await flows?.stop();
      await Promise.all([explicit.stop(), transparent.stop(), tls.stop(), portal.stop()]);
      await gate.stop();
    },
  };
}
