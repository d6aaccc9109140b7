import type { Logger } from 'pino';
import type { Mac } from '../terminal/mac.ts';
import type { PlatformsConfig } from './config.ts';
import type { PlatformsMetrics } from './metrics.ts';
import { nextDailyTime, parseDailyTime, type DailyTime } from './wol.ts';

/** One `platforms.wol.schedules` entry as configured. */
export type WakeSchedule = PlatformsConfig['wol']['schedules'][number];

/** The seats a schedule's target names: every seat for 'all', else the seats of that group (the composition root). */
export type WakeTargets = (target: string) => Mac[];

/** What sends the packets (WolSender). */
export interface WakeSender {
  wakeAll(macs: readonly Mac[], spreadMs: number): Promise<{ sent: number; failed: number }>;
}

export interface WakeTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface WakeRun {
  /** the schedule's index in wol.schedules */
  schedule: number;
  at: string;
  days: string;
  target: string;
  spreadMs: number;
  /** when the run began; the terminals that boot after it are the ones that came up */
  startedAt: number;
  /** null while the packets are still being spread */
  finishedAt: number | null;
  macs: Mac[];
  sent: number;
  failed: number;
  error: string | null;
}

export interface WakeSchedulerDeps {
  schedules: readonly WakeSchedule[];
  targets: WakeTargets;
  sender: WakeSender;
  now: () => number;
  logger: Logger;
  metrics: PlatformsMetrics;
  /** default setTimeout/clearTimeout (unref'd); tests pass a fake clock's */
  timers?: WakeTimers;
  /** the zone's offset from UTC at an instant; default the process's local zone */
  offsetMinutes?: (at: number) => number;
}

const realTimers: WakeTimers = {
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Longest single wait (setTimeout's limit is 2^31 − 1 ms); a longer one is re-armed when it ends. */
const MAX_WAIT_MS = 2 ** 31 - 1;

interface Slot {
  index: number;
  schedule: WakeSchedule;
  time: DailyTime;
  dueAt: number | null;
  timer: unknown;
  running: Promise<WakeRun> | null;
  last: WakeRun | null;
}

/**
 * The scheduled wake-up (`platforms.wol.schedules`, e.g. every morning before opening): at each entry's daily time it
 * resolves the target to seat MACs, sends them magic packets spread over spreadMs (WolSender.wakeAll, so the wake-up
 * is not itself a boot storm), logs and counts the run, and keeps the last run of each entry with its MACs, so the
 * API can show which terminals then came up (their boot timelines after `startedAt`).
 */
export class WakeScheduler {
  private readonly slots: Slot[];
  private readonly timers: WakeTimers;
  private readonly log: Logger;
  private started = false;

  constructor(private readonly deps: WakeSchedulerDeps) {
    this.timers = deps.timers ?? realTimers;
    this.log = deps.logger.child({ module: 'platforms-wake' });
    this.slots = deps.schedules.map((schedule, index) => ({
      index,
      schedule,
      time: parseDailyTime(schedule.at, schedule.days), // config validated the time; the days throw here, at build
      dueAt: null,
      timer: undefined,
      running: null,
      last: null,
    }));
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const s of this.slots) this.arm(s, this.deps.now());
  }

  /**
   * Clears the timers. A run still spreading its packets is not waited for (a spread may last an hour): the sender's
   * stop(), after this one, cancels the packets not yet sent.
   */
  stop(): void {
    this.started = false;
    for (const s of this.slots) {
      this.timers.clear(s.timer);
      s.timer = undefined;
      s.dueAt = null;
    }
  }

  /** Runs schedule `index` now (the timer's work; exposed for tests and an operator's "run now"). */
  run(index: number): Promise<WakeRun> {
    const s = this.slots[index];
    if (!s) return Promise.reject(new RangeError(`no wake schedule ${index}`));
    if (s.running) return s.running; // a run still spreading its packets is not doubled
    const p = this.execute(s).finally(() => {
      s.running = null;
    });
    s.running = p;
    return p;
  }

  /** The last run of every schedule that has run, in schedule order. */
  lastRuns(): WakeRun[] {
    return this.slots.flatMap((s) => (s.last ? [{ ...s.last, macs: [...s.last.macs] }] : []));
  }

  /** Every schedule with its next time (null when stopped) and its last run. */
  schedules(): Array<WakeSchedule & { schedule: number; nextAt: number | null; lastRun: WakeRun | null }> {
    return this.slots.map((s) => ({ ...s.schedule, schedule: s.index, nextAt: s.dueAt, lastRun: s.last && { ...s.last } }));
  }

  private arm(s: Slot, after: number): void {
    if (!this.started) return;
    s.dueAt = nextDailyTime(s.time, after, this.deps.offsetMinutes);
    this.wait(s);
  }

  private wait(s: Slot): void {
    const due = s.dueAt!;
    s.timer = this.timers.set(
      () => {
        s.timer = undefined;
        if (!this.started) return;
        const now = this.deps.now();
        // a timer may end early (a capped wait, a clock stepped back): wait for the rest
        if (now < due) return this.wait(s);
        void this.run(s.index);
        // the next time strictly after this one, even if the timer ended late: never twice for one time
        this.arm(s, Math.max(now, due));
      },
      Math.min(MAX_WAIT_MS, Math.max(0, due - this.deps.now())),
    );
  }

  private async execute(s: Slot): Promise<WakeRun> {
    const { at, days, target, spreadMs } = s.schedule;
    const run: WakeRun = {
      schedule: s.index,
      at,
      days,
      target,
      spreadMs,
      startedAt: this.deps.now(),
      finishedAt: null,
      macs: [],
      sent: 0,
      failed: 0,
      error: null,
    };
    s.last = run;
    try {
      run.macs = [...this.deps.targets(target)];
    } catch (err) {
      return this.finish(run, 'failed', `targets: ${(err as Error).message}`);
    }
    if (run.macs.length === 0) {
      this.log.warn({ schedule: s.index, target }, `scheduled wake ${at}: no seats in ${target}`);
      return this.finish(run, 'empty', `no seats in ${target}`);
    }
    this.log.info({ schedule: s.index, target, terminals: run.macs.length, spreadMs }, `scheduled wake ${at}: waking ${target}`);
    try {
      const r = await this.deps.sender.wakeAll(run.macs, spreadMs);
      run.sent = r.sent;
      run.failed = r.failed;
    } catch (err) {
      run.failed = run.macs.length;
      return this.finish(run, 'failed', (err as Error).message);
    }
    return this.finish(run, run.failed === 0 ? 'sent' : run.sent === 0 ? 'failed' : 'partial', null);
  }

  private finish(run: WakeRun, result: 'sent' | 'partial' | 'failed' | 'empty', error: string | null): WakeRun {
    run.finishedAt = this.deps.now();
    run.error = error;
    this.deps.metrics.scheduledWakes.inc({ result });
    const fields = { schedule: run.schedule, target: run.target, sent: run.sent, failed: run.failed, result };
    if (result === 'sent') this.log.info(fields, `scheduled wake ${run.at}: ${run.sent} magic packets sent`);
    else if (result !== 'empty') this.log.warn({ ...fields, error }, `scheduled wake ${run.at}: ${result}`);
    return run;
  }
}
