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

/** A reply as a value: what this process writes, and what a relayed request (an HTTP boot worker's) gets back. */
export interface PlainReply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

function plainReply(status: number, headers: Record<string, string>, body = ''): PlainReply {
  const buf = Buffer.from(body);
  return { status, headers: { ...headers, 'cache-control': 'no-store', 'content-length': String(buf.length) }, body: buf };
}

/** Writes a reply (the request's body, if any, is drained so keep-alive works; a HEAD gets the head only). */
function write(req: IncomingMessage, res: ServerResponse, r: PlainReply): void {
  req.resume();
  res.writeHead(r.status, r.headers);
  res.end(req.method === 'HEAD' ? undefined : r.body);
}

/** A `/svc/` request, as this process or a worker received it. */
export interface SvcRequest {
  method: string;
  /** the request-target as received, still percent-encoded */
  target: string;
  /** the terminal's address */
  ip: string;
  /** the gateway's address it reached */
  localAddress: string;
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
    const r: SvcRequest = {
      method: req.method ?? 'GET',
      target: req.url ?? '',
      ip: clientAddress(req.socket.remoteAddress),
      localAddress: clientAddress(req.socket.localAddress),
    };
    svcReply(deps, r).then(
      (reply) => write(req, res, reply),
      () => {
        if (!res.headersSent) write(req, res, plainReply(500, { 'content-type': 'text/plain; charset=utf-8' }, 'internal error\n'));
        else res.destroy();
      },
    );
  };
}

/** The answer to one `/svc/` request (createSvcHandler's, and a worker's relayed one); failures are logged here. */
export async function svcReply(deps: SvcRoutesDeps, r: SvcRequest): Promise<PlainReply> {
  try {
    return await decideSvc(deps, r);
  } catch (err) {
    deps.logger.error({ err, url: r.target }, '/svc request failed');
    throw err;
  }
}

async function decideSvc(deps: SvcRoutesDeps, r: SvcRequest): Promise<PlainReply> {
  const p = parseSvcPath(r.target);
  if (!p) return plainReply(404, { 'content-type': 'text/plain; charset=utf-8' }, 'no such service: the form is /svc/<class>/<path>\n');
  const status = r.method === 'GET' || r.method === 'HEAD' ? 302 : 307;
  if (classSettings(deps.config, p.cls).mode === 'proxy') {
    // a proxied class is served by the reverse proxy's listener: send the terminal there, same address it used
    const host = r.localAddress.includes(':') ? `[${r.localAddress}]` : r.localAddress;
    return plainReply(status, { location: `http://${host}:${deps.proxyPort}${r.target}` });
  }
  const seat = deps.sessionAt(r.ip);
  const d = deps.registry.choose(p.cls, seat ? { seat: seat.seat, sessionKey: seat.sessionId } : {});
  if (!d.ok) {
    deps.logger.debug({ class: p.cls, reason: d.reason, ip: r.ip }, 'no platform instance for a request');
    const page = unavailablePage(d);
    return plainReply(page.status, page.headers, page.body);
  }
  const location = svcLocation(d.instance.url, p);
  if (seat) await deps.recordRedirect(seat, { ip: r.ip, class: p.cls, instance: d.instance, location, method: r.method, status, reason: d.reason });
  return plainReply(status, { location });
}

/** The API error code of a refused heartbeat (its status comes from the catalogue, src/errors.ts). */
function heartbeatErrorCode(error: 'unknown-instance' | 'bad-token' | 'bad-body'): 'PLATFORM_UNKNOWN' | 'PLATFORM_BAD_TOKEN' | 'VALIDATION' {
  return error === 'unknown-instance' ? 'PLATFORM_UNKNOWN' : error === 'bad-token' ? 'PLATFORM_BAD_TOKEN' : 'VALIDATION';
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
    throw new BootgateError(heartbeatErrorCode(result.error), result.message);
  });
  r.use(apiErrorHandler(logger));
  return r;
}

/** A heartbeat as an HTTP boot worker relays it (the target, the two fields it needs, the body up to 16 KiB). */
export interface RelayedHeartbeat {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  bodyTooLarge?: boolean;
}

const HEARTBEAT_PATH = /^\/api\/v1\/platforms\/([^/?]+)\/heartbeat(?:\?.*)?$/;
const JSON_TYPE = /^application\/json\s*(?:;|$)/i;

/**
 * The heartbeat route's answer to a relayed request, the same as createHeartbeatRouter's (and express.json's):
 * the JSON `{ error, message }` of /api/v1 with the catalogue's status, 204 when accepted.
 */
export function heartbeatReply(registry: PlatformRegistry, r: RelayedHeartbeat): PlainReply {
  const json = (status: number, error: string, message: string): PlainReply =>
    plainReply(status, { 'content-type': 'application/json; charset=utf-8' }, JSON.stringify({ error, message }));
  const m = HEARTBEAT_PATH.exec(r.url);
  if (!m || r.method !== 'POST') return json(404, 'NOT_FOUND', `no route ${r.method} ${r.url.split('?')[0]!}`);
  if (r.bodyTooLarge) return json(413, 'VALIDATION', 'request entity too large');
  let body: unknown;
  if (JSON_TYPE.test(r.headers?.['content-type'] ?? '')) {
    const text = Buffer.from(r.body ?? new Uint8Array()).toString('utf8');
    try {
      body = text === '' ? {} : (JSON.parse(text) as unknown);
    } catch (e) {
      return json(400, 'VALIDATION', (e as Error).message);
    }
  }
  let id: string;
  try {
    id = decodeURIComponent(m[1]!);
  } catch {
    return json(400, 'VALIDATION', 'malformed instance id in the path');
  }
  const result = registry.heartbeat(id, bearerToken(r.headers?.authorization), body);
  if (result.ok) return { status: 204, headers: { 'cache-control': 'no-store' }, body: Buffer.alloc(0) };
  const e = new BootgateError(heartbeatErrorCode(result.error), result.message);
  return json(e.status, e.code, e.message);
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
