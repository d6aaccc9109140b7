import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { BootgateError } from '../errors.ts';

/**
 * The one error reply of /api/v1: `{ error: CODE, message }` with the status the catalogue (src/errors.ts) gives
 * the code. A caller's mistake (4xx) is answered and not logged as a failure; anything else is logged with its
 * cause and answered `500 INTERNAL` without details.
 */
export function apiErrorHandler(log: Logger): ErrorRequestHandler {
  return (e: unknown, req, res, _next) => {
    if (e instanceof BootgateError && e.status < 500) {
      res.status(e.status).json({ error: e.code, message: e.message });
      return;
    }
    // body-parser's own refusals (malformed JSON, too large) carry a 4xx status
    const status = (e as { status?: number }).status;
    if (!(e instanceof BootgateError) && status && status >= 400 && status < 500) {
      res.status(status).json({ error: 'VALIDATION', message: (e as Error).message });
      return;
    }
    log.error({ err: e, method: req.method, path: req.path }, 'API request failed');
    res.status(500).json({ error: 'INTERNAL', message: 'internal error' });
  };
}
