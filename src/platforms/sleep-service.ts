import type { Logger } from 'pino';
import { parseMac, type Mac } from '../terminal/mac.ts';
import type { Recommendation } from './advisor.ts';
import { heartbeatTtlMs, type PlatformsConfig } from './config.ts';
import { envOf, postJson, runCommand } from './hooks.ts';
import type { PlatformsMetrics } from './metrics.ts';
import type { ChangeResult, InstanceView } from './registry.ts';
import { IdlePlanner } from './sleep.ts';

/** What the sleep service reads and marks (PlatformRegistry). */
export interface SleepRegistry {
  list(): InstanceView[];
  setSleeping(id: string, sleeping: boolean): ChangeResult;
}

/** The advisor's latest recommendation per advised class (ScalingAdvisor). */
export interface SleepAdvice {
  recommendations(): Recommendation[];
}

/** Sends one magic packet (WolSender). */
export interface InstanceWaker {
  send(mac: Mac): Promise<void>;
}

export interface SleepServiceDeps {
  registry: SleepRegistry;
  advice: SleepAdvice;
  waker: InstanceWaker;
  config: Readonly<PlatformsConfig>;
  now: () => number;
  logger: Logger;
  metrics: PlatformsMetrics;
  /** hooks.ts by default; tests pass fakes */
  postJson?: typeof postJson;
  runCommand?: typeof runCommand;
}

/** What the sleep and wake hooks are given: the instance, as JSON on stdin / in the POST body, and as BOOTGATE_PLATFORM_* */
export interface InstanceAction {
  action: 'sleep' | 'wake';
  id: string;
  class: string;
  name: string;
  url: string;
  mac: Mac | null;
}

interface Asleep {
  id: string;
  class: string;
  name: string;
  sleptAt: number;
  /** seen not healthy since it was told to sleep: it really went down */
  wentDown: boolean;
  /** when it was last woken (null: not asked to wake) */
  wakeAt: number | null;
}

export interface SleepingView {
  id: string;
  class: string;
  name: string;
  sleptAt: number;
  wakeAt: number | null;
}

/**
 * Sleep/wake of idle instances (`platforms.sleep`), every advisor.intervalMs:
 *
 * - **Sleep.** IdlePlanner names the instances idle (healthy, no session, nothing sent) for sleep.idleMs; the class
 *   keeps max(advisor.minInstances, the advisor's desired count) awake, so putting one to sleep never makes the
 *   advisor ask for it back. Only advised classes (targetSessionsPerInstance set) sleep, since only their advice can
 *   wake them, and only instances that can be both told (their `sleepUrl`, else `sleep.command`) and woken (their
 *   `mac`, else `sleep.wakeCommand`). The instance is marked sleeping in the registry (no new traffic, not awake for
 *   the advisor) before it is told, so no request lands on it meanwhile; if telling it fails it is awake again.
 * - **Wake.** When a class's recommendation wants more instances than are awake (and being woken), the longest
 *   asleep are woken: a magic packet to the `mac` (WolSender), else `sleep.wakeCommand`. The advisor advises
 *   scale-out at the target per instance, before the awake ones are full, so the instance is woken before it is
 *   needed. One not healthy within sleep.wakeTimeoutMs is woken again.
 * - **Back.** A sleeping instance is awake again (setSleeping false) at its first healthy sample after it went down or
 *   after it was woken; one still healthy a TTL + one interval after it was told to sleep did not sleep, and is
 *   awake again too (and counted as a failed sleep).
 *
 * Sleeping is not stored: after a restart a sleeping instance is unhealthy (silent) until it heartbeats, which is
 * the same thing for the traffic; the advisor then counts it as missing and the operator's hooks see that.
 */
