import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import type { EdgeCache } from '../cache/edge-cache.ts';
import { BootgateError } from '../errors.ts';
import { apiErrorHandler } from './errors.ts';

export interface CacheRouterDeps {
  cache: Pick<EdgeCache, 'statsSnapshot' | 'purgeService' | 'purgeUrl'>;
  guards: { read: RequestHandler; write: RequestHandler };
  /** the staff action trail (purges are actions) */
  recordAction: (actor: string, action: string, target: string, detail: unknown) => Promise<void>;
  log: Logger;
}

function handle(fn: (req: Request, res: Response) => Promise<void>) {
  return (req: Request, res: Response, next: NextFunction): void => void fn(req, res).catch(next);
}

/**
 * The edge cache on /api/v1 (docs/cache.md): `GET /cache/stats` — hits, misses, bypasses, origin and served bytes
 * per service and per terminal, and the store's size; `POST /cache/purge` with `{ service }` or `{ url }`.
 */
export function createCacheRouter(deps: CacheRouterDeps): Router {
  const r = Router();
  r.get('/cache/stats', deps.guards.read, (_req, res) => {
    res.json(deps.cache.statsSnapshot());
  });
  r.post(
    '/cache/purge',
    deps.guards.write,
    handle(async (req, res) => {
      const body = (req.body ?? {}) as { service?: unknown; url?: unknown };
      const actor = String(res.locals.actor ?? 'unknown');
      if (typeof body.service === 'string' && body.service !== '' && body.url === undefined) {
        const objects = await deps.cache.purgeService(body.service);
        await deps.recordAction(actor, 'cache.purge', body.service, { objects });
        res.json({ service: body.service, objects });
        return;
      }
      if (typeof body.url === 'string' && body.service === undefined) {
        const purged = await deps.cache.purgeUrl(body.url);
        await deps.recordAction(actor, 'cache.purge', body.url, { objects: purged ? 1 : 0 });
        res.json({ url: body.url, objects: purged ? 1 : 0 });
        return;
      }
      throw new BootgateError('VALIDATION', 'purge takes exactly one of "service" or "url"');
    }),
  );
  r.use('/cache', apiErrorHandler(deps.log));
  return r;
}
