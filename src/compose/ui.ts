import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import express, { type RequestHandler } from 'express';
import type { Logger } from 'pino';
import { createIdentityApi } from '../api/identity-api.ts';
import { createStaffApi } from '../api/staff-api.ts';
import type { Db } from '../store/database.ts';
import type { BootRepository } from '../store/boot-repository.ts';
import type { LeaseRepository } from '../store/lease-repository.ts';
import { StaffRepository } from '../store/staff-repository.ts';
import type { UiConfig } from '../ui/config.ts';
import type { UiEventBus } from '../ui/events.ts';
import { sessionRoles } from '../ui/http-guards.ts';
import { LoginLimiter } from '../ui/rate-limit.ts';
import { sessionEvent } from '../ui/room.ts';
import { queueView, type OverlayWatch } from '../ui/room-live.ts';
import type { AdmissionSnapshot } from '../boot/admission.ts';
import { createUiRouter } from '../ui/router.ts';
import { SessionStore, type UiSession } from '../ui/sessions.ts';
import { SystemMonitor, type SystemMonitorDeps } from '../ui/system.ts';
import { StaffAccounts } from '../ui/staff.ts';
import { EventStreams } from '../ui/stream.ts';
import type { StaffRole } from '../ui/wire.ts';
import type { IdentityServices } from './identity.ts';

export interface UiServicesDeps {
  config: UiConfig;
  db: Db;
  identity: IdentityServices;
  leases: LeaseRepository;
  boots: BootRepository;
  /** the appliance's event bus; boot and lease events are published into it where they happen (appliance.ts) */
  bus: UiEventBus;
  logger: Logger;
  /**
   * More /api/v1 routers for the browser (images and overlays, platforms), mounted at /ui/api/v1 before the
   * identity routes; each is built with this guard, which checks the UI session's role (403 FORBIDDEN otherwise)
   * and names the session's operator as the actor of the routes' audit records.
   */
  v1Routers?: (guard: (roles: readonly StaffRole[]) => RequestHandler) => express.Router[];
  /** the system screen's sources (registry, services, configuration, data directory, audit backlog) */
  system?: Omit<SystemMonitorDeps, 'sampleMs' | 'keep' | 'clock'>;
  /** the room tiles' overlay use (sampled; absent without images); started and stopped with the UI */
  overlayWatch?: OverlayWatch;
  /** the boot queue (absent when boot.admission is off); its changes come on the bus as `queue` events */
  queue?: () => AdmissionSnapshot;
  /** default: build/ui of this checkout (scripts/build-ui.sh) */
  staticDir?: string;
  clock?: () => number;
}

export interface UiServices {
  staff: StaffAccounts;
  /** mount under /api/v1 (before the identity router): staff accounts, admin only */
  staffApi: express.Router;
  /** mount under /ui on the management listener */
  router: express.Router;
  start(): void;
  stop(): void;
}

/** The browser's /api/v1: the extra routers first, then the identity and audit routes. */
function v1Router(extra: express.Router[], identity: express.Router): express.Router {
  const r = express.Router();
  for (const x of extra) r.use(x);
  r.use(identity);
  return r;
}

export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../build/ui/', import.meta.url));

/**
 * Wiring (composition root, with appliance.ts): staff accounts on the identity module's operators, browser
 * sessions in the appliance database, login limiting, the event streams and the /ui router; session changes from
 * the cashier service go onto the bus here.
 */
export function createUiServices(deps: UiServicesDeps): UiServices {
  const log = deps.logger.child({ module: 'ui' });
  const { config, identity } = deps;
  const repo = new StaffRepository(deps.db);
  const sessions = new SessionStore({
    repo,
    lifetimeMs: config.sessionLifetimeMinutes * 60_000,
    idleMs: config.sessionIdleMinutes * 60_000,
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
  const windowMs = config.loginWindowSeconds * 1000;
  const limiter = new LoginLimiter(
    { user: { maxFailures: config.loginFailuresPerUser, windowMs }, address: { maxFailures: config.loginFailuresPerAddress, windowMs } },
    deps.clock,
  );
  const staff = new StaffAccounts({
    identity: identity.identity,
    identityRepo: identity.identityRepo,
    repo,
    audit: identity.audit,
    sessions,
    limiter,
  });
  const streams = new EventStreams({
    bus: deps.bus,
    sessions,
    heartbeatMs: config.heartbeatSeconds * 1000,
    logger: log,
    run: randomBytes(6).toString('hex'),
  });
  staff.onSessionsEnded((username) => streams.closeAllOf(username));
  const system = deps.system
    ? new SystemMonitor({
        ...deps.system,
        sampleMs: config.systemSampleSeconds * 1000,
        keep: config.systemSamples,
        ...(deps.clock ? { clock: deps.clock } : {}),
      })
    : undefined;
  const overlayWatch = deps.overlayWatch;
  const queue = deps.queue;
  const router = createUiRouter({
    staff,
    sessions,
    bus: deps.bus,
    streams,
    room: {
      seats: () => identity.identity.seats(),
      openSessions: () => identity.identity.openSessions(),
      user: (id) => identity.identity.user(id),
      terminals: () => deps.boots.terminals(),
      latestBoot: (mac) => deps.boots.latestBoot(mac),
      leases: () => deps.leases.all(),
      ...(overlayWatch ? { overlay: (mac: string) => overlayWatch.current(mac) } : {}),
      ...(queue ? { queue: () => queueView(queue()) } : {}),
    },
    boots: (mac, limit) => deps.boots.boots(mac, limit),
    staticDir: deps.staticDir ?? DEFAULT_UI_DIR,
    sessionLifetimeMs: config.sessionLifetimeMinutes * 60_000,
    // The cashier and audit screens use /api/v1 itself, not copies of its routes: the same handlers, role checks
    // and audit records; the caller is the browser session (looked up and CSRF-checked by the UI router before
    // this runs), named on the trail as operator:<username> exactly as its Basic password would be.
    v1: v1Router(
      deps.v1Routers?.(sessionRoles) ?? [],
      createIdentityApi({
        service: identity.identity,
        repo: identity.identityRepo,
        auditRepo: identity.auditRepo,
        signer: identity.signer,
        directory: identity.directory,
        logger: log.child({ module: 'ui-v1' }),
        authenticate: (_req, res) => {
          const s = res.locals.uiSession as UiSession;
          return Promise.resolve({ actor: `operator:${s.username}`, role: s.role });
        },
      }),
    ),
    ...(system ? { system } : {}),
    logger: log,
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
  let unsubscribe: (() => void) | undefined;
  return {
    staff,
    staffApi: createStaffApi({ staff, adminGuard: identity.guard(['admin']), logger: log }),
    router,
    start: () => {
      unsubscribe = identity.directory.onSessionChange((change) => deps.bus.publish('session', sessionEvent(change)));
      system?.start();
      overlayWatch?.start();
    },
    stop: () => {
      unsubscribe?.();
      system?.stop();
      overlayWatch?.stop();
      streams.closeAll();
    },
  };
}