export class SleepService {
  private readonly planner: IdlePlanner | null;
  private readonly asleep = new Map<string, Asleep>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: SleepServiceDeps) {
    const { sleep, advisor } = deps.config;
    this.planner = sleep.idleMs === null ? null : new IdlePlanner(sleep.idleMs, advisor.minInstances);
    this.log = deps.logger.child({ module: 'platforms-sleep' });
  }

  start(): void {
    if (this.timer || !this.planner) return;
    this.timer = setInterval(() => this.tick(), this.deps.config.advisor.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for hooks under way (each bounded by advisor.hookTimeoutMs). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.inFlight]);
  }

  /** The instances asleep now. */
  sleeping(): SleepingView[] {
    return [...this.asleep.values()].map(({ id, class: cls, name, sleptAt, wakeAt }) => ({ id, class: cls, name, sleptAt, wakeAt }));
  }

  /** One round (the timer's work; tests call it with an injected clock). Returns what it set in motion. */
  tick(): { slept: string[]; woken: string[]; back: string[] } {
    const out = { slept: [] as string[], woken: [] as string[], back: [] as string[] };
    if (!this.planner) return out;
    const now = this.deps.now();
    const views = new Map(this.deps.registry.list().map((v) => [v.id, v]));
    const recs = new Map(this.deps.advice.recommendations().map((r) => [r.class, r]));
    this.followSleepers(now, views, out.back);
    this.wakeForDemand(now, views, recs, out.woken);
    this.putIdleToSleep(now, views, recs, out.slept);
    this.updateGauge();
    return out;
  }

  private followSleepers(now: number, views: Map<string, InstanceView>, back: string[]): void {
    const didNotSleepAfter = heartbeatTtlMs(this.deps.config) + this.deps.config.health.intervalMs;
    for (const a of [...this.asleep.values()]) {
      const v = views.get(a.id);
      if (!v) {
        this.asleep.delete(a.id); // removed meanwhile
        continue;
      }
      // down since it was told, even between two rounds: its health changed after that
      if (v.health.status !== 'healthy' || v.health.since > a.sleptAt) a.wentDown = true;
      if (v.health.status !== 'healthy') continue;
      if (!a.wentDown && now - a.sleptAt <= didNotSleepAfter) continue; // still going down
      this.asleep.delete(a.id);
      this.deps.registry.setSleeping(a.id, false);
      if (a.wentDown || a.wakeAt !== null) {
        this.deps.metrics.sleepActions.inc({ class: a.class, action: 'awake', result: 'ok' });
        this.log.info({ id: a.id, class: a.class, name: a.name, asleepMs: now - a.sleptAt }, 'platform instance back from sleep');
      } else {
        this.deps.metrics.sleepActions.inc({ class: a.class, action: 'sleep', result: 'failed' });
        this.log.warn({ id: a.id, class: a.class, name: a.name }, 'platform instance told to sleep is still up: counted awake again');
      }
      back.push(a.id);
    }
  }

  private wakeForDemand(now: number, views: Map<string, InstanceView>, recs: Map<string, Recommendation>, woken: string[]): void {
    const timeout = this.deps.config.sleep.wakeTimeoutMs;
    for (const [cls, rec] of recs) {
      const sleepers = [...this.asleep.values()].filter((a) => a.class === cls).sort((x, y) => x.sleptAt - y.sleptAt || cmp(x.id, y.id));
      if (sleepers.length === 0) continue;
      const waking = sleepers.filter((a) => a.wakeAt !== null && now - a.wakeAt < timeout).length;
      // awake now (the recommendation's own count may be a round old)
      const awake = [...views.values()].filter((v) => v.class === cls && v.health.status === 'healthy' && !v.health.drained && !v.sleeping).length;
      let need = rec.desired - awake - waking;
      for (const a of sleepers) {
        if (need <= 0) break;
        if (a.wakeAt !== null && now - a.wakeAt < timeout) continue;
        const v = views.get(a.id)!;
        const retry = a.wakeAt !== null;
        a.wakeAt = now;
        need -= 1;
        woken.push(a.id);
        this.log.info({ id: a.id, class: cls, name: a.name, desired: rec.desired, awake, retry }, 'waking a sleeping platform instance');
        this.act(this.action('wake', v), 'wake');
      }
    }
  }

  private putIdleToSleep(now: number, views: Map<string, InstanceView>, recs: Map<string, Recommendation>, slept: string[]): void {
    const candidates = [...views.values()]
      .filter((v) => recs.has(v.class))
      .map((v) => ({
        canSleep: !this.asleep.has(v.id) && this.canSleep(v),
        id: v.id,
        class: v.class,
        healthy: v.health.status === 'healthy',
        drained: v.health.drained || v.sleeping,
        activeSessions: v.activeSessions,
        sentSinceHeartbeat: v.sentSinceHeartbeat,
      }));
    // only as far as the advisor's desired count allows, so a sleep is never undone by the next round's advice
    const due = this.planner!.observe(now, candidates, (cls) => recs.get(cls)?.desired ?? Infinity);
    for (const id of due) {
      const v = views.get(id)!;
      const marked = this.deps.registry.setSleeping(id, true); // before it is told: nothing new lands on it
      if (!marked.ok) continue;
      this.asleep.set(id, { id, class: v.class, name: v.name, sleptAt: now, wentDown: false, wakeAt: null });
      slept.push(id);
      this.log.info({ id, class: v.class, name: v.name, idleMs: this.deps.config.sleep.idleMs }, 'telling an idle platform instance to sleep');
      this.act(this.action('sleep', v), 'sleep', () => {
        // it was not told: it is still awake
        if (this.asleep.get(id)?.sleptAt !== now) return;
        this.asleep.delete(id);
        this.deps.registry.setSleeping(id, false);
        this.updateGauge();
      });
    }
  }

  /** Both ends are needed: a way to tell it to sleep and a way to wake it. */
  private canSleep(v: InstanceView): boolean {
    const s = this.deps.config.sleep;
    const st = this.staticOf(v);
    return (st?.sleepUrl !== undefined || s.command !== undefined) && (st?.mac !== undefined || s.wakeCommand !== undefined);
  }

  private staticOf(v: InstanceView) {
    return v.source === 'config' ? this.deps.config.instances.find((i) => i.class === v.class && i.name === v.name) : undefined;
  }

  private action(action: 'sleep' | 'wake', v: InstanceView): InstanceAction {
    const mac = this.staticOf(v)?.mac;
    return { action, id: v.id, class: v.class, name: v.name, url: v.url, mac: mac === undefined ? null : parseMac(mac) };
  }

  private act(a: InstanceAction, kind: 'sleep' | 'wake', onFailure?: () => void): void {
    const p = this.perform(a)
      .then(() => this.deps.metrics.sleepActions.inc({ class: a.class, action: kind, result: 'ok' }))
      .catch((err: unknown) => {
        this.deps.metrics.sleepActions.inc({ class: a.class, action: kind, result: 'failed' });
        this.log.warn({ err, id: a.id, class: a.class, name: a.name }, `platform instance ${kind} failed`);
        onFailure?.();
      })
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  private async perform(a: InstanceAction): Promise<void> {
    const s = this.deps.config.sleep;
    const timeoutMs = this.deps.config.advisor.hookTimeoutMs;
    const post = this.deps.postJson ?? postJson;
    const run = this.deps.runCommand ?? runCommand;
    const env = envOf('BOOTGATE_PLATFORM_', { ...a });
    const st = this.deps.config.instances.find((i) => i.class === a.class && i.name === a.name);
    if (a.action === 'sleep') {
      if (st?.sleepUrl) return post(st.sleepUrl, a, timeoutMs);
      return run(s.command!, a, env, timeoutMs);
    }
    if (a.mac) return this.deps.waker.send(a.mac);
    return run(s.wakeCommand!, a, env, timeoutMs);
  }

  private updateGauge(): void {
    const perClass = new Map<string, number>();
    for (const v of this.deps.registry.list()) perClass.set(v.class, perClass.get(v.class) ?? 0);
    for (const a of this.asleep.values()) perClass.set(a.class, (perClass.get(a.class) ?? 0) + 1);
    for (const [cls, n] of perClass) this.deps.metrics.sleeping.set({ class: cls }, n);
  }
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
