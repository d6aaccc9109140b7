import { Router, type RequestHandler } from 'express';
import type { AdmissionQueue } from '../boot/admission.ts';

/**
 * GET /api/v1/boot/queue: the heavy-boot-phase admission queue (boot/admission.ts): who holds a slot, who
 * waits, in order, with each one's place and estimate. With admission off: `{ enabled: false }`.
 */
export function createBootQueueRouter(queue: AdmissionQueue | undefined, read: RequestHandler): Router {
  const r = Router();
  r.get('/boot/queue', read, (_req, res) => {
    res.json(queue ? queue.snapshot() : { enabled: false });
  });
  return r;
}
