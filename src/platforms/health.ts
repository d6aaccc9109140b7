/**
 * The health of one platform instance, as a pure state machine: inputs are heartbeats and active-poll results,
 * each with the time it happened; `evaluate(now)` applies the heartbeat TTL. No timers, no I/O: the registry
 * feeds it and asks it, tests drive it with an explicit clock.
 *
 * Two sources, each 'unknown' | 'up' | 'down':
 *   heartbeat  up on the first heartbeat ever; after being down, up again after `rise` heartbeats in a row, each
 *              within TTL of the one before; down as soon as none arrived for TTL = intervalMs × fall (HAProxy's
 *              inter × fall), so an instance that stops gets no new traffic after TTL (the registry's choose()
 *              evaluates at the moment of the request; its sweep notices within TTL + one interval).
 *              Taken into account for instances without a health URL, and for polled ones once they heartbeat.
 *   poll       (instances with a health URL) the first result decides; then `fall` failures in a row take it
 *              down and `rise` successes in a row bring it back (HAProxy's rise/fall).
 * The instance is unhealthy if any source is down, healthy if all are up, else unknown (not chosen).
 *
 * Slow start (HAProxy `slowstart`): when an instance comes back from unhealthy, its effective weight ramps linearly
 * from SLOW_START_FLOOR to 1 over slowStartMs. Coming up from unknown (first registration, first poll) is not a
 * recovery and starts at full weight. Drain: by the operator (persisted) or by the agent (heartbeat state
 * 'drain', agent-check style); a drained instance keeps its health but gets no new traffic.
 */

export type HealthStatus = 'unknown' | 'healthy' | 'unhealthy';
type SourceState = 'unknown' | 'up' | 'down';

export interface HealthParams {
  intervalMs: number;
  fall: number;
  rise: number;
  slowStartMs: number;
}

/** The least effective-weight factor during slow start (never 0: load divides by the effective weight). */
export const SLOW_START_FLOOR = 0.01;

export interface HealthInit {
  /** the instance has a health URL that bootgate polls */
  polled: boolean;
  /** the last heartbeat before a restart (from the store), if any */
  lastHeartbeatAt?: number | null;
  agentState?: 'ready' | 'drain';
  operatorDrained?: boolean;
}

export interface HealthSnapshot {
  status: HealthStatus;
  /** when the status last changed */
  since: number;
  drained: boolean;
  drainedBy: 'operator' | 'agent' | null;
  /** slow-start factor of the weight, 0 < f ≤ 1 (1 when not ramping) */
  weightFactor: number;
  lastHeartbeatAt: number | null;
  heartbeat: SourceState;
  poll: SourceState | null;
}

export class InstanceHealth {
  private hb: SourceState = 'unknown';
  private hbStreak = 0;
  private lastHb: number | null;
  private poll: SourceState = 'unknown';
  private pollOk = 0;
  private pollFail = 0;
  private status: HealthStatus = 'unknown';
  private since: number;
  private recoveredAt: number | null = null;
  private agentDrain: boolean;
  private operatorDrain: boolean;
  private readonly polled: boolean;

  constructor(
    private readonly p: HealthParams,
    init: HealthInit,
    now: number,
  ) {
    this.polled = init.polled;
    this.lastHb = init.lastHeartbeatAt ?? null;
    this.agentDrain = init.agentState === 'drain';
    this.operatorDrain = init.operatorDrained ?? false;
    this.since = now;
    if (this.lastHb !== null) {
      // a heartbeat from before the restart: still within its TTL it stands (load survives restart); otherwise
      // the instance was alive once and is now silent, so it is down and needs `rise` heartbeats to come back
      const fresh = now - this.lastHb <= this.ttlMs;
      this.hb = fresh ? 'up' : 'down';
      this.hbStreak = fresh ? this.p.rise : 0;
    }
    this.settle(now);
  }

  get ttlMs(): number {
    return this.p.intervalMs * this.p.fall;
  }

  /** An accepted heartbeat at `now`. */
  heartbeat(now: number, state: 'ready' | 'drain' = 'ready'): void {
    this.expire(now);
    this.hbStreak = this.lastHb !== null && now - this.lastHb <= this.ttlMs ? this.hbStreak + 1 : 1;
    this.lastHb = now;
    this.agentDrain = state === 'drain';
    if (this.hb === 'unknown' || (this.hb === 'down' && this.hbStreak >= this.p.rise)) this.hb = 'up';
    this.settle(now);
  }

  /** The result of one active health poll that finished at `now`. */
  pollResult(now: number, ok: boolean): void {
    if (ok) {
      this.pollOk += 1;
      this.pollFail = 0;
      if (this.poll === 'unknown' || (this.poll === 'down' && this.pollOk >= this.p.rise)) this.poll = 'up';
    } else {
      this.pollFail += 1;
      this.pollOk = 0;
      if (this.poll === 'unknown' || (this.poll === 'up' && this.pollFail >= this.p.fall)) this.poll = 'down';
    }
    this.settle(now);
  }

  setOperatorDrained(drained: boolean): void {
    this.operatorDrain = drained;
  }

  /** The status at `now`, with the heartbeat TTL applied. */
  evaluate(now: number): HealthStatus {
    this.expire(now);
    this.settle(now);
    return this.status;
  }

  get drained(): boolean {
    return this.operatorDrain || this.agentDrain;
  }

  /** The slow-start factor of the weight at `now` (call after evaluate). */
  weightFactor(now: number): number {
    if (this.recoveredAt === null || this.p.slowStartMs <= 0) return 1;
    const elapsed = now - this.recoveredAt;
    if (elapsed >= this.p.slowStartMs) {
      this.recoveredAt = null;
      return 1;
    }
    return Math.max(SLOW_START_FLOOR, elapsed / this.p.slowStartMs);
  }

  snapshot(now: number): HealthSnapshot {
    const status = this.evaluate(now);
    return {
      status,
      since: this.since,
      drained: this.drained,
      drainedBy: this.operatorDrain ? 'operator' : this.agentDrain ? 'agent' : null,
      weightFactor: status === 'healthy' ? this.weightFactor(now) : 1,
      lastHeartbeatAt: this.lastHb,
      heartbeat: this.hb,
      poll: this.polled ? this.poll : null,
    };
  }

  /** Applies the TTL; a status change it causes is dated at the moment the TTL ran out, not when noticed. */
  private expire(now: number): void {
    if (this.lastHb !== null && this.hb !== 'down' && now - this.lastHb > this.ttlMs) {
      this.hb = 'down';
      this.hbStreak = 0;
      this.settle(this.lastHb + this.ttlMs);
    }
  }

  private settle(now: number): void {
    // the sources that count: the poll (if polled) and the heartbeat (unless polled and never heartbeated); run on
    // every request (choose), so no array of them is built
    const poll: SourceState | undefined = this.polled ? this.poll : undefined;
    const hb: SourceState | undefined = !this.polled || this.lastHb !== null ? this.hb : undefined;
    const next: HealthStatus =
      poll === 'down' || hb === 'down' ? 'unhealthy' : (poll ?? 'up') === 'up' && (hb ?? 'up') === 'up' ? 'healthy' : 'unknown';
    if (next === this.status) return;
    if (next === 'healthy' && this.status === 'unhealthy') this.recoveredAt = now;
    if (next !== 'healthy') this.recoveredAt = null;
    this.status = next;
    this.since = now;
  }
}
