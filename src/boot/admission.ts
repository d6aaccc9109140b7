/**
 * Admission control for the heavy boot phases (issue 16 §3): at most `maxInHeavyPhase` terminals download
 * their kernel + initrd (or log in to their iSCSI disk and read its boot working set) at once; the others
 * wait in a FIFO queue, terminals of seats with an open cashier session ahead of the rest. A waiting
 * terminal's iPXE script loops (`echo` its place and an estimate, `sleep`, `chain` the script URL again:
 * http/server.ts), so the queue is visible on its screen; each poll also proves it is still there.
 *
 * A seat holds its slot until it reports booted, its iSCSI login completes (`releaseOn`), or
 * `slotTimeoutSeconds` pass; a waiting terminal that stops polling for `abandonSeconds` leaves the queue.
 * The clock is injected; `expire()` runs on every call, and the owner calls it from a timer too (so a slot
 * whose terminal died is freed without traffic). The only timer here is `waitForAdmission`'s: a waiting
 * terminal's next request is held until it is admitted or `pollSeconds` pass (a long poll), so a freed slot is
 * taken at once instead of at the next `sleep` of every waiting terminal (the bench showed a 1 s sleep making
 * a storm of fast downloads ten times slower).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { AdmissionConfig } from './config.ts';

export type ReleaseReason = 'booted' | 'iscsi-login' | 'timeout';

export interface AdmissionEntry {
  mac: string;
  priority: boolean;
  /** unix ms: when it joined the queue (or was admitted at once) */
  queuedAt: number;
  /** unix ms of the last poll while waiting */
  lastSeen: number;
  /** unix ms: when it got its slot */
  admittedAt?: number;
}

export type AdmissionDecision =
  | { admitted: true }
  | {
      admitted: false;
      /** terminals ahead of this one (in a slot or before it in the queue do not count twice: only the queue) */
      ahead: number;
      /** seconds until it is likely admitted */
      etaSeconds: number;
      /** how long the terminal should sleep before asking again */
      retrySeconds: number;
    };

export interface AdmissionSnapshot {
  enabled: boolean;
  bound: number;
  inHeavyPhase: Array<{ mac: string; priority: boolean; admittedAt: number; heldSeconds: number }>;
  waiting: Array<{ mac: string; priority: boolean; position: number; ahead: number; waitedSeconds: number; etaSeconds: number }>;
  /** the running estimate of how long a terminal holds its slot */
  slotSecondsEstimate: number;
}

/** What the UI's event bus carries for the queue (type `queue`): one change and the counts after it. */
export interface AdmissionEvent {
  kind: 'queued' | 'admitted' | 'released' | 'abandoned';
  mac: string;
  priority: boolean;
  /** for `queued`: its place (terminals ahead) */
  ahead?: number;
  /** for `admitted`: seconds it waited */
  waitedSeconds?: number;
  /** for `released` */
  reason?: ReleaseReason;
  waiting: number;
  inHeavyPhase: number;
  bound: number;
}

