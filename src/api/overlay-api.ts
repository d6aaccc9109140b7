import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { OverlayError, type OverlayManager, type OverlayMode } from '../overlay/manager.ts';
import type { Logger } from 'pino';
import { apiErrorHandler } from './errors.ts';
import { tryParseMac, type Mac } from '../terminal/mac.ts';

/** The MAC in a path or body, parsed here at the edge; a malformed one is the caller's mistake (400 BAD_MAC). */
function macParam(text: unknown): Mac {
  const mac = typeof text === 'string' ? tryParseMac(text) : undefined;
  if (!mac) throw new OverlayError('BAD_MAC', `not a MAC: ${String(text)}`);
  return mac;
}

const MODES: readonly OverlayMode[] = ['discard', 'keep', 'super'];

/** An async route whose failures reach the error handler (overlay errors are the caller's mistakes: 4xx). */
function handle(fn: (req: Request, res: Response) => Promise<void>) {
  return (req: Request, res: Response, next: NextFunction): void => void fn(req, res).catch(next);
}

/**
 * Images, versions and per-terminal overlays (issue 4): list, a terminal's overlay size, reset one overlay,
 * commit a super terminal's writes as a new version, roll back. Mounted under /api/v1 on the management listener.
 */
export function createOverlayRouter(
  manager: OverlayManager,
  guard: { read: RequestHandler; write: RequestHandler },
  log: Logger,
  /** staff actions go on the audit trail (the actor is what the guard put in res.locals.actor) */
  recordAction?: (actor: string, action: string, target: string, detail: unknown) => Promise<void>,
): Router {
  const r = Router();
  const { read, write } = guard;
  const record = (res: Response, action: string, target: string, detail: unknown): Promise<void> =>
    recordAction ? recordAction(String(res.locals.actor ?? 'unknown'), action, target, detail) : Promise.resolve();
  r.get('/images', read, (_req, res) => {
    res.json(manager.images());
  });
  r.get(
    '/images/:image/overlays',
    read,
    handle(async (req, res) => {
      res.json(await manager.terminals(String(req.params.image)));
    }),
  );
  r.get(
    '/images/:image/overlays/:mac',
    read,
    handle(async (req, res) => {
      const { image, mac: text } = req.params as { image: string; mac: string };
      const mac = macParam(text);
      res.json({ image, mac: text, mode: manager.modeOf(mac), bytes: await manager.overlayBytes(image, mac) });
    }),
  );
  r.post(
    '/images/:image/overlays/:mac/reset',
    write,
    handle(async (req, res) => {
      const { image, mac } = req.params as { image: string; mac: string };
      await manager.reset(image, macParam(mac));
      await record(res, 'overlay.reset', `${image}/${mac}`, {});
      res.status(204).end();
    }),
  );
  r.put(
    '/overlays/:mac/mode',
    write,
    handle(async (req, res) => {
      const mode = (req.body as { mode?: string } | undefined)?.mode;
      if (!MODES.includes(mode as OverlayMode)) {
        res.status(400).json({ error: 'BAD_MODE', message: `mode must be one of ${MODES.join(', ')}` });
        return;
      }
      const mac = macParam(req.params.mac);
      manager.setMode(mac, mode as OverlayMode);
      await record(res, 'overlay.mode', mac, { mode });
      res.status(204).end();
    }),
  );
  r.post(
    '/images/:image/commit',
    write,
    handle(async (req, res) => {
      const body = (req.body ?? {}) as { mac?: string; note?: string };
      if (typeof body.mac !== 'string') {
        res.status(400).json({ error: 'BAD_REQUEST', message: 'body needs the super terminal\'s "mac"' });
        return;
      }
      const image = String(req.params.image);
      const v = await manager.commit(image, macParam(body.mac), body.note);
      await record(res, 'image.commit', image, { version: v.version, parent: v.parent, mac: body.mac, note: body.note ?? null });
      res.status(201).json(v);
    }),
  );
  r.post(
    '/images/:image/rollback',
    write,
    handle(async (req, res) => {
      const version = Number((req.body ?? {}).version);
      if (!Number.isInteger(version) || version < 1) {
        res.status(400).json({ error: 'BAD_REQUEST', message: 'body needs an integer "version" ≥ 1' });
        return;
      }
      const image = String(req.params.image);
      await manager.rollback(image, version);
      await record(res, 'image.rollback', image, { version });
      res.status(204).end();
    }),
  );
  r.use(apiErrorHandler(log));
  return r;
}
