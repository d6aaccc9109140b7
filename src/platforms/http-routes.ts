/**
 * The HTTP side of the service platforms: the terminal-facing `/svc/<class>/<path>` redirector and the heartbeat
 * (both on the HTTP boot port, where the terminals and the platforms are), and the operators' `/api/v1/platforms`
 * routes on the management listener. Express routers; the composition root mounts them (compose/platforms.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import { apiErrorHandler } from '../api/errors.ts';
import { BootgateError } from '../errors.ts';
import { clientAddress } from '../terminal/client-address.ts';
import { bearerToken } from './heartbeat.ts';
import type { InstanceRef, PlatformRegistry } from './registry.ts';
import { classSettings, type PlatformsConfig } from './config.ts';
import { parseSvcPath, svcLocation, unavailablePage } from './svc-path.ts';

/** The seat at a terminal's address, for affinity and the audit trail (undefined: not a seat, or no open session). */
export interface SeatAtAddress {
  seat: string;
  sessionId: string;
}

export interface RedirectRecord {
  ip: string;
  class: string;
  instance: InstanceRef;
  location: string;
  method: string;
  status: number;
  reason: string;
}

export interface SvcRoutesDeps {
  registry: PlatformRegistry;
  config: Readonly<PlatformsConfig>;
  /** the open session at a terminal address, if any */
  sessionAt: (ip: string) => SeatAtAddress | undefined;
  /** writes who was sent where for a seat with a session; resolves once the record is durable */
  recordRedirect: (seat: SeatAtAddress, r: RedirectRecord) => Promise<void>;
  /** where the reverse proxy listens (classes in proxy mode are sent there) */
  proxyPort: number;
  logger: Logger;
}

/** A bodiless reply with these header fields (the request's body, if any, is drained so keep-alive works). */
function reply(req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string>, body = ''): void {
  req.resume();
  const buf = Buffer.from(body);
  res.writeHead(status, { ...headers, 'cache-control': 'no-store', 'content-length': String(buf.length) });
  res.end(req.method === 'HEAD' ? undefined : buf);
}

/**
 * `/svc/<class>/<path>?<query>` → the chosen instance: 302 for GET and HEAD, 307 for other methods so the method and
 * body are kept (RFC 9110 §15.4.3, §15.4.8). The path and query go on byte for byte as the terminal sent them.
 * No instance → 503 at once, never a hang. A plain node:http handler (no express): it is the hot path of 302 mode.
 * A seat's redirect is sent only once its audit record is durable; if the record cannot be written the terminal
 * gets a 500 and no Location (nothing unrecorded is handed out).
 */
export function createSvcHandler(deps: SvcRoutesDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handleSvc(deps, req, res).catch((err: unknown) => {
      deps.logger.error({ err, url: req.url }, '/svc request failed');
      if (!res.headersSent) reply(req, res, 500, { 'content-type': 'text/plain; charset=utf-8' }, 'internal error\n');
      else res.destroy();
    });
  };
}

async function handleSvc(deps: SvcRoutesDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // the request-target as received, still percent-encoded
  const target = req.url ?? '';
  const p = parseSvcPath(target);
  if (!p) return reply(req, res, 404, { 'content-type': 'text/plain; charset=utf-8' }, 'no such service: the form is /svc/<class>/<path>\n');
  const ip = clientAddress(req.socket.remoteAddress);
  const status = req.method === 'GET' || req.method === 'HEAD' ? 302 : 307;
  if (classSettings(deps.config, p.cls).mode === 'proxy') {
    // a proxied class is served by the reverse proxy's listener: send the terminal there, same address it used
    const local = clientAddress(req.socket.localAddress);
    const host = local.includes(':') ? `[${local}]` : local;
    return reply(req, res, status, { location: `http://${host}:${deps.proxyPort}${target}` });
  }
  const seat = deps.sessionAt(ip);
  const d = deps.registry.choose(p.cls, seat ? { seat: seat.seat, sessionKey: seat.sessionId } : {});
  if (!d.ok) {
    deps.logger.debug({ class: p.cls, reason: d.reason, ip }, 'no platform instance for a request');
    const page = unavailablePage(d);
    return reply(req, res, page.status, page.headers, page.body);
  }
  const location = svcLocation(d.instance.url, p);
  if (seat)
    await deps.recordRedirect(seat, { ip, class: p.cls, instance: d.instance, location, method: req.method ?? 'GET', status, reason: d.reason });
  reply(req, res, status, { location });
}

