/**
 * Prefill (docs/cache.md): a list of URLs fetched into the cache ahead of the room — overnight, under a bandwidth cap
 * — exactly as a terminal's GET would fill it (same keys, slices, coalescing, verification), with nobody reading.
 * One job at a time, the URLs in order. The cap is on origin bytes: after each part of a body, the job waits until
 * the origin bytes so far fit `bytesPerSecond` since it started, so slices are started no faster than the cap
 * allows (each slice itself arrives at the origin's speed: the average is capped, at slice granularity). Parts that
 * come from the store cost no wait.
 */
import { BootgateError } from '../errors.ts';
import type { CacheClock } from './fetcher.ts';

export interface PrefillItem {
  url: string;
  state: 'pending' | 'running' | 'done' | 'skipped' | 'failed';
  /** body bytes of the object taken (from the store or the origin) */
  bytes: number;
  /** of those, from the origin */
  originBytes: number;
  /** why skipped or failed */
  reason?: string;
}

export interface PrefillJob {
  id: number;
  startedAt: string;
  finishedAt?: string;
  bytesPerSecond: number;
  items: PrefillItem[];
}

/** What prefill needs of the cache (EdgeCache): the GET a terminal would send, answered. */
export interface PrefillTarget {
  /** resolves with the body and its counters, or rejects (CACHE_* or VALIDATION) before any byte */
  fetchUrl(url: string): Promise<{ body: AsyncIterable<{ length: number }>; served: { store: number; origin: number } }>;
}

export class Prefiller {
  private job: PrefillJob | undefined;
  private running: Promise<void> | undefined;
  private seq = 0;

  constructor(
    private readonly target: PrefillTarget,
    private readonly clock: CacheClock,
  ) {}

  /** The running or last job (undefined: none since start). */
  status(): PrefillJob | undefined {
    return this.job;
  }

  /** Starts a job; CONFLICT while one runs. `done` settles when every URL was tried. */
  start(urls: readonly string[], bytesPerSecond: number): { job: PrefillJob; done: Promise<void> } {
    if (this.running) throw new BootgateError('PREFILL_RUNNING', `prefill job ${this.job!.id} is still running`);
    if (urls.length === 0) throw new BootgateError('VALIDATION', 'prefill needs at least one URL');
    if (!(bytesPerSecond > 0)) throw new BootgateError('VALIDATION', `prefill bytesPerSecond must be positive, not ${bytesPerSecond}`);
    const job: PrefillJob = {
      id: ++this.seq,
      startedAt: new Date(this.clock.now()).toISOString(),
      bytesPerSecond,
      items: urls.map((url) => ({ url, state: 'pending', bytes: 0, originBytes: 0 })),
    };
    this.job = job;
    const done = this.run(job).finally(() => {
      job.finishedAt = new Date(this.clock.now()).toISOString();
      this.running = undefined;
    });
    this.running = done;
    return { job, done };
  }

  private async run(job: PrefillJob): Promise<void> {
    const t0 = this.clock.now();
    let origin = 0; // origin bytes of the whole job, the budget's measure
    for (const item of job.items) {
      item.state = 'running';
      let res: Awaited<ReturnType<PrefillTarget['fetchUrl']>>;
      try {
        res = await this.target.fetchUrl(item.url);
      } catch (e) {
        const skip = e instanceof BootgateError && (e.code === 'VALIDATION' || e.code === 'CACHE_BYPASS');
        item.state = skip ? 'skipped' : 'failed';
        item.reason = (e as Error).message;
        continue;
      }
      try {
        for await (const part of res.body) {
          item.bytes += part.length;
          const gained = res.served.origin - item.originBytes;
          item.originBytes = res.served.origin;
          origin += gained;
          // the cap: origin bytes so far may not be ahead of bytesPerSecond × elapsed
          const due = t0 + (origin / job.bytesPerSecond) * 1000 - this.clock.now();
          if (gained > 0 && due > 0) await new Promise<void>((r) => this.clock.timers.set(r, due));
        }
        item.state = 'done';
      } catch (e) {
        item.state = 'failed';
        item.reason = (e as Error).message;
      }
    }
  }
}