export function createAdmissionMetrics(registry: Registry) {
  return {
    waiting: new Gauge({ name: 'bootgate_boot_queue_waiting', help: 'Terminals waiting for a heavy-boot-phase slot', registers: [registry] }),
    inHeavyPhase: new Gauge({
      name: 'bootgate_boot_queue_in_heavy_phase',
      help: 'Terminals holding a heavy-boot-phase slot (kernel/initrd download, iSCSI boot working set)',
      registers: [registry],
    }),
    admitted: new Counter({
      name: 'bootgate_boot_queue_admitted_total',
      help: 'Terminals admitted to the heavy boot phases, by priority',
      labelNames: ['priority'],
      registers: [registry],
    }),
    released: new Counter({
      name: 'bootgate_boot_queue_released_total',
      help: 'Heavy-boot-phase slots released, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    abandoned: new Counter({
      name: 'bootgate_boot_queue_abandoned_total',
      help: 'Waiting terminals that stopped polling and left the queue',
      registers: [registry],
    }),
    waitSeconds: new Histogram({
      name: 'bootgate_boot_queue_wait_seconds',
      help: 'Time from joining the boot queue to being admitted',
      buckets: [0, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
      registers: [registry],
    }),
  };
}
export type AdmissionMetrics = ReturnType<typeof createAdmissionMetrics>;

export interface AdmissionDeps {
  config: Readonly<AdmissionConfig>;
  clock?: () => number;
  /** a seat with an open cashier session (or a reservation) goes ahead of the others */
  isPriority?: (mac: string) => boolean;
  metrics?: AdmissionMetrics;
  onEvent?: (e: AdmissionEvent) => void;
}

/** weight of the newest slot hold time in the running estimate */
const EWMA = 0.2;

export class AdmissionQueue {
  private readonly clock: () => number;
  /** slot holders by MAC, in admission order */
  private readonly holders = new Map<string, AdmissionEntry>();
  /** waiting, FIFO within each class */
  private readonly priorityQueue: AdmissionEntry[] = [];
  private readonly normalQueue: AdmissionEntry[] = [];
  private slotMs: number;
  /** held requests of waiting terminals: resolved with true when admitted */
  private readonly waiters = new Map<string, Set<(admitted: boolean) => void>>();

  constructor(private readonly deps: AdmissionDeps) {
    this.clock = deps.clock ?? Date.now;
    this.slotMs = deps.config.initialSlotSeconds * 1000;
  }

  get bound(): number {
    return this.deps.config.maxInHeavyPhase;
  }

  /**
   * A terminal asks for its boot script: admitted at once while a slot is free and nobody waits ahead of it;
   * else it joins the queue (or keeps its place) and learns how many are ahead. Admitted again on a repeated
   * ask while it holds its slot (iPXE retried the script).
   */
  request(mac: string): AdmissionDecision {
    const now = this.clock();
    this.expire(now); // also ages the queue
    if (this.holders.has(mac)) return { admitted: true };
    let entry = this.find(mac);
    if (!entry) {
      entry = { mac, priority: this.deps.isPriority?.(mac) ?? false, queuedAt: now, lastSeen: now };
      (entry.priority ? this.priorityQueue : this.normalQueue).push(entry);
      this.fill(now);
      if (this.holders.has(mac)) return { admitted: true };
      this.emit('queued', entry, { ahead: this.position(entry) });
    }
    entry.lastSeen = now;
    this.publishGauges();
    const ahead = this.position(entry);
    return { admitted: false, ahead, etaSeconds: this.eta(ahead), retrySeconds: this.deps.config.pollSeconds };
  }

  /**
   * Resolves true as soon as `mac` holds a slot, false after `ms` (or at once if it is not queued). While it
   * waits here the terminal counts as present (it is not dropped as abandoned).
   */
  waitForAdmission(mac: string, ms: number): Promise<boolean> {
    if (this.holders.has(mac)) return Promise.resolve(true);
    if (!this.find(mac)) return Promise.resolve(false);
    return new Promise((resolve) => {
      let set = this.waiters.get(mac);
      if (!set) this.waiters.set(mac, (set = new Set()));
      const done = (admitted: boolean): void => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && this.waiters.get(mac) === set) this.waiters.delete(mac);
        const e = this.find(mac);
        if (e) e.lastSeen = this.clock();
        resolve(admitted);
      };
      const timer = setTimeout(() => done(false), ms);
      set.add(done);
    });
  }

  /** The terminal left the heavy phase: its slot goes to the head of the queue. False if it held none. */
  release(mac: string, reason: Exclude<ReleaseReason, 'timeout'>): boolean {
    const now = this.clock();
    const had = this.releaseAt(mac, reason, now);
    this.expire(now);
    return had;
  }

  /** Frees slots held past the timeout and drops waiting terminals that stopped polling; then fills slots. */
  expire(now = this.clock()): void {
    const c = this.deps.config;
    for (const h of [...this.holders.values()]) {
      if (now - h.admittedAt! >= c.slotTimeoutSeconds * 1000) this.releaseAt(h.mac, 'timeout', now, false);
    }
    for (const q of [this.priorityQueue, this.normalQueue]) {
      for (let i = q.length - 1; i >= 0; i--) {
        const e = q[i]!;
        if (now - e.lastSeen >= c.abandonSeconds * 1000 && !this.waiters.has(e.mac)) {
          q.splice(i, 1);
          this.deps.metrics?.abandoned.inc();
          this.emit('abandoned', e);
        }
      }
    }
    this.age(now);
    this.fill(now);
    this.publishGauges();
  }

  /** How many wait and how many hold a slot (what the Wake-on-LAN pace reads; cheaper than a snapshot). */
  counts(): { waiting: number; inHeavyPhase: number } {
    return { waiting: this.priorityQueue.length + this.normalQueue.length, inHeavyPhase: this.holders.size };
  }

  snapshot(): AdmissionSnapshot {
    const now = this.clock();
    this.expire(now);
    const waiting = [...this.priorityQueue, ...this.normalQueue].map((e, i) => ({
      mac: e.mac,
      priority: e.priority,
      position: i + 1,
      ahead: i,
      waitedSeconds: Math.round((now - e.queuedAt) / 100) / 10,
      etaSeconds: this.eta(i),
    }));
    return {
      enabled: true,
      bound: this.bound,
      inHeavyPhase: [...this.holders.values()].map((h) => ({
        mac: h.mac,
        priority: h.priority,
        admittedAt: h.admittedAt!,
        heldSeconds: Math.round((now - h.admittedAt!) / 100) / 10,
      })),
      waiting,
      slotSecondsEstimate: Math.round(this.slotMs / 100) / 10,
    };
  }

  private releaseAt(mac: string, reason: ReleaseReason, now: number, fill = true): boolean {
    const h = this.holders.get(mac);
    if (!h) return false;
    this.holders.delete(mac);
    // timeouts say nothing about how long a boot takes: only real releases feed the estimate
    if (reason !== 'timeout') this.slotMs = (1 - EWMA) * this.slotMs + EWMA * (now - h.admittedAt!);
    this.deps.metrics?.released.inc({ reason });
    this.emit('released', h, { reason });
    if (fill) this.fill(now);
    return true;
  }

  /**
   * Aging: a terminal without priority that has waited `agingSeconds` joins the priority queue in its arrival
   * order, so a stream of open-session seats cannot hold it back for ever (priority without starvation). Its
   * `priority` flag stays false (the metrics say which class it came from).
   */
  private age(now: number): void {
    const limit = this.deps.config.agingSeconds * 1000;
    if (limit <= 0) return;
    while (this.normalQueue.length > 0 && now - this.normalQueue[0]!.queuedAt >= limit) {
      const e = this.normalQueue.shift()!;
      const at = this.priorityQueue.findIndex((p) => p.queuedAt > e.queuedAt);
      this.priorityQueue.splice(at < 0 ? this.priorityQueue.length : at, 0, e);
    }
  }

  private fill(now: number): void {
    while (this.holders.size < this.bound) {
      const next = this.priorityQueue.shift() ?? this.normalQueue.shift();
      if (!next) break;
      next.admittedAt = now;
      this.holders.set(next.mac, next);
      const waited = (now - next.queuedAt) / 1000;
      this.deps.metrics?.admitted.inc({ priority: String(next.priority) });
      this.deps.metrics?.waitSeconds.observe(waited);
      this.emit('admitted', next, { waitedSeconds: Math.round(waited * 10) / 10 });
      for (const w of [...(this.waiters.get(next.mac) ?? [])]) w(true);
    }
  }

  private find(mac: string): AdmissionEntry | undefined {
    return this.priorityQueue.find((e) => e.mac === mac) ?? this.normalQueue.find((e) => e.mac === mac);
  }

  /** terminals ahead of `e` in the queue */
  private position(e: AdmissionEntry): number {
    const p = this.priorityQueue.indexOf(e);
    return p >= 0 ? p : this.priorityQueue.length + this.normalQueue.indexOf(e);
  }

  /**
   * Seconds until a terminal with `ahead` before it gets a slot: the slots turn over in waves of `bound`
   * terminals, each wave lasting about one slot hold time (minus what the current holders have used).
   */
  private eta(ahead: number): number {
    const waves = Math.floor(ahead / this.bound) + 1;
    const now = this.clock();
    const oldest = Math.min(...[...this.holders.values()].map((h) => h.admittedAt!), now);
    const firstWave = Math.max(0, this.slotMs - (now - oldest));
    return Math.max(1, Math.ceil((firstWave + (waves - 1) * this.slotMs) / 1000));
  }

  private publishGauges(): void {
    this.deps.metrics?.waiting.set(this.priorityQueue.length + this.normalQueue.length);
    this.deps.metrics?.inHeavyPhase.set(this.holders.size);
  }

  private emit(kind: AdmissionEvent['kind'], e: AdmissionEntry, extra: Partial<AdmissionEvent> = {}): void {
    if (!this.deps.onEvent) return;
    this.deps.onEvent({
      kind,
      mac: e.mac,
      priority: e.priority,
      ...extra,
      waiting: this.priorityQueue.length + this.normalQueue.length,
      inHeavyPhase: this.holders.size,
      bound: this.bound,
    });
  }
}

/**
 * The iPXE script a waiting terminal gets: its place on screen and the script URL again. With `held` the server
 * holds that next request until the terminal is admitted or the poll time passes (no `sleep`: the wait is on
 * the server); without, a `sleep` first. iPXE waits for an HTTP answer far longer than a poll (its HTTP
 * watchdog). `--replace`: a plain `chain` runs the next script inside the current one (iPXE image_exec() nests,
 * src/core/image.c), so every poll went one level deeper; after about nine polls real iPXE terminals (QEMU, BIOS)
 * hung (bench/storm/qemu-storm.ts). With --replace (iPXE since 2012, commit 5d3c368) the script stops and iPXE
 * tail-recurses into the next one (imgexec → image_replace), so the loop stays flat however long it waits.
 */
export function waitingScript(d: { ahead: number; etaSeconds: number; retrySeconds: number }, scriptUrl: string, held = false): string {
  return [
    '#!ipxe',
    `echo bootgate: waiting: ${d.ahead} ahead, about ${d.etaSeconds} s`,
    ...(held ? [] : [`sleep ${d.retrySeconds}`]),
    `chain --replace --autofree ${scriptUrl}`,
    '',
  ].join('\n');
}
