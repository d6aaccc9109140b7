import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import type { EdgeCache } from '../cache/edge-cache.ts';
import { BootgateError } from '../errors.ts';
import { apiErrorHandler } from './errors.ts';

export interface CacheRouterDeps {
  cache: Pick<EdgeCache, 'statsSnapshot' | 'purgeService' | 'purgeUrl' | 'prefill'>;
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
 * per service and per terminal, and the store's size; `POST /cache/purge` with `{ service }` or `{ url }`;
 * `POST /cache/prefill` with `{ urls, bytesPerSecond }` starts a prefill job (202; 409 while one runs) and
 * `GET /cache/prefill` shows the running or last one.
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
  r.get('/cache/prefill', deps.guards.read, (_req, res) => {
    res.json({ job: deps.cache.prefill.status() ?? null });
  });
  r.post(
    '/cache/prefill',
    deps.guards.write,
    handle(async (req, res) => {
      const body = (req.body ?? {}) as { urls?: unknown; bytesPerSecond?: unknown };
      if (!Array.isArray(body.urls) || !body.urls.every((u): u is string => typeof u === 'string'))
        throw new BootgateError('VALIDATION', 'prefill takes "urls", a list of http:// URLs');
      if (typeof body.bytesPerSecond !== 'number') throw new BootgateError('VALIDATION', 'prefill takes "bytesPerSecond", a positive number');
      const { job, done } = deps.cache.prefill.start(body.urls, body.bytesPerSecond);
      void done.catch((err: unknown) => deps.log.error({ err, job: job.id }, 'cache prefill failed'));
      const actor = String(res.locals.actor ?? 'unknown');
      await deps.recordAction(actor, 'cache.prefill', `${job.items.length} URLs`, { job: job.id, bytesPerSecond: job.bytesPerSecond });
      res.status(202).json({ job });
    }),
  );
  r.use('/cache', apiErrorHandler(deps.log));
  return r;
}