/**
 * `POST /api/v1/platforms/<id>/heartbeat` with the instance's own bearer token (not a staff token): 204, or 404
 * unknown id, 401 wrong token, 400 malformed body — a refusal changes nothing (registry.heartbeat).
 */
export function createHeartbeatRouter(registry: PlatformRegistry, logger: Logger): Router {
  const r = express.Router();
  r.post('/platforms/:id/heartbeat', express.json({ limit: '16kb' }), (req, res) => {
    const result = registry.heartbeat(String(req.params.id), bearerToken(req.headers.authorization), req.body);
    if (result.ok) {
      res.status(204).end();
      return;
    }
    const code = result.error === 'unknown-instance' ? 'PLATFORM_UNKNOWN' : result.error === 'bad-token' ? 'PLATFORM_BAD_TOKEN' : 'VALIDATION';
    throw new BootgateError(code, result.message);
  });
  r.use(apiErrorHandler(logger));
  return r;
}

export interface PlatformAdminDeps {
  registry: PlatformRegistry;
  guards: { read: RequestHandler; write: RequestHandler };
  /** the scaling advisor's current view */
  advice: () => unknown;
  /** staff actions go on the audit trail */
  recordAction: (actor: string, action: string, target: string, detail: unknown) => Promise<void>;
  /** an instance was registered or removed (the gateway's allow-list for seats follows); awaited before the reply */
  onChanged?: () => Promise<void>;
  logger: Logger;
}

/** Operators' routes under /api/v1: list (with traffic share), add (→ id and token), remove, drain, token, advice. */
export function createPlatformAdminRouter(deps: PlatformAdminDeps): Router {
  const { registry, guards } = deps;
  const r = express.Router();
  const actorOf = (res: Response): string => String(res.locals.actor ?? 'unknown');
  const changed = (result: ReturnType<PlatformRegistry['drain']>): void => {
    if (result.ok) return;
    throw new BootgateError(result.error === 'unknown-instance' ? 'PLATFORM_UNKNOWN' : 'PLATFORM_CONFIG_INSTANCE', result.message);
  };
  const action =
    (name: string, apply: (id: string) => ReturnType<PlatformRegistry['drain']>) =>
    async (req: Request, res: Response): Promise<void> => {
      const id = String(req.params.id);
      changed(apply(id));
      await deps.recordAction(actorOf(res), `platform.${name}`, id, {});
      if (name === 'remove') await deps.onChanged?.();
      if (name === 'remove') res.status(204).end();
      else res.json(registry.get(id));
    };

  r.get('/platforms', guards.read, (_req, res) => void res.json(registry.list()));
  r.get('/platforms/advice', guards.read, (_req, res) => void res.json(deps.advice()));
  r.get('/platforms/:id', guards.read, (req, res) => {
    const v = registry.get(String(req.params.id));
    if (!v) throw new BootgateError('PLATFORM_UNKNOWN', `no platform instance ${String(req.params.id)}`);
    res.json(v);
  });
  r.post('/platforms', guards.write, express.json({ limit: '16kb' }), async (req, res) => {
    const added = registry.add(req.body);
    if (!added.ok) throw new BootgateError(added.error === 'duplicate-name' ? 'PLATFORM_EXISTS' : 'VALIDATION', added.message);
    const body = req.body as { class: string; name: string; url: string; capacity: number };
    await deps.recordAction(actorOf(res), 'platform.add', added.id, { class: body.class, name: body.name, url: body.url, capacity: body.capacity });
    await deps.onChanged?.();
    res.status(201).json({ id: added.id, token: added.token });
  });
  r.delete(
    '/platforms/:id',
    guards.write,
    action('remove', (id) => registry.remove(id)),
  );
  r.post(
    '/platforms/:id/drain',
    guards.write,
    action('drain', (id) => registry.drain(id)),
  );
  r.post(
    '/platforms/:id/undrain',
    guards.write,
    action('undrain', (id) => registry.undrain(id)),
  );
  r.post('/platforms/:id/token', guards.write, async (req, res) => {
    const id = String(req.params.id);
    const t = registry.rotateToken(id);
    if (!t.ok) throw new BootgateError('PLATFORM_UNKNOWN', t.message);
    await deps.recordAction(actorOf(res), 'platform.token', id, {});
    res.json({ id, token: t.token });
  });
  r.use(apiErrorHandler(deps.logger));
  return r;
}
