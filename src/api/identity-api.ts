import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import type { Logger } from 'pino';
import { ExportError, exportStreamContentType, streamExport } from '../audit/export-stream.ts';
import type { AuditSigner } from '../audit/keys.ts';
import { AUDIT_KINDS, type AuditRecord } from '../audit/record.ts';
import { checkPassword, tokenHash } from '../identity/auth.ts';
import { IdentityError } from '../identity/errors.ts';
import { apiErrorHandler } from './errors.ts';
import type { SeatDirectory } from '../identity/seat-directory.ts';
import type { IdentityService } from '../identity/service.ts';
import type { AuditRepository } from '../store/audit-repository.ts';
import type { IdentityRepository, Role } from '../store/identity-repository.ts';

export interface IdentityApiDeps {
  service: IdentityService;
  repo: IdentityRepository;
  auditRepo: AuditRepository;
  signer: AuditSigner;
  directory: SeatDirectory;
  logger: Logger;
  /**
   * Who is calling; default: a bearer token or an operator's Basic password (authenticateRequest). The web UI
   * mounts a second instance under /ui/api/v1 whose principal is the browser session (src/compose/ui.ts): the
   * same routes and role checks, only the credential differs.
   */
  authenticate?: (req: Request, res: Response) => Promise<Principal>;
}

export interface Principal {
  /** what the audit trail names: token:<name> or operator:<username> */
  actor: string;
  role: Role;
}

type Handler = (req: Request, res: Response, principal: Principal) => unknown;

const role = z.enum(['admin', 'cashier', 'auditor']);
const minor = z.number().int().refine(Number.isSafeInteger, 'must be a safe integer');
const text = (max = 200) => z.string().trim().min(1).max(max);
const schemas = {
  user: z.strictObject({
    name: text(),
    docType: text(50),
    docNumber: text(100),
    docCountry: text(60).optional(),
    member: z.boolean().optional(),
    balanceMinor: minor.nonnegative().optional(),
  }),
  credit: z.strictObject({ amountMinor: minor }),
  seat: z.strictObject({ name: text(64), mac: z.string(), group: text(64).optional() }),
  group: z.strictObject({ rateMinorPerHour: minor.nonnegative() }),
  open: z.strictObject({ userId: text(64), seat: text(64) }),
  close: z.strictObject({ seat: text(64), payment: z.enum(['member', 'desk']).optional() }),
  seatOnly: z.strictObject({ seat: text(64) }),
  token: z.strictObject({ name: text(64), role }),
  operator: z.strictObject({ username: text(64), password: z.string().min(8).max(200), role }),
  time: z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO-8601 date/time'),
};
const searchQuery = z.strictObject({
  from: schemas.time.optional(),
  to: schemas.time.optional(),
  user: z.string().optional(),
  seat: z.string().optional(),
  host: z.string().max(255).optional(),
  kind: z.enum(AUDIT_KINDS).optional(),
  afterSeq: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
  /** desc: the newest records first (the terminal panel's "recent records of this seat") */
  order: z.enum(['asc', 'desc']).optional(),
});
const exportBody = z.strictObject({
  from: schemas.time.optional(),
  to: schemas.time.optional(),
  user: z.string().optional(),
  seat: z.string().optional(),
  format: z.enum(['csv', 'ndjson']),
  fileName: z.string().max(255).optional(),
});

const view = {
  record: (r: AuditRecord) => ({ ...r, time: new Date(r.time).toISOString() }),
  iso: (t: number | null) => (t === null ? null : new Date(t).toISOString()),
};

/**
 * /api/v1 for cashiers (users, seats, sessions), auditors (records, export) and admins (everything, tokens,
 * operators). Authentication: `Authorization: Bearer <token>` (api_tokens) or Basic (operators, scrypt).
 * Auditors only read and export. Every change is written to the audit trail as an admin record in the same
 * transaction as the change, and the reply is sent after commit.
 */
/** Who is calling: a bearer API token or an operator's Basic password (scrypt), else UNAUTHENTICATED. */
export async function authenticateRequest(repo: IdentityRepository, req: Request): Promise<Principal> {
  const h = req.get('authorization') ?? '';
  const bearer = /^Bearer\s+(\S+)$/i.exec(h);
  if (bearer) {
    const t = repo.tokenByHash(tokenHash(bearer[1]!));
    if (t && t.revokedAt === null) return { actor: `token:${t.name}`, role: t.role };
  }
  const basic = /^Basic\s+(\S+)$/i.exec(h);
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    const op = i > 0 ? repo.operator(decoded.slice(0, i)) : undefined;
    if (op && (await checkPassword(decoded.slice(i + 1), op.passwordHash))) return { actor: `operator:${op.username}`, role: op.role };
  }
  throw new IdentityError('UNAUTHENTICATED', 'a valid bearer token or operator password is required');
}

