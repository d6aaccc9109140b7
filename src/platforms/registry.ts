import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { HeartbeatRecord, PlatformInstanceRecord, PlatformRepository, PlatformSource } from '../store/platform-repository.ts';
import {
  capacityField,
  classSettings,
  platformClassField,
  platformNameField,
  platformUrlField,
  weightField,
  type PlatformsConfig,
} from './config.ts';
import { InstanceHealth, type HealthSnapshot, type HealthStatus } from './health.ts';
import { heartbeatBodySchema, instanceTokenMatches, newInstanceToken } from './heartbeat.ts';
import type { PlatformsMetrics } from './metrics.ts';
import { httpHealthProbe, type HealthProbe } from './probe.ts';
import { loadOf, select, type Candidate, type ChoiceReason, type NoChoiceReason } from './selector.ts';

export interface PlatformRegistryDeps {
  repository: PlatformRepository;
  config: Readonly<PlatformsConfig>;
  now: () => number;
  logger: Logger;
  metrics: PlatformsMetrics;
  /** uniform in [0, 1); default Math.random (tests pass selector.ts seededRandom) */
  random?: () => number;
  /** active health check; default HTTP(S) GET (probe.ts) */
  probe?: HealthProbe;
  /** an instance was deregistered by the sweep (deregisterAfterMs): what follows the registry catches up */
  onDeregistered?: (id: string) => void;
}

/** What `add` accepts (the CLI and the API pass their input as is; it is validated here). */
export const addInstanceSchema = z.strictObject({
  class: platformClassField,
  name: platformNameField,
  url: platformUrlField,
  capacity: capacityField,
  weight: weightField.default(1),
});
export type AddInstanceInput = z.input<typeof addInstanceSchema>;

export type AddResult = { ok: true; id: string; token: string } | { ok: false; error: 'bad-input' | 'duplicate-name'; message: string };
export type ChangeResult = { ok: true } | { ok: false; error: 'unknown-instance' | 'config-instance'; message: string };
export type HeartbeatResult = { ok: true } | { ok: false; error: 'unknown-instance' | 'bad-token' | 'bad-body'; message: string };

export interface InstanceRef {
  id: string;
  class: string;
  name: string;
  url: string;
}

export type Decision =
  | { ok: true; class: string; instance: InstanceRef; reason: ChoiceReason; panic: boolean; load: number; mode: 'redirect' | 'proxy' }
  | { ok: false; class: string; reason: NoChoiceReason; retryAfterSeconds: number; message: string };

export interface InstanceView extends InstanceRef {
  capacity: number;
  weight: number;
  source: PlatformSource;
  createdAt: number;
  health: HealthSnapshot;
  /** weight × slow-start factor */
  effectiveWeight: number;
  /** as the selector sees it now */
  load: number;
  activeSessions: number;
  sentSinceHeartbeat: number;
  heartbeat: HeartbeatRecord | null;
  decisions: number;
  /** this instance's fraction of its class's decisions (0 when the class has none) */
  trafficShare: number;
  /** put to sleep by bootgate (sleep-service.ts) and not back yet: no new traffic, as drained; not stored */
  sleeping: boolean;
}

/** An instance as the selector sees it, refreshed in place at each choice (no allocation per request). */
type EntryCandidate = Candidate & { entry: Entry };

interface Entry {
  rec: PlatformInstanceRecord;
  /** what decisions hand out (id, class, name, url: fixed for the entry's life) */
  ref: InstanceRef;
  cand: EntryCandidate;
  /** prom-client children of the decision counter, by reason (labels hashed once, not per request) */
  counters: Partial<Record<ChoiceReason, { inc(): void }>>;
  health: InstanceHealth;
  poll: { url: string; expectedStatus: number; timeoutMs: number } | null;
  /** requests sent since the last accepted heartbeat (counted as load until the next one reports them) */
  sent: number;
  /** decisions not yet added to the store */
  unflushed: number;
  polling: boolean;
  lastStatus: HealthStatus;
  sleeping: boolean;
}

/**
 * The service-platform registry: instances from config, CLI and API (in the store), their health, and the choice
 * of an instance per request. The constructor reads the store and brings the config instances in step (usable from
 * a CLI process without start()); start() adds the timers: the health sweep (TTL, metrics, decision counters to
 * the store, deregistration) and the active health polls, both every health.intervalMs.
 */
