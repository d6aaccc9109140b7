import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { apiErrorHandler } from './errors.ts';
import { UiError } from '../ui/errors.ts';
import type { StaffAccounts } from '../ui/staff.ts';

export interface StaffApiDeps {
  staff: StaffAccounts;
  /** admin only (identity's requireRoles: bearer token or operator Basic; sets res.locals.actor) */
  adminGuard: RequestHandler;
  logger: Logger;
}

const username = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9._@-]+$/, 'letters, digits and . _ @ - only');
const password = z.string().min(8).max(200);
const schemas = {
  add: z.strictObject({ username, password, role: z.enum(['admin', 'cashier', 'auditor']) }),
  password: z.strictObject({ password }),
};

function parse<T>(schema: z.ZodType<T>, v: unknown): T {
  const r = schema.safeParse(v);
  if (!r.success) throw new UiError('VALIDATION', r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  return r.data;
}

/**
 * /api/v1/staff: the staff accounts (`bootgate staff …`), admin only. Passwords travel only in request bodies
 * and are never returned; the replies carry names and roles.
 */
export function createStaffApi(deps: StaffApiDeps): express.Router {
  const router = express.Router();
  const wrap = (fn: (req: Request, res: Response) => Promise<unknown> | unknown) => async (req: Request, res: Response, next: NextFunction) => {
    try {
      const out = await fn(req, res);
      if (!res.headersSent) res.json(out);
    } catch (e) {
      next(e);
    }
  };
  const actor = (res: Response): string => String(res.locals.actor);
  const name = (req: Request): string => parse(username, req.params.username);

  router.get(
    '/staff',
    deps.adminGuard,
    wrap(() => deps.staff.list().map((s) => ({ username: s.username, role: s.role, createdAt: new Date(s.createdAt).toISOString() }))),
  );
  router.post(
    '/staff',
    deps.adminGuard,
    express.json({ limit: '16kb' }),
    wrap(async (req, res) => {
      const made = await deps.staff.add(actor(res), parse(schemas.add, req.body));
      res.status(201);
      return made;
    }),
  );
  router.put(
    '/staff/:username/password',
    deps.adminGuard,
    express.json({ limit: '16kb' }),
    wrap(async (req, res) => {
      await deps.staff.setPassword(actor(res), name(req), parse(schemas.password, req.body).password);
      return { username: name(req) };
    }),
  );
  router.delete(
    '/staff/:username',
    deps.adminGuard,
    wrap(async (req, res) => {
      await deps.staff.remove(actor(res), name(req));
      return { username: name(req) };
    }),
  );
  router.use('/staff', apiErrorHandler(deps.logger));
  return router;
}
