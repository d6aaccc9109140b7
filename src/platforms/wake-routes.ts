/**
 * `GET /api/v1/wake/runs`: the scheduled wake-ups (wol.schedules) with their next time and last run, and for each
 * MAC of that run the terminal's latest boot timeline begun at or after the run started — the terminals that then
 * came up (a MAC with `boot: null` has not booted since). The composition root joins with the boot repository.
 */
import express, { type RequestHandler, type Router } from 'express';
import type { Logger } from 'pino';
import { apiErrorHandler } from '../api/errors.ts';
import type { Mac } from '../terminal/mac.ts';
import type { WakeScheduler } from './wake-scheduler.ts';

export interface WakeRunsDeps {
  scheduler: Pick<WakeScheduler, 'schedules'>;
  /** the latest boot of `mac` that began at or after `since`, if any (BootRepository) */
  bootSince: (mac: Mac, since: number) => unknown;
  guard: RequestHandler;
  logger: Logger;
}

export function createWakeRunsRouter(deps: WakeRunsDeps): Router {
  const r = express.Router();
  r.get('/wake/runs', deps.guard, (_req, res) => {
    res.json(
      deps.scheduler.schedules().map((s) => ({
        ...s,
        lastRun: s.lastRun && {
          ...s.lastRun,
          terminals: s.lastRun.macs.map((mac) => ({ mac, boot: deps.bootSince(mac, s.lastRun!.startedAt) ?? null })),
        },
      })),
    );
  });
  r.use(apiErrorHandler(deps.logger));
  return r;
}