/** Middleware for routes outside this router (leases, terminals, images): 401/403 unless the caller has a role. */
export function requireRoles(repo: IdentityRepository, roles: readonly Role[]): RequestHandler {
  return (req, res, next) => {
    authenticateRequest(repo, req).then(
      (p) => {
        // routers behind the guard name the actor of a staff action on the audit trail
        res.locals.actor = p.actor;
        if (roles.includes(p.role)) next();
        else res.status(403).json({ error: 'FORBIDDEN', message: `role ${p.role} may not ${req.method} ${req.path}` });
      },
      (e: unknown) => res.status(401).json({ error: 'UNAUTHENTICATED', message: (e as Error).message }),
    );
  };
}

export function createIdentityApi(deps: IdentityApiDeps): express.Router {
  const router = express.Router();
  router.use(express.json({ limit: '64kb' }));
  const log = deps.logger;

  const authenticate = deps.authenticate ?? ((req: Request): Promise<Principal> => authenticateRequest(deps.repo, req));

  const route = (roles: readonly Role[], handler: Handler) => async (req: Request, res: Response, next: NextFunction) => {
    try {
      const principal = await authenticate(req, res);
      if (!roles.includes(principal.role)) throw new IdentityError('FORBIDDEN', `role ${principal.role} may not ${req.method} ${req.path}`);
      const out = await handler(req, res, principal);
      if (!res.headersSent) res.json(out);
    } catch (e) {
      next(e);
    }
  };
  /** A route that creates something: 201 with the created object (RFC 9110 §15.3.2). */
  const created = (roles: readonly Role[], make: (req: Request, p: Principal) => Promise<unknown>) =>
    route(roles, async (req, res, p) => {
      const made = await make(req, p);
      res.status(201);
      return made;
    });
  const parse = <T>(schema: z.ZodType<T>, v: unknown): T => {
    const r = schema.safeParse(v);
    if (!r.success) throw new IdentityError('VALIDATION', r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    return r.data;
  };
  const ANY: Role[] = ['admin', 'cashier', 'auditor'];
  const DESK: Role[] = ['admin', 'cashier'];
  const ADMIN: Role[] = ['admin'];
  const AUDIT: Role[] = ['admin', 'auditor'];

  const sessionView = (s: ReturnType<IdentityService['openSessions']>[number]) => {
    const user = deps.service.user(s.userId);
    return { ...s, openedAt: view.iso(s.openedAt), closedAt: view.iso(s.closedAt), pausedAt: view.iso(s.pausedAt), userName: user?.name ?? null };
  };
  router.get(
    '/whoami',
    route(ANY, (_q, _s, p) => p),
  );

  router.get(
    '/users',
    route(ANY, () => deps.service.users()),
  );
  router.get(
    '/users/:id',
    route(
      ANY,
      (req) => deps.service.user(String(req.params.id)) ?? Promise.reject(new IdentityError('USER_NOT_FOUND', `no user ${String(req.params.id)}`)),
    ),
  );
  router.post(
    '/users',
    created(DESK, (req, p) => deps.service.addUser(p.actor, parse(schemas.user, req.body))),
  );
  router.post(
    '/users/:id/credit',
    route(DESK, (req, _res, p) => deps.service.creditUser(p.actor, String(req.params.id), parse(schemas.credit, req.body).amountMinor)),
  );

  router.get(
    '/seats',
    route(ANY, () => deps.service.seats()),
  );
  router.post(
    '/seats',
    created(ADMIN, (req, p) => {
      return deps.service.addSeat(p.actor, parse(schemas.seat, req.body));
    }),
  );
  router.get(
    '/seat-groups',
    route(ANY, () => deps.service.groups()),
  );
  // Who is behind an address right now (lease → seat → open session → user): what the gateway sees.
  router.get(
    '/whois',
    route(ANY, (req) => {
      const ip = parse(z.strictObject({ ip: z.ipv4() }), req.query).ip;
      const hit = deps.directory.lookupByIp(ip);
      if (!hit) throw new IdentityError('SEAT_NOT_FOUND', `no seat holds a lease for ${ip}`);
      return { ip, seat: hit.seat.name, mac: hit.mac, user: hit.user ?? null, session: hit.session ? sessionView(hit.session) : null };
    }),
  );
  router.put(
    '/seat-groups/:name',
    route(ADMIN, (req, _res, p) => deps.service.setGroupRate(p.actor, { name: String(req.params.name), ...parse(schemas.group, req.body) })),
  );

  router.get(
    '/sessions',
    route(ANY, (req) =>
      (req.query.all === 'true' ? deps.service.recentSessions(Number(req.query.limit ?? 100) || 100) : deps.service.openSessions()).map(sessionView),
    ),
  );
  router.post(
    '/sessions',
    created(DESK, async (req, p) => sessionView(await deps.service.openSession(p.actor, parse(schemas.open, req.body)))),
  );
  router.post(
    '/sessions/close',
    route(DESK, async (req, _res, p) => sessionView(await deps.service.closeSession(p.actor, parse(schemas.close, req.body)))),
  );
  // a paused session keeps its seat and customer, is not charged, and the gate refuses the seat's traffic
  router.post(
    '/sessions/pause',
    route(DESK, async (req, _res, p) => sessionView(await deps.service.pauseSession(p.actor, parse(schemas.seatOnly, req.body)))),
  );
  router.post(
    '/sessions/resume',
    route(DESK, async (req, _res, p) => sessionView(await deps.service.resumeSession(p.actor, parse(schemas.seatOnly, req.body)))),
  );

  router.post(
    '/tokens',
    created(ADMIN, (req, p) => deps.service.createToken(p.actor, parse(schemas.token, req.body))),
  );
  router.post(
    '/operators',
    created(ADMIN, (req, p) => deps.service.createOperator(p.actor, parse(schemas.operator, req.body))),
  );

  router.get(
    '/audit/records',
    route(AUDIT, (req) => {
      const q = parse(searchQuery, req.query);
      return deps.auditRepo
        .query({
          ...(q.from !== undefined ? { from: Date.parse(q.from) } : {}),
          ...(q.to !== undefined ? { to: Date.parse(q.to) } : {}),
          ...(q.user !== undefined ? { userId: q.user } : {}),
          ...(q.seat !== undefined ? { seat: q.seat } : {}),
          ...(q.host !== undefined ? { host: q.host } : {}),
          ...(q.kind !== undefined ? { kind: q.kind } : {}),
          ...(q.afterSeq !== undefined ? { afterSeq: q.afterSeq } : {}),
          ...(q.order === 'desc' ? { newestFirst: true } : {}),
          limit: q.limit ?? 1000,
        })
        .map(view.record);
    }),
  );
  router.get(
    '/audit/public-key',
    route(ANY, (_q, res) => res.type('application/x-pem-file').send(deps.signer.publicKeyPem())),
  );
  // The export streams: file bytes, then the signed manifest as the last line (framing in audit/export-stream.ts).
  // Nothing is built in memory; the response is written with backpressure, so a slow reader holds the export
  // back instead of growing a buffer here.
  router.post(
    '/audit/export',
    route(AUDIT, async (req, res, p) => {
      const b = parse(exportBody, req.body);
      const request = {
        format: b.format,
        fileName: b.fileName ?? `audit-export.${b.format}`,
        ...(b.from !== undefined ? { from: Date.parse(b.from) } : {}),
        ...(b.to !== undefined ? { to: Date.parse(b.to) } : {}),
        ...(b.user !== undefined ? { userId: b.user } : {}),
        ...(b.seat !== undefined ? { seat: b.seat } : {}),
      };
      // Who exported what is itself on the trail (committed before the export is handed out).
      await deps.service.recordAction(p.actor, 'audit.export', request.fileName, { ...b });
      res.status(200);
      res.setHeader('content-type', exportStreamContentType(request.format));
      res.setHeader('cache-control', 'no-store');
      try {
        const m = await streamExport(deps.auditRepo, deps.signer, request, res);
        res.end();
        log.info({ actor: p.actor, file: request.fileName, count: m.count, firstSeq: m.firstSeq, lastSeq: m.lastSeq }, 'audit export sent');
      } catch (e) {
        // Before the first byte the error handler can still answer with a JSON error; after it, the only honest
        // signal is a broken response (the receiver sees the body end without its manifest).
        if (!res.headersSent) {
          res.removeHeader('content-type');
          res.removeHeader('cache-control');
          if (!(e instanceof ExportError)) throw e;
          res.status(409).json({ error: e.code, message: e.message });
          return;
        }
        if (e instanceof ExportError && e.code === 'EXPORT_ABORTED') log.info({ actor: p.actor, file: request.fileName }, e.message);
        else log.error({ err: e, actor: p.actor, file: request.fileName }, 'audit export failed after it started; response cut');
        res.destroy();
      }
    }),
  );

  router.use(apiErrorHandler(log));
  return router;
}
