import { spawn } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AuditLog } from '../audit/log.ts';
import type { SeatDirectory } from '../identity/seat-directory.ts';
import { createConntrackMetrics } from '../gateway/conntrack/metrics.ts';
import { fixedHostsLookup } from '../gateway/destination/lookup.ts';
import { DestinationPolicy } from '../gateway/destination/policy.ts';
import { refusedIpv4Networks, specialRange } from '../gateway/destination/ranges.ts';
import { parseIpLiteral } from '../wire/ip-address.ts';
import { ConntrackRecorder } from '../gateway/conntrack/recorder.ts';
import type { GatewayMetrics } from '../gateway/metrics.ts';
import { NftablesGate } from '../gateway/nftables/gate.ts';
import { execNft } from '../net/nft-runner.ts';
import { auditSink, seatLookup } from './seats.ts';
import { Portal } from '../gateway/portal.ts';
import { HttpProxy } from '../gateway/proxy/http-proxy.ts';
import { TlsInterceptor } from '../gateway/proxy/tls-interceptor.ts';
import type { ProxyCache } from '../gateway/proxy/cache-delivery.ts';
import type { GatewayConfig } from '../gateway/config.ts';
import type { Mac } from '../terminal/mac.ts';

export interface GatewayServicesDeps {
  config: Readonly<GatewayConfig>;
  lanInterface: string;
  wanInterface?: string | undefined;
  lanSubnet: string;
  /** every subnet terminals are on (the LAN's and relayed ones): not a destination through the gateway */
  lanSubnets: readonly string[];
  /** the gateway's own ports terminals may reach (boot, proxy, DNS …); the ruleset refuses the LAN all others */
  lanServices: { tcp: readonly number[]; udp: readonly number[] };
  directory: SeatDirectory;
  audit: AuditLog;
  /** the address a seat's MAC holds a lease for now */
  ipForMac: (mac: Mac) => string | undefined;
  logger: Logger;
  registry: Registry;
  /** shared with the platforms' reverse proxy (one set of collectors per registry) */
  metrics: GatewayMetrics;
  /** IPv4 addresses of the registered service platform instances (allowed for seats in the forward chain) */
  platformHosts?: () => readonly string[];
  /** the destination policy (createDestinationPolicy), shared with the edge cache's origin fetches */
  destinations: DestinationPolicy;
  /** the edge cache the explicit and transparent proxies answer cache domains from (compose/cache.ts) */
  cache?: ProxyCache | undefined;
}

/** One destination policy for every path out (proxies, the edge cache; the ruleset renders the same ranges for forwarding). */
export function createDestinationPolicy(c: Pick<GatewayConfig, 'allowDestinations' | 'hosts'>, lanSubnets: readonly string[]): DestinationPolicy {
  return new DestinationPolicy({
    options: { allow: c.allowDestinations, lanSubnets },
    gatewayAddresses: hostAddresses,
    lookup: fixedHostsLookup(c.hosts),
  });
}

/** Every address of this host, all interfaces. */
export function hostAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address));
}

/**
 * Wiring (composition root, with appliance.ts): the logging gateway wired to identity and audit: the seat directory answers "who is at this address" (only
 * seats with an open session pass), every request or tunnel goes to the audit trail, and session open/close
 * updates the nftables seat set; with `flowLog`, other forwarded flows are recorded from conntrack events.
 * Start order: portal, proxies, the gate, then the flow recorder; stop in reverse.
 */
export function createGatewayServices(deps: GatewayServicesDeps): {
  start(): Promise<void>;
  stop(): Promise<void>;
  gate: NftablesGate;
  refreshAllowedDestinations(): Promise<void>;
} {
  const c = deps.config;
  // each gateway server names itself (`module: gateway.<part>`); a second `module` key here would duplicate it
  const logger = deps.logger;
  const metrics = deps.metrics;
  const seats = seatLookup(deps.directory);
  const audit = auditSink(deps.audit);
  const destinations = deps.destinations;
  const timeouts = { connectTimeoutMs: c.connectTimeoutMs, idleTimeoutMs: c.idleTimeoutMs };
  const common = { seats, audit, logger, metrics, destinations };
  const explicit = new HttpProxy({
    ...common,
    cache: deps.cache,
    options: { mode: 'explicit', host: c.listen, port: c.explicitProxyPort, connectPorts: c.connectPorts, ...timeouts },
  });
  const transparent = new HttpProxy({
    ...common,
    cache: deps.cache,
    options: { mode: 'transparent', host: c.listen, port: c.httpInterceptPort, hostMismatch: c.hostMismatch, ...timeouts },
  });
  const tls = new TlsInterceptor({
    ...common,
    options: { host: c.listen, port: c.tlsInterceptPort, hostMismatch: c.hostMismatch, helloTimeoutMs: c.tlsHelloTimeoutMs, ...timeouts },
  });
  const portal = new Portal({ logger, options: { host: c.listen, port: c.portal.port, publicUrl: c.portal.url, message: c.portal.message } });
  const occupiedIps = (): string[] =>
    deps.directory
      .occupied()
      .map((o) => deps.ipForMac(o.mac))
      .filter((ip): ip is string => ip !== undefined);
  // the configured IPv4 networks and the registered platform instances' addresses, as they are now
  const allowedDestinations = (): string[] => [
    ...c.allowDestinations.filter((n) => !n.includes(':')),
    ...(deps.platformHosts?.() ?? []).map((ip) => `${ip}/32`),
  ];
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
      refusedDestinations: [...refusedIpv4Networks(), ...deps.lanSubnets],
      // registered platform instances are reachable by seats in 302 mode (the terminal dials them itself), read at start
      allowedDestinations: allowedDestinations(),
      lanServices: {
        tcp: [...deps.lanServices.tcp, c.explicitProxyPort, c.httpInterceptPort, c.tlsInterceptPort, c.portal.port],
        udp: deps.lanServices.udp,
      },
    },
  });
  const flows = c.flowLog
    ? new ConntrackRecorder({
        options: { lanSubnet: deps.lanSubnet },
        spawn: (command, args) => spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }),
        seats,
        audit,
        logger,
        metrics: createConntrackMetrics(deps.registry),
        isGatewayAddress: (ip) => {
          const a = parseIpLiteral(ip);
          return a !== undefined && (specialRange(a) === 'loopback' || destinations.isGatewayAddress(a));
        },
      })
    : undefined;
  let unsubscribe: (() => void) | undefined;
  return {
    gate,
    /** a platform instance was registered or removed: the allow-listed destinations follow the registry */
    refreshAllowedDestinations: () => gate.setAllowedDestinations(allowedDestinations()),
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
        // a pause shuts the gate as a close does (the session is kept: resume opens it again)
        const opens = change.type === 'open' || change.type === 'resume';
        const op = opens ? gate.allow(ip) : gate.deny(ip);
        // connections the seat already holds would outlive the session (conntrack keeps redirecting them)
        if (!opens) for (const p of [explicit, transparent, tls]) p.closeSeat(ip);
        op.catch((err: unknown) => logger.error({ module: 'gateway', err, ip, seat: change.seat.name }, 'gate update failed'));
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