export class PlatformRegistry {
  private readonly entries = new Map<string, Entry>();
  /** each class's candidates in id order (the selector's order), kept in step with `entries` */
  private readonly byClass = new Map<string, EntryCandidate[]>();
  /** `${class}\0${sessionKey}` → instance id */
  private readonly affinity = new Map<string, string>();
  private readonly log: Logger;
  private readonly random: () => number;
  private readonly probe: HealthProbe;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: PlatformRegistryDeps) {
    this.log = deps.logger.child({ module: 'platforms' });
    this.random = deps.random ?? Math.random;
    this.probe = deps.probe ?? httpHealthProbe;
    this.syncConfigInstances();
    for (const rec of deps.repository.all()) this.index(this.entryFor(rec));
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.deps.config.health.intervalMs);
    this.timer.unref();
    this.tick();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.flushDecisions();
  }

  add(input: AddInstanceInput): AddResult {
    const parsed = addInstanceSchema.safeParse(input);
    if (!parsed.success) return { ok: false, error: 'bad-input', message: issuesText(parsed.error) };
    const f = parsed.data;
    if (this.deps.repository.findByName(f.class, f.name))
      return { ok: false, error: 'duplicate-name', message: `class ${f.class} already has an instance named ${f.name}` };
    const { token, hash } = newInstanceToken();
    const rec = { id: randomUUID(), ...f, tokenHash: hash, source: 'api' as const, createdAt: this.deps.now() };
    this.deps.repository.insert(rec);
    this.index(this.entryFor({ ...rec, drained: false, heartbeat: null, decisions: 0 }));
    this.log.info({ id: rec.id, class: f.class, name: f.name, url: f.url }, 'platform instance added');
    return { ok: true, id: rec.id, token };
  }

  /** A new heartbeat token for an instance (the old one stops working); how a config instance gets one. */
  rotateToken(id: string): { ok: true; token: string } | { ok: false; error: 'unknown-instance'; message: string } {
    const e = this.entries.get(id);
    if (!e) return { ok: false, error: 'unknown-instance', message: `no platform instance ${id}` };
    const { token, hash } = newInstanceToken();
    this.deps.repository.setTokenHash(id, hash);
    e.rec = { ...e.rec, tokenHash: hash };
    return { ok: true, token };
  }

  remove(id: string): ChangeResult {
    const e = this.entries.get(id);
    if (!e) return { ok: false, error: 'unknown-instance', message: `no platform instance ${id}` };
    if (e.rec.source === 'config')
      return { ok: false, error: 'config-instance', message: `instance ${id} comes from the configuration; remove it there` };
    this.deps.repository.remove(id);
    this.forget(e);
    this.log.info({ id, class: e.rec.class, name: e.rec.name }, 'platform instance removed');
    return { ok: true };
  }

  drain(id: string): ChangeResult {
    return this.setDrained(id, true);
  }

  undrain(id: string): ChangeResult {
    return this.setDrained(id, false);
  }

  /**
   * Marks an instance asleep (bootgate told it to sleep: it gets nothing new, as if drained, and does not count as
   * awake for the advisor) or awake again. Kept in memory only: after a restart a sleeping instance is simply
   * unhealthy until it heartbeats.
   */
  setSleeping(id: string, sleeping: boolean): ChangeResult {
    const e = this.entries.get(id);
    if (!e) return { ok: false, error: 'unknown-instance', message: `no platform instance ${id}` };
    if (e.sleeping !== sleeping)
      this.log.info({ id, class: e.rec.class, name: e.rec.name }, sleeping ? 'platform instance asleep' : 'platform instance awake');
    e.sleeping = sleeping;
    return { ok: true };
  }

  /** An instance's heartbeat. A refused one (unknown id, wrong token, bad body) changes nothing. */
  heartbeat(id: string, bearerToken: string | undefined, body: unknown): HeartbeatResult {
    const refuse = (error: 'unknown-instance' | 'bad-token' | 'bad-body', message: string): HeartbeatResult => {
      this.deps.metrics.heartbeats.inc({ result: error });
      return { ok: false, error, message };
    };
    const e = this.entries.get(id);
    if (!e) return refuse('unknown-instance', `no platform instance ${id}`);
    if (bearerToken === undefined || !instanceTokenMatches(bearerToken, e.rec.tokenHash))
      return refuse('bad-token', 'missing or wrong bearer token for this instance');
    const parsed = heartbeatBodySchema.safeParse(body);
    if (!parsed.success) return refuse('bad-body', issuesText(parsed.error));
    const b = parsed.data;
    const hb: HeartbeatRecord = {
      at: this.deps.now(),
      activeSessions: b.activeSessions,
      cpu: b.cpu,
      memory: b.memory,
      bandwidthBps: b.bandwidthBps ?? null,
      state: b.state ?? 'ready',
    };
    this.deps.repository.saveHeartbeat(id, hb); // committed before the reply (load survives restart)
    e.rec = { ...e.rec, heartbeat: hb };
    e.sent = 0;
    e.health.heartbeat(hb.at, hb.state);
    this.deps.metrics.heartbeats.inc({ result: 'accepted' });
    this.noteTransition(e, hb.at);
    return { ok: true };
  }

  /**
   * Chooses the instance for one request of `cls` and counts it. With the class's affinity on, a `sessionKey` (the
   * seat's cashier session) stays on the instance first chosen for it while that one is healthy and not drained.
   */
  choose(cls: string, opts: { seat?: string; sessionKey?: string } = {}): Decision {
    const now = this.deps.now();
    const settings = classSettings(this.deps.config, cls);
    const cands = this.byClass.get(cls) ?? NO_CANDIDATES;
    for (const c of cands) this.candidate(c.entry, now);
    const key = settings.affinity && opts.sessionKey !== undefined ? `${cls}\0${opts.sessionKey}` : undefined;
    const stickyId = key === undefined ? undefined : this.affinity.get(key);
    const choice = select(cands, { random: this.random, panicThreshold: this.deps.config.panicThreshold, stickyId });
    if (!choice.ok) {
      if (key !== undefined) this.affinity.delete(key);
      this.deps.metrics.unavailable.inc({ class: cls, reason: choice.reason });
      return {
        ok: false,
        class: cls,
        reason: choice.reason,
        retryAfterSeconds: settings.retryAfterSeconds,
        message: unavailableText(cls, choice.reason),
      };
    }
    const e = choice.instance.entry;
    e.sent += 1;
    e.unflushed += 1;
    if (key !== undefined) this.affinity.set(key, e.rec.id);
    (e.counters[choice.reason] ??= this.deps.metrics.decisionCounts.slot({ class: cls, instance: e.rec.name, reason: choice.reason })).inc();
    if (choice.panic) this.deps.metrics.panics.inc({ class: cls });
    return { ok: true, class: cls, instance: e.ref, reason: choice.reason, panic: choice.panic, load: choice.load, mode: settings.mode };
  }

  /** Ends the affinity of a cashier session (its close), in every class. */
  releaseSession(sessionKey: string): void {
    for (const k of [...this.affinity.keys()]) if (k.endsWith(`\0${sessionKey}`)) this.affinity.delete(k);
  }

  get(id: string): InstanceView | undefined {
    const e = this.entries.get(id);
    return e && this.list().find((v) => v.id === e.rec.id);
  }

  /** Every instance with its health, load and traffic share, ordered by class and name. */
  list(): InstanceView[] {
    const now = this.deps.now();
    const totals = new Map<string, number>();
    for (const e of this.entries.values()) totals.set(e.rec.class, (totals.get(e.rec.class) ?? 0) + e.rec.decisions + e.unflushed);
    return [...this.entries.values()]
      .sort((a, b) => (a.rec.class === b.rec.class ? cmp(a.rec.name, b.rec.name) : cmp(a.rec.class, b.rec.class)))
      .map((e) => {
        const health = e.health.snapshot(now);
        const c = this.candidate(e, now);
        const decisions = e.rec.decisions + e.unflushed;
        const total = totals.get(e.rec.class) ?? 0;
        return {
          ...ref(e.rec),
          capacity: e.rec.capacity,
          weight: e.rec.weight,
          source: e.rec.source,
          createdAt: e.rec.createdAt,
          health,
          effectiveWeight: e.rec.weight * c.weightFactor,
          load: loadOf(c),
          activeSessions: c.activeSessions,
          sentSinceHeartbeat: e.sent,
          heartbeat: e.rec.heartbeat,
          decisions,
          trafficShare: total === 0 ? 0 : decisions / total,
          sleeping: e.sleeping,
        };
      });
  }

  /** Classes that have instances or settings. */
  classNames(): string[] {
    const names = new Set(Object.keys(this.deps.config.classes));
    for (const e of this.entries.values()) names.add(e.rec.class);
    return [...names].sort(cmp);
  }

  /** What the scaling advisor samples: healthy, non-drained instances and the sessions of the healthy ones. */
  classLoad(cls: string): { current: number; activeSessions: number } {
    const now = this.deps.now();
    let current = 0;
    let activeSessions = 0;
    for (const e of this.entries.values()) {
      if (e.rec.class !== cls || e.health.evaluate(now) !== 'healthy') continue;
      if (!e.health.drained && !e.sleeping) current += 1;
      activeSessions += e.rec.heartbeat?.activeSessions ?? 0;
    }
    return { current, activeSessions };
  }

  /** The health sweep; start() runs it every health.intervalMs (exposed for tests with an injected clock). */
  tick(): void {
    const now = this.deps.now();
    const dereg = this.deps.config.deregisterAfterMs;
    for (const e of [...this.entries.values()]) {
      this.noteTransition(e, now);
      const lastSign = e.rec.heartbeat?.at ?? e.rec.createdAt;
      if (dereg !== null && e.rec.source === 'api' && e.lastStatus !== 'healthy' && now - lastSign > dereg) {
        this.deps.repository.remove(e.rec.id);
        this.forget(e);
        this.deps.metrics.deregistered.inc();
        this.log.warn({ id: e.rec.id, class: e.rec.class, name: e.rec.name, silentMs: now - lastSign }, 'platform instance deregistered');
        this.deps.onDeregistered?.(e.rec.id);
        continue;
      }
      if (e.poll && !e.polling) this.pollOnce(e);
      this.updateGauges(e, now);
    }
    for (const [k, id] of this.affinity) {
      const e = this.entries.get(id);
      if (!e || e.lastStatus !== 'healthy' || e.health.drained || e.sleeping) this.affinity.delete(k);
    }
    this.flushDecisions();
  }

  private pollOnce(e: Entry): void {
    const p = e.poll!;
    e.polling = true;
    void this.probe(p.url, p.expectedStatus, p.timeoutMs)
      .catch(() => false)
      .then((ok) => {
        e.polling = false;
        if (!this.entries.has(e.rec.id)) return;
        this.deps.metrics.polls.inc({ result: ok ? 'pass' : 'fail' });
        e.health.pollResult(this.deps.now(), ok);
        this.noteTransition(e, this.deps.now());
      });
  }

  /** The entry's candidate, brought up to `now` (in place: it is the object the selector is handed). */
  private candidate(e: Entry, now: number): Candidate {
    const status = e.health.evaluate(now);
    const c = e.cand;
    c.weightFactor = status === 'healthy' ? e.health.weightFactor(now) : 1;
    c.activeSessions = e.rec.heartbeat?.activeSessions ?? 0;
    c.sentSinceHeartbeat = e.sent;
    c.healthy = status === 'healthy';
    c.drained = e.health.drained || e.sleeping;
    return c;
  }

  private noteTransition(e: Entry, now: number): void {
    const status = e.health.evaluate(now);
    if (status === e.lastStatus) return;
    this.log.info({ id: e.rec.id, class: e.rec.class, name: e.rec.name, from: e.lastStatus, to: status }, 'platform instance health changed');
    this.deps.metrics.healthChanges.inc({ class: e.rec.class, status });
    e.lastStatus = status;
  }

  private updateGauges(e: Entry, now: number): void {
    const labels = { class: e.rec.class, instance: e.rec.name };
    const c = this.candidate(e, now);
    this.deps.metrics.healthy.set(labels, e.lastStatus === 'healthy' ? 1 : e.lastStatus === 'unhealthy' ? 0 : -1);
    this.deps.metrics.drained.set(labels, c.drained ? 1 : 0);
    this.deps.metrics.load.set(labels, loadOf(c));
    this.deps.metrics.weightFactor.set(labels, c.weightFactor);
  }

  private flushDecisions(): void {
    const counts = new Map<string, number>();
    for (const e of this.entries.values()) if (e.unflushed > 0) counts.set(e.rec.id, e.unflushed);
    if (counts.size === 0) return;
    try {
      this.deps.repository.addDecisions(counts);
    } catch (err) {
      return void this.log.error({ err }, 'platform decision counters not stored; kept for the next sweep');
    }
    for (const [id, n] of counts) {
      const e = this.entries.get(id)!;
      e.unflushed -= n;
      e.rec = { ...e.rec, decisions: e.rec.decisions + n };
    }
  }

  private setDrained(id: string, drained: boolean): ChangeResult {
    const e = this.entries.get(id);
    if (!e) return { ok: false, error: 'unknown-instance', message: `no platform instance ${id}` };
    this.deps.repository.setDrained(id, drained);
    e.rec = { ...e.rec, drained };
    e.health.setOperatorDrained(drained);
    this.log.info({ id, class: e.rec.class, name: e.rec.name }, drained ? 'platform instance drained' : 'platform instance undrained');
    return { ok: true };
  }

  /** An entry joins `entries` and its class's candidates (kept in id order). */
  private index(e: Entry): void {
    this.entries.set(e.rec.id, e);
    const list = this.byClass.get(e.rec.class) ?? [];
    list.push(e.cand);
    list.sort((a, b) => cmp(a.id, b.id));
    this.byClass.set(e.rec.class, list);
  }

  private forget(e: Entry): void {
    this.entries.delete(e.rec.id);
    const list = this.byClass.get(e.rec.class);
    if (list) {
      const rest = list.filter((c) => c.entry !== e);
      if (rest.length) this.byClass.set(e.rec.class, rest);
      else this.byClass.delete(e.rec.class);
    }
    const labels = { class: e.rec.class, instance: e.rec.name };
    for (const g of [this.deps.metrics.healthy, this.deps.metrics.drained, this.deps.metrics.load, this.deps.metrics.weightFactor]) g.remove(labels);
    for (const [k, id] of this.affinity) if (id === e.rec.id) this.affinity.delete(k);
  }

  private entryFor(rec: PlatformInstanceRecord): Entry {
    const cfg = this.deps.config;
    const stat = rec.source === 'config' ? cfg.instances.find((i) => i.class === rec.class && i.name === rec.name) : undefined;
    const poll = stat?.healthUrl
      ? { url: stat.healthUrl, expectedStatus: stat.expectedStatus, timeoutMs: stat.healthTimeoutMs ?? cfg.health.timeoutMs }
      : null;
    const health = new InstanceHealth(
      { ...cfg.health, slowStartMs: cfg.slowStartMs },
      {
        polled: poll !== null,
        lastHeartbeatAt: rec.heartbeat?.at ?? null,
        agentState: rec.heartbeat?.state ?? 'ready',
        operatorDrained: rec.drained,
      },
      this.deps.now(),
    );
    const e: Entry = {
      rec,
      ref: ref(rec),
      cand: undefined as unknown as EntryCandidate,
      counters: {},
      health,
      poll,
      sent: 0,
      unflushed: 0,
      polling: false,
      lastStatus: health.evaluate(this.deps.now()),
      sleeping: false,
    };
    e.cand = {
      id: rec.id,
      capacity: rec.capacity,
      weight: rec.weight,
      weightFactor: 1,
      activeSessions: 0,
      sentSinceHeartbeat: 0,
      healthy: false,
      drained: false,
      entry: e,
    };
    return e;
  }

  /** Config instances: inserted when new, updated when changed in the file, removed when gone from it. */
  private syncConfigInstances(): void {
    const repo = this.deps.repository;
    const wanted = new Set<string>();
    for (const s of this.deps.config.instances) {
      const have = repo.findByName(s.class, s.name);
      if (!have) {
        repo.insert({
          id: randomUUID(),
          class: s.class,
          name: s.name,
          url: s.url,
          capacity: s.capacity,
          weight: s.weight,
          tokenHash: null,
          source: 'config',
          createdAt: this.deps.now(),
        });
      } else if (have.url !== s.url || have.capacity !== s.capacity || have.weight !== s.weight || have.source !== 'config') {
        repo.updateStatic(have.id, { url: s.url, capacity: s.capacity, weight: s.weight });
      }
      wanted.add(`${s.class}\0${s.name}`);
    }
    for (const r of repo.all()) if (r.source === 'config' && !wanted.has(`${r.class}\0${r.name}`)) repo.remove(r.id);
  }
}

const NO_CANDIDATES: readonly EntryCandidate[] = [];
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const ref = (r: PlatformInstanceRecord): InstanceRef => ({ id: r.id, class: r.class, name: r.name, url: r.url });

function issuesText(e: z.ZodError): string {
  return e.issues
    .map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.code === 'unrecognized_keys' ? `unknown key ${i.keys.join(', ')}` : i.message}`)
    .join('; ');
}

function unavailableText(cls: string, reason: NoChoiceReason): string {
  switch (reason) {
    case 'no-instances':
      return `service ${cls} has no instances`;
    case 'all-drained':
      return `every instance of service ${cls} is drained`;
    case 'none-healthy':
      return `service ${cls} is down: no instance is healthy`;
  }
}
