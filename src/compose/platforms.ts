import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type RequestHandler, type Router } from 'express';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { apiErrorHandler } from '../api/errors.ts';
import { BootgateError } from '../errors.ts';
import type { IdentityServices } from './identity.ts';
import { ScalingAdvisor } from '../platforms/advisor-service.ts';
import type { PlatformsConfig } from '../platforms/config.ts';
import {
  createHeartbeatRouter,
  createPlatformAdminRouter,
  createSvcHandler,
  heartbeatReply,
  svcReply,
  type SvcRoutesDeps,
} from '../platforms/http-routes.ts';
import type { TerminalRoute } from '../http/server.ts';
import { clientAddress } from '../terminal/client-address.ts';
import { createPlatformsMetrics } from '../platforms/metrics.ts';
import { PlatformRegistry } from '../platforms/registry.ts';
import type { SessionChange } from '../identity/service.ts';
import { SleepService } from '../platforms/sleep-service.ts';
import { WakeScheduler } from '../platforms/wake-scheduler.ts';
import { createWakeRunsRouter } from '../platforms/wake-routes.ts';
import { WolSender } from '../platforms/wol-sender.ts';
import { parseSecureOn } from '../platforms/wol.ts';
import { BootRepository } from '../store/boot-repository.ts';
import { PlatformRepository } from '../store/platform-repository.ts';
import { fixedHostsLookup } from '../gateway/destination/lookup.ts';
import { DestinationPolicy } from '../gateway/destination/policy.ts';
import type { GatewayMetrics } from '../gateway/metrics.ts';
import { HttpProxy } from '../gateway/proxy/http-proxy.ts';
import { platformReverseRouter } from '../platforms/reverse-route.ts';
import { auditSink, seatLookup } from './seats.ts';
import { admitted } from '../identity/seat-directory.ts';
import { tryParseMac, type Mac } from '../terminal/mac.ts';

export interface PlatformServicesDeps {
  config: Readonly<PlatformsConfig>;
  db: Database.Database;
  identity: IdentityServices;
  /** the LAN's directed broadcast and the LAN interface's own address (Wake-on-LAN leaves there); read at start */
  lan: () => { broadcast: string; address: string };
  logger: Logger;
  registry: Registry;
  /** a reverse proxy for the classes in proxy mode (gateway/proxy in reverse mode), on `listen`:platforms.proxyPort */
  reverseProxy?: { listen: string; metrics: GatewayMetrics } | undefined;
  /** an instance was registered or removed through the API (awaited before the reply) */
  onInstancesChanged?: () => Promise<void>;
  /** with boot admission on: resolves when a terminal may be woken now (boot/wake-pacing.ts) */
  wakePace?: (mac: string) => Promise<void>;
  now?: () => number;
}

