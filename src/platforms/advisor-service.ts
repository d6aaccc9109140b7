import type { Logger } from 'pino';
import { ClassAdvisor, type AdviceEvent, type ClassSample, type Recommendation } from './advisor.ts';
import { classSettings, type PlatformsConfig } from './config.ts';
import { envOf, postJson, runCommand } from './hooks.ts';
import type { PlatformsMetrics } from './metrics.ts';

/** What the advisor samples (PlatformRegistry implements it). */
export interface ClassLoadSource {
  classNames(): string[];
  classLoad(cls: string): ClassSample;
}

/** Hands one advice event to the operator's hooks; the default posts to advisor.webhookUrl and runs advisor.command. */
export type AdviceDelivery = (event: AdviceEvent) => Promise<void>;

export interface ScalingAdvisorDeps {
  source: ClassLoadSource;
  config: Readonly<PlatformsConfig>;
  now: () => number;
  logger: Logger;
  metrics: PlatformsMetrics;
  deliver?: AdviceDelivery;
  /** told of every event as it is made (the wake-before-needed path, the API's event stream) */
  onAdvice?: (event: AdviceEvent) => void;
}

const KEPT_EVENTS = 200;

/**
 * Samples every class with a targetSessionsPerInstance each advisor.intervalMs, keeps its recommendation (API,
 * metrics) and delivers each advice event to the hooks. Delivery failures are logged and counted, never retried:
 * the next crossing makes a new event.
 */
export class ScalingAdvisor {
  private readonly advisors = new Map<string, ClassAdvisor>();
  private readonly current = new Map<string, Recommendation>();
  private readonly recent: AdviceEvent[] = [];
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly deps: ScalingAdvisorDeps) {
    this.log = deps.logger.child({ module: 'platforms-advisor' });
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.deps.config.advisor.intervalMs);
    this.timer.unref();
  }

  /** Stops sampling and waits for deliveries under way (each is bounded by hookTimeoutMs). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.inFlight]);
  }

  /** One sample of every class (the timer's work; tests call it with an injected clock). Returns the events made. */
  tick(): AdviceEvent[] {
    const now = this.deps.now();
    const made: AdviceEvent[] = [];
    for (const cls of this.deps.source.classNames()) {
      const target = classSettings(this.deps.config, cls).targetSessionsPerInstance;
      if (target === null) continue;
      let adv = this.advisors.get(cls);
      if (!adv || adv.target !== target) {
        adv = new ClassAdvisor(cls, this.deps.config.advisor, target);
        this.advisors.set(cls, adv);
      }
      const { recommendation, event } = adv.observe(now, this.deps.source.classLoad(cls));
      this.current.set(cls, recommendation);
      this.deps.metrics.desired.set({ class: cls }, recommendation.desired);
      this.deps.metrics.averageSessions.set({ class: cls }, recommendation.average);
      if (event) {
        made.push(event);
        this.emit(event);
      }
    }
    return made;
  }

  /** The latest recommendation of each advised class. */
  recommendations(): Recommendation[] {
    return [...this.current.values()];
  }

  /** The latest advice events, oldest first. */
  events(): readonly AdviceEvent[] {
    return this.recent;
  }

  private emit(event: AdviceEvent): void {
    this.recent.push(event);
    if (this.recent.length > KEPT_EVENTS) this.recent.shift();
    this.deps.metrics.advice.inc({ class: event.class, direction: event.direction });
    this.log.info({ advice: event }, `scaling advice for ${event.class}: ${event.why}`);
    this.deps.onAdvice?.(event);
    const p = (this.deps.deliver ?? this.defaultDelivery)(event)
      .catch((err: unknown) => this.log.warn({ err, class: event.class }, 'scaling advice not delivered'))
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  private readonly defaultDelivery: AdviceDelivery = async (event) => {
    const a = this.deps.config.advisor;
    const jobs: Array<Promise<void>> = [];
    const count = (hook: string) => (err: unknown) => {
      this.deps.metrics.hookFailures.inc({ hook });
      throw err;
    };
    if (a.webhookUrl) jobs.push(postJson(a.webhookUrl, event, a.hookTimeoutMs).catch(count('webhook')));
    if (a.command) jobs.push(runCommand(a.command, event, envOf('BOOTGATE_ADVICE_', { ...event }), a.hookTimeoutMs).catch(count('command')));
    const results = await Promise.allSettled(jobs);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  };
}
