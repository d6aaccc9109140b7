import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type ErrorRequestHandler, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { apiErrorHandler } from '../api/errors.ts';
import type { BootRecord } from '../store/boot-repository.ts';
import { clientAddress } from '../terminal/client-address.ts';
import { tryParseMac } from '../terminal/mac.ts';
import { UiError } from './errors.ts';
import type { UiEventBus } from './events.ts';
import { checkOrigin, isStateChanging, negotiateLanguage, securityHeaders, sessionRoles } from './http-guards.ts';
import { bootView, roomTiles, type RoomSources } from './room.ts';
import { sessionCookie, sessionToken } from './cookie.ts';
import { csrfMatches, type SessionStore, type UiSession } from './sessions.ts';
import type { StaffAccounts } from './staff.ts';
import type { EventStreams } from './stream.ts';
import type { RoomSnapshot, SessionInfo, SystemView } from './wire.ts';

/** the catalogues of ui/src/i18n.ts */
export const UI_LANGUAGES = ['en', 'zh-CN', 'fr'] as const;
const LANGUAGE_ALIASES = { zh: 'zh-CN', 'zh-hans': 'zh-CN', 'zh-hans-cn': 'zh-CN', 'zh-sg': 'zh-CN', 'zh-hans-sg': 'zh-CN' } as const;

export interface UiRouterDeps {
  staff: StaffAccounts;
  sessions: SessionStore;
  bus: UiEventBus;
  streams: EventStreams;
  room: RoomSources;
  boots: (mac: string, limit: number) => BootRecord[];
  /** the bundled browser files (build/ui: index.html, app.js, app.css), made by scripts/build-ui.sh */
  staticDir: string;
  sessionLifetimeMs: number;
  /**
   * /api/v1 again, for the browser: mounted at /ui/api/v1 behind the session and CSRF checks, its principal the
   * session's operator (compose/ui.ts). The cashier and audit screens call it.
   */
  v1?: express.Router;
  /** the system screen's data (admin only): services, metric charts, redacted configuration, disk use */
  system?: { snapshot(): Promise<SystemView> };
  logger: Logger;
  clock?: () => number;
}

const login = z.strictObject({ username: z.string().min(1).max(64), password: z.string().min(1).max(200) });

const info = (s: UiSession): SessionInfo => ({ username: s.username, role: s.role, csrf: s.csrf, expiresAt: s.expiresAt });

/**
 * /ui on the management listener: the browser files and the UI's own JSON API (/ui/api). Staff log in with their
 * operator password and get a server-side session cookie; every state-changing request must come from this
 * origin and carry the session's CSRF token; every response carries the CSP and the other security headers.
 * API bearer tokens are not accepted here and cookies are not accepted on /api/v1: the two stay apart.
 */
export function createUiRouter(deps: UiRouterDeps): express.Router {
  const router = express.Router();
  const clock = deps.clock ?? Date.now;
  const address = (req: Request): string => clientAddress(req.socket.remoteAddress ?? 'unknown');
  const wrap = (fn: (req: Request, res: Response) => Promise<unknown> | unknown) => async (req: Request, res: Response, next: NextFunction) => {
    try {
      const out = await fn(req, res);
      if (!res.headersSent && out !== undefined) res.json(out);
    } catch (e) {
      next(e);
    }
  };
  const session = (res: Response): UiSession => res.locals.uiSession as UiSession;

  router.use(securityHeaders);
  const api = express.Router();
  router.use('/api', api);
  api.use((req, res, next) => {
    res.set('cache-control', 'no-store');
    try {
      if (isStateChanging(req.method)) checkOrigin(req);
      next();
    } catch (e) {
      next(e);
    }
  });
  api.use(express.json({ limit: '16kb' }));

  api.get('/locale', (req, res) => {
    res.json({ lang: negotiateLanguage(req.get('accept-language'), UI_LANGUAGES, 'en', LANGUAGE_ALIASES) });
  });
  api.post(
    '/login',
    wrap(async (req, res) => {
      // JSON only: a cross-site HTML form cannot send application/json without a CORS preflight
      if (!req.is('application/json')) throw new UiError('VALIDATION', 'send the login as application/json');
      const r = login.safeParse(req.body);
      if (!r.success) throw new UiError('VALIDATION', 'username and password are required');
      const made = await deps.staff.login(r.data.username, r.data.password, address(req));
      res.setHeader('set-cookie', sessionCookie(made.token, Math.floor(deps.sessionLifetimeMs / 1000), req.secure));
      return info(made.session);
    }),
  );

  // everything below needs a live session, and a state change its CSRF token
  api.use((req, res, next) => {
    const s = deps.sessions.lookup(sessionToken(req.get('cookie')));
    if (!s) return next(new UiError('UNAUTHENTICATED', 'log in first (no live session)'));
    if (isStateChanging(req.method) && !csrfMatches(s.csrf, req.get('x-csrf-token')))
      return next(new UiError('CSRF_TOKEN', 'the X-CSRF-Token header is missing or wrong'));
    res.locals.uiSession = s;
    next();
  });
  api.get('/session', (_req, res) => {
    res.json(info(session(res)));
  });
  api.post(
    '/logout',
    wrap(async (req, res) => {
      const s = session(res);
      await deps.staff.logout(s, address(req));
      deps.streams.closeSession(s.id);
      res.setHeader('set-cookie', sessionCookie('', 0, req.secure));
      res.status(204).end();
    }),
  );
  // the room screen: every role sees it (read-only for now; the cashier and auditor screens add their actions)
  api.get('/room', (_req, res) => {
    const eventId = deps.streams.eventId(deps.bus.latestId);
    const now = clock();
    const queue = deps.room.queue?.() ?? null;
    const snapshot: RoomSnapshot = { eventId, now, tiles: roomTiles(deps.room, now, queue), queue };
    res.json(snapshot);
  });
  api.get(
    '/terminals/:mac/boots',
    wrap((req) => {
      const mac = tryParseMac(String(req.params.mac));
      if (!mac) throw new UiError('VALIDATION', `not a MAC: ${String(req.params.mac)}`);
      return deps.boots(mac, 10).map(bootView);
    }),
  );
  api.get('/events', (req, res) => deps.streams.serve(req, res, session(res)));
  const system = deps.system;
  if (system)
    api.get(
      '/system',
      sessionRoles(['admin']),
      wrap(() => system.snapshot()),
    );
  if (deps.v1) api.use('/v1', deps.v1);
  api.use(((e, _req, res, next) => {
    if (e instanceof UiError && e.retryAfterSeconds !== undefined) res.set('retry-after', String(e.retryAfterSeconds));
    next(e);
  }) as ErrorRequestHandler);
  api.use(apiErrorHandler(deps.logger));

  // the browser files; the page itself is never cached (a new build is picked up at the next load)
  const index = join(deps.staticDir, 'index.html');
  router.get('/', (req, res) => {
    // /ui → /ui/, so the page's relative asset URLs resolve under /ui/
    if (!req.originalUrl.split('?')[0]!.endsWith('/')) return res.redirect(308, '/ui/');
    if (!existsSync(index)) {
      res.status(503).type('text/plain').send('The UI is not built: run scripts/setup.sh (or scripts/build-ui.sh).\n');
      return;
    }
    res.set('cache-control', 'no-cache');
    res.sendFile(index);
  });
  router.use(express.static(deps.staticDir, { index: false, fallthrough: true, maxAge: 0 }));
  return router;
}
