import type { AdmissionEvent } from './admission.ts';

/**
 * Wake-on-LAN paced by the boot queue (issue 16 §3: "tie it to Wake-on-LAN schedules"). A wake of the whole room
 * spread over a fixed time is either too slow (the room waits for the clock) or itself a storm (every terminal
 * reaches the queue at once). With admission on, a magic packet is sent only while the terminals already woken
 * and not yet admitted, plus those waiting and those in the heavy phase, stay under `lead × bound`: the queue is
 * kept one batch ahead of the free slots, and the wake goes as fast as the room actually boots.
 *
 * A woken terminal counts as pending from its packet until the queue first sees it (queued or admitted), or for
 * `pendingSeconds` if it never comes (off at the wall, no Wake-on-LAN in its firmware) — so one dead terminal
 * delays the wake by that long at most, never forever.
 */
export interface WakePacerDeps {
  /** the queue's bound (maxInHeavyPhase) */
  bound: () => number;
  /** the queue's counts now */
  counts: () => { waiting: number; inHeavyPhase: number };
  /** terminals kept ahead of the slots, in bounds: 2 = one batch waiting behind the batch in the heavy phase */
  lead?: number;
  pendingSeconds?: number;
  clock?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

export class WakePacer {
  /** woken MACs the queue has not seen yet → when their packet went */
  private readonly pending = new Map<string, number>();
  private readonly waiters: Array<() => void> = [];
  private timer: unknown;
  private stopped = false;
  private readonly clock: () => number;
  private readonly pendingMs: number;
  private readonly lead: number;

  constructor(private readonly deps: WakePacerDeps) {
    this.clock = deps.clock ?? Date.now;
    this.pendingMs = (deps.pendingSeconds ?? 120) * 1000;
    this.lead = deps.lead ?? 2;
  }

  /** Terminals woken and not yet seen by the queue. */
  get pendingCount(): number {
    this.expire();
    return this.pending.size;
  }

  /** Resolves when `mac` may be woken now, and counts it as pending from then on. Callers wake one at a time. */
  async turn(mac: string): Promise<void> {
    while (!this.stopped && !this.room()) await new Promise<void>((resolve) => this.waitForChange(resolve));
    this.pending.set(mac.toLowerCase(), this.clock());
    this.armExpiry();
  }

  /** Every admission event: a terminal the queue sees is no longer pending; a released slot may let the next one go. */
  onAdmissionEvent(e: Pick<AdmissionEvent, 'kind' | 'mac'>): void {
    if (e.kind === 'queued' || e.kind === 'admitted') this.pending.delete(e.mac.toLowerCase());
    this.wake();
  }

  private room(): boolean {
    this.expire();
    const c = this.deps.counts();
    return this.pending.size + c.waiting + c.inHeavyPhase < this.lead * this.deps.bound();
  }

  private waitForChange(resolve: () => void): void {
    this.waiters.push(resolve);
    this.armExpiry();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private expire(): void {
    const cut = this.clock() - this.pendingMs;
    for (const [mac, at] of this.pending) if (at <= cut) this.pending.delete(mac);
  }

  /** One timer at the oldest pending entry's expiry, while anyone waits. */
  private armExpiry(): void {
    if (this.timer !== undefined || this.waiters.length === 0 || this.pending.size === 0) return;
    const oldest = Math.min(...this.pending.values());
    const set = this.deps.setTimer ?? ((fn: () => void, ms: number) => setTimeout(fn, ms).unref());
    this.timer = set(
      () => {
        this.timer = undefined;
        this.expire();
        this.wake();
        this.armExpiry();
      },
      Math.max(0, oldest + this.pendingMs - this.clock()),
    );
  }

  stop(): void {
    if (this.timer !== undefined) (this.deps.clearTimer ?? ((h: unknown) => clearTimeout(h as NodeJS.Timeout)))(this.timer);
    this.timer = undefined;
    // every waiting turn() returns: the sender is stopping, and its own stop drops what it had not sent
    this.stopped = true;
    this.wake();
  }
}