export interface PlatformServices {
  registry: PlatformRegistry;
  advisor: ScalingAdvisor;
  wol: WolSender;
  wakeScheduler: WakeScheduler;
  sleep: SleepService;
  /** for the HTTP boot port: /svc/<class>/… and the heartbeat (handled here, or relayed here by a worker) */
  terminalRoutes: readonly TerminalRoute[];
  /** for the management listener under /api/v1: the heartbeat too, the operators' routes, /wake */
  managementRouter: Router;
  /** the operators' routes again with other guards (the browser's /ui/api/v1: the UI session's role) */
  adminRouter(guards: { read: RequestHandler; write: RequestHandler }): Router;
  /** POST /wake again with another guard (the terminal panel's Wake button through /ui/api/v1) */
  wakeRouter(guard: RequestHandler): Router;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Wiring (composition root, with appliance.ts): the service platforms — registry on the appliance database, the
 * scaling advisor sampling it, the Wake-on-LAN sender on the LAN — and their routes. A seat with an open session
 * keeps its instance for the session (affinity, released when the session closes) and each of its redirects is an
 * audit record.
 */
export function createPlatformServices(deps: PlatformServicesDeps): PlatformServices {
  const now = deps.now ?? Date.now;
  const metrics = createPlatformsMetrics(deps.registry);
  const logger = deps.logger.child({ module: 'platforms' });
  const registry = new PlatformRegistry({
    repository: new PlatformRepository(deps.db),
    config: deps.config,
    now,
    logger,
    metrics,
    onDeregistered: () => void deps.onInstancesChanged?.(),
  });
  const advisor = new ScalingAdvisor({ source: registry, config: deps.config, now, logger: deps.logger, metrics });
  const password = deps.config.wol.password === undefined ? undefined : parseSecureOn(deps.config.wol.password);
  const wol = new WolSender({
    lan: deps.lan,
    port: deps.config.wol.port,
    ...(password ? { password } : {}),
    ...(deps.wakePace ? { pace: deps.wakePace } : {}),
    metrics,
  });
  const { identity } = deps;

  const sessionAt = (ip: string) => {
    const o = identity.directory.lookupByIp(ip);
    // a paused seat is sent nowhere (its instance stays assigned: only a close releases it)
    return admitted(o) ? { seat: o.seat.name, sessionId: o.session.id } : undefined;
  };
  const svcDeps: SvcRoutesDeps = {
    registry,
    config: deps.config,
    proxyPort: deps.config.proxyPort,
    sessionAt,
    recordRedirect: async (seat, r) => {
      const o = identity.directory.lookupByIp(r.ip);
      const u = o?.user;
      const target = new URL(r.location);
      await identity.audit.append({
        kind: 'redirect',
        seat: seat.seat,
        ip: r.ip,
        mac: o?.mac ?? null,
        sessionId: seat.sessionId,
        userId: u?.id ?? null,
        userName: u?.name ?? null,
        docType: u?.docType ?? null,
        docNumber: u?.docNumber ?? null,
        docCountry: u?.docCountry ?? null,
        method: r.method,
        host: target.hostname,
        port: Number(target.port || (target.protocol === 'https:' ? 443 : 80)),
        url: r.location,
        status: r.status,
        verdict: 'allowed',
        detail: JSON.stringify({ class: r.class, instance: r.instance.id, name: r.instance.name, reason: r.reason }),
      });
    },
    logger,
  };
  const svc = createSvcHandler(svcDeps);

  const heartbeats = express();
  heartbeats.disable('x-powered-by');
  heartbeats.use('/api/v1', createHeartbeatRouter(registry, logger));
  // with http.workers > 0 a worker relays these here, where the registry is (RelayedRequest → the same answers)
  const terminalRoutes: TerminalRoute[] = [
    {
      prefix: '/svc/',
      handle: svc,
      relay: (r) => svcReply(svcDeps, { method: r.method, target: r.url, ip: r.clientIp, localAddress: clientAddress(r.localAddress) }),
    },
    {
      prefix: '/api/v1/platforms/',
      handle: (req: IncomingMessage, res: ServerResponse) => void heartbeats(req, res),
      relay: (r) => heartbeatReply(registry, r),
    },
  ];

  const managementRouter = express.Router();
  managementRouter.use(createHeartbeatRouter(registry, logger));
  const adminRouter = (guards: { read: RequestHandler; write: RequestHandler }): Router =>
    createPlatformAdminRouter({
      registry,
      guards,
      advice: () => ({ recommendations: advisor.recommendations(), events: advisor.events() }),
      recordAction: (actor, action, target, detail) => identity.identity.recordAction(actor, action, target, detail),
      ...(deps.onInstancesChanged ? { onChanged: deps.onInstancesChanged } : {}),
      logger,
    });
  managementRouter.use(adminRouter({ read: identity.guard(['admin', 'cashier', 'auditor']), write: identity.guard(['admin']) }));
  managementRouter.use(createWakeRouter(deps, wol, identity.guard(['admin', 'cashier']), logger));

  const seats = seatLookup(identity.directory);
  const reverse = deps.reverseProxy
    ? new HttpProxy({
        options: { mode: 'reverse', host: deps.reverseProxy.listen, port: deps.config.proxyPort, connectTimeoutMs: 5000, idleTimeoutMs: 60_000 },
        seats,
        audit: auditSink(identity.audit),
        logger: deps.logger,
        metrics: deps.reverseProxy.metrics,
        // never consulted: every target the router returns is an instance's own address (registered = allowed)
        destinations: new DestinationPolicy({ options: { allow: [], lanSubnets: [] }, gatewayAddresses: () => [], lookup: fixedHostsLookup({}) }),
        reverse: platformReverseRouter({ registry, config: deps.config, seatAt: (ip) => seats.lookupByIp(ip) }),
      })
    : undefined;
  // the scheduled wake-up (wol.schedules) and, on the API, which terminals then came up (their boot timelines)
  const seatMacs = (target: string): Mac[] =>
    identity.identityRepo
      .seats()
      .filter((s) => target === 'all' || s.group === target)
      .map((s) => s.mac);
  const wakeScheduler = new WakeScheduler({ schedules: deps.config.wol.schedules, targets: seatMacs, sender: wol, now, logger, metrics });
  const boots = new BootRepository(deps.db);
  managementRouter.use(
    createWakeRunsRouter({
      scheduler: wakeScheduler,
      bootSince: (mac, since) => {
        const b = boots.latestBoot(mac);
        return b && b.startedAt >= since ? b : undefined;
      },
      guard: identity.guard(['admin', 'cashier', 'auditor']),
      logger,
    }),
  );

  // idle instances to sleep, and woken (Wake-on-LAN or hook) when the advice wants them back
  const sleep = new SleepService({ registry, advice: advisor, waker: wol, config: deps.config, now, logger, metrics });

  let unsubscribe: (() => void) | undefined;
  return {
    registry,
    advisor,
    wol,
    wakeScheduler,
    sleep,
    terminalRoutes,
    managementRouter,
    adminRouter,
    wakeRouter: (guard) => createWakeRouter(deps, wol, guard, logger),
    start: async () => {
      unsubscribe = identity.directory.onSessionChange(sessionAffinity(registry));
      registry.start();
      advisor.start();
      await wol.start();
      await reverse?.start();
      wakeScheduler.start();
      sleep.start();
    },
    stop: async () => {
      unsubscribe?.();
      unsubscribe = undefined;
      await reverse?.stop();
      wakeScheduler.stop();
      await sleep.stop();
      wol.stop();
      await advisor.stop();
      registry.stop();
    },
  };
}

/** `POST /api/v1/wake` `{ mac } | { group } | { all: true }`, optional `spreadMs`: magic packets to seats' terminals. */
/**
 * A seat's instance is kept for its session only: its close releases the affinity; a pause does not (the seat
 * comes back to the same instance at resume).
 */
export function sessionAffinity(registry: Pick<PlatformRegistry, 'releaseSession'>): (change: SessionChange) => void {
  return (change) => {
    if (change.type === 'close') registry.releaseSession(change.session.id);
  };
}

function createWakeRouter(deps: PlatformServicesDeps, wol: WolSender, guard: RequestHandler, logger: Logger): Router {
  const r = express.Router();
  r.post('/wake', guard, express.json({ limit: '16kb' }), async (req, res) => {
    const body = (req.body ?? {}) as { mac?: unknown; group?: unknown; all?: unknown; spreadMs?: unknown };
    const seats = deps.identity.identityRepo.seats();
    let macs: Mac[];
    if (typeof body.mac === 'string') {
      const mac = tryParseMac(body.mac);
      if (!mac) throw new BootgateError('BAD_MAC', `not a MAC: ${body.mac}`);
      macs = [mac];
    } else if (typeof body.group === 'string') {
      macs = seats.filter((s) => s.group === body.group).map((s) => s.mac);
      if (macs.length === 0) throw new BootgateError('SEAT_GROUP_NOT_FOUND', `no seats in group ${body.group}`);
    } else if (body.all === true) macs = seats.map((s) => s.mac);
    else throw new BootgateError('VALIDATION', 'body: one of mac (a MAC), group (a seat group) or all: true');
    const spreadMs = body.spreadMs === undefined ? 0 : Number(body.spreadMs);
    if (!Number.isInteger(spreadMs) || spreadMs < 0 || spreadMs > 3_600_000)
      throw new BootgateError('VALIDATION', 'spreadMs: an integer number of milliseconds, 0 to 3600000');
    await deps.identity.identity.recordAction(String(res.locals.actor ?? 'unknown'), 'wake', macs.join(','), { spreadMs });
    const result = await wol.wakeAll(macs, spreadMs);
    res.json({ ...result, macs });
  });
  r.use(apiErrorHandler(logger));
  return r;
}
