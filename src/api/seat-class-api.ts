import { statfs } from 'node:fs/promises';
import express, { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import { BootgateError } from '../errors.ts';
import { apiErrorHandler } from './errors.ts';
import type { IdentityService } from '../identity/service.ts';
import { forecastFull, recommendOverlay } from '../overlay/sizing.ts';
import type { BootProfile } from '../http/ipxe-script.ts';
import type { SeatClassesView, SeatClassView } from '../ui/wire.ts';

export interface SeatClassApiDeps {
  service: IdentityService;
  /** the configured boot profiles (boot/policy.ts) */
  profiles: { names(): string[]; get(name: string): BootProfile | undefined; defaultName: string };
  /** iscsi.overlays.limitBytes */
  defaultLimitBytes: number | undefined;
  /** the overlay sizes recorded at the end of each image's iSCSI sessions, newest first */
  sizes: (image: string, limit: number) => number[];
  /** the total overlay bytes over time (OverlayWatch); absent without images */
  totals?: () => ReadonlyArray<{ at: number; bytes: number }>;
  /** where the overlays live (`<dataDir>/overlays`, or dataDir before the first overlay exists) */
  overlayDir: string;
  guard: { read: RequestHandler; write: RequestHandler };
  logger: Logger;
}

/** how many recent sessions the recommendation looks at */
const SAMPLE_LIMIT = 200;
const HOUR = 3_600_000;

function handle(fn: (req: Request, res: Response) => Promise<void>) {
  return (req: Request, res: Response, next: NextFunction): void => void fn(req, res).catch(next);
}

const imageOf = (p: BootProfile | undefined): string | null => (p && 'sanboot' in p ? p.sanboot : null);

/**
 * Seat classes (issue 13): a seat group's rate, boot profile and overlay bound, with the overlay size the measured
 * write-back of the profile's image suggests and the disk-full forecast. The forecast and the worst case are
 * warnings: nothing here refuses a boot. Admin only (the guards), every change an admin record (seat-class.set).
 */
export function createSeatClassRouter(deps: SeatClassApiDeps): Router {
  const r = Router();
  const recommend = (image: string) => recommendOverlay(deps.sizes(image, SAMPLE_LIMIT));
  const view = async (): Promise<SeatClassesView> => {
    const seats = deps.service.seats();
    const groups = deps.service.groups();
    const classes: SeatClassView[] = groups.map((g) => {
      const image = imageOf(deps.profiles.get(g.profile ?? deps.profiles.defaultName));
      return {
        name: g.name,
        rateMinorPerHour: g.rateMinorPerHour,
        profile: g.profile,
        image,
        overlayLimitBytes: g.overlayLimitBytes,
        seats: seats.filter((s) => s.group === g.name).length,
        recommendation: image === null ? null : recommend(image),
      };
    });
    const disk = await statfs(deps.overlayDir).then(
      (st) => ({ path: deps.overlayDir, freeBytes: st.bavail * st.bsize, totalBytes: st.blocks * st.bsize }),
      () => null,
    );
    const forecast = deps.totals && disk ? forecastFull(deps.totals(), disk.freeBytes, HOUR) : { bytesPerHour: null, hoursToFull: null };
    let worst: number | null = 0;
    for (const c of classes) {
      const bound = c.overlayLimitBytes ?? deps.defaultLimitBytes;
      if (bound === undefined) {
        if (c.seats > 0) worst = null;
      } else if (worst !== null) worst += bound * c.seats;
    }
    return {
      classes,
      profiles: deps.profiles.names().map((name) => {
        const image = imageOf(deps.profiles.get(name));
        return { name, image, recommendation: image === null ? null : recommend(image) };
      }),
      defaultProfile: deps.profiles.defaultName,
      defaultLimitBytes: deps.defaultLimitBytes ?? null,
      disk,
      forecast,
      worstCaseBytes: worst,
    };
  };
  r.get(
    '/seat-classes',
    deps.guard.read,
    handle(async (_req, res) => {
      res.json(await view());
    }),
  );
  r.put(
    '/seat-classes/:name',
    deps.guard.write,
    express.json({ limit: '4kb' }),
    handle(async (req, res) => {
      const name = String(req.params.name);
      const body = (req.body ?? {}) as Record<string, unknown>;
      for (const k of Object.keys(body))
        if (!['rateMinorPerHour', 'profile', 'overlayLimitBytes'].includes(k)) throw new BootgateError('VALIDATION', `unknown field ${k}`);
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name))
        throw new BootgateError('VALIDATION', `class name ${JSON.stringify(name)}: letters, digits, . _ -`);
      const rate = body.rateMinorPerHour;
      if (!Number.isSafeInteger(rate) || (rate as number) < 0)
        throw new BootgateError('VALIDATION', 'rateMinorPerHour: a non-negative integer of minor units');
      const profile = body.profile ?? null;
      if (profile !== null && (typeof profile !== 'string' || !deps.profiles.names().includes(profile)))
        throw new BootgateError('VALIDATION', `profile ${JSON.stringify(profile)} is not under profiles (${deps.profiles.names().join(', ')})`);
      const limit = body.overlayLimitBytes ?? null;
      if (limit !== null && (!Number.isSafeInteger(limit) || (limit as number) < 2 ** 20))
        throw new BootgateError('VALIDATION', 'overlayLimitBytes: an integer of at least 1048576 (1 MiB), or null');
      await deps.service.setSeatClass(String(res.locals.actor ?? 'unknown'), {
        name,
        rateMinorPerHour: rate as number,
        profile: profile as string | null,
        overlayLimitBytes: limit as number | null,
      });
      res.json(await view());
    }),
  );
  r.use(apiErrorHandler(deps.logger));
  return r;
}
