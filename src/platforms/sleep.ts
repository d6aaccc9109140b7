/**
 * Which idle instances to put to sleep, pure. An instance is idle while it is healthy, not drained, reports no
 * session and was sent nothing since its last heartbeat; idle for sleep.idleMs, it may sleep, as long as its class
 * keeps `minAwake` healthy, non-drained instances awake. The caller (sleep command hook or the instance's
 * sleepUrl) acts on the answer, drains the instance first, and wakes it (Wake-on-LAN or wakeCommand) when the
 * advisor asks for more instances.
 */
export interface SleepCandidate {
  id: string;
  class: string;
  healthy: boolean;
  drained: boolean;
  activeSessions: number;
  sentSinceHeartbeat: number;
  /** false: counted awake, never put to sleep (nothing could tell it or wake it); default true */
  canSleep?: boolean;
}

export class IdlePlanner {
  private readonly idleSince = new Map<string, number>();

  constructor(
    private readonly idleMs: number,
    private readonly minAwake: number,
  ) {}

  /**
   * Updates the idle clocks at `now` and returns the ids to put to sleep now, least recently busy first. `minAwake`
   * may raise the floor per class (the sleep service passes the advisor's desired count).
   */
  observe(now: number, instances: readonly SleepCandidate[], minAwake: (cls: string) => number = () => this.minAwake): string[] {
    const seen = new Set<string>();
    const awake = new Map<string, number>();
    const due: Array<{ id: string; class: string; since: number }> = [];
    for (const i of instances) {
      seen.add(i.id);
      const up = i.healthy && !i.drained;
      if (up) awake.set(i.class, (awake.get(i.class) ?? 0) + 1);
      if (!up || i.activeSessions > 0 || i.sentSinceHeartbeat > 0 || i.canSleep === false) {
        this.idleSince.delete(i.id);
        continue;
      }
      const since = this.idleSince.get(i.id) ?? now;
      this.idleSince.set(i.id, since);
      if (now - since >= this.idleMs) due.push({ id: i.id, class: i.class, since });
    }
    for (const id of this.idleSince.keys()) if (!seen.has(id)) this.idleSince.delete(id);
    due.sort((a, b) => a.since - b.since || (a.id < b.id ? -1 : 1));
    const out: string[] = [];
    for (const d of due) {
      const left = awake.get(d.class) ?? 0;
      if (left <= Math.max(this.minAwake, minAwake(d.class))) continue;
      awake.set(d.class, left - 1);
      this.idleSince.delete(d.id);
      out.push(d.id);
    }
    return out;
  }
}
