/**
 * The scaling advisor of one class, pure: fed a sample (healthy instances, active sessions) per tick with its
 * time, it answers the recommendation and, when the class crosses out of its target band, an advice event.
 *
 * Kubernetes HPA's rule (kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#algorithm-details):
 *   average  = moving average of the class's active sessions over windowMs ÷ current instances
 *   ratio    = average ÷ targetSessionsPerInstance
 *   desired  = current when |ratio − 1| ≤ tolerance, else ceil(current × ratio); clamped to [min, max]
 *   scale-up is advised at once; scale-down only as far as the highest recommendation of the last
 *   scaleDownStabilizationMs allows (HPA's downscale stabilization window), so a dip does not flap.
 * Events: one per crossing. A crossing is a change of direction (none → up, up → down, ...) or, while the
 * direction stands, a change of the current instance count (the operator or a hook acted, and the advice is still
 * not met). Two events of a class are at least cooldownMs apart; a crossing inside the cooldown is announced at the
 * first sample after it if it still holds.
 */

export type Direction = 'up' | 'down' | 'none';

export interface AdvisorParams {
  windowMs: number;
  tolerance: number;
  scaleDownStabilizationMs: number;
  cooldownMs: number;
  minInstances: number;
  maxInstances: number | null;
}

export interface ClassSample {
  /** healthy, non-drained instances */
  current: number;
  /** active sessions summed over the class's healthy instances */
  activeSessions: number;
}

export interface Recommendation {
  class: string;
  /** moving average of active sessions per instance (per class when there is no instance) */
  average: number;
  target: number;
  current: number;
  desired: number;
  direction: Direction;
  why: string;
  at: number;
}

export interface AdviceEvent extends Recommendation {
  direction: 'up' | 'down';
}

export class ClassAdvisor {
  private readonly samples: Array<{ at: number; sessions: number }> = [];
  private readonly recs: Array<{ at: number; desired: number }> = [];
  private episode: { direction: 'up' | 'down'; current: number } | null = null;
  private lastEventAt: number | null = null;

  constructor(
    readonly cls: string,
    private readonly p: AdvisorParams,
    readonly target: number,
  ) {}

  observe(at: number, s: ClassSample): { recommendation: Recommendation; event: AdviceEvent | null } {
    this.samples.push({ at, sessions: s.activeSessions });
    while (this.samples.length > 1 && this.samples[0]!.at <= at - this.p.windowMs) this.samples.shift();
    const total = this.samples.reduce((sum, x) => sum + x.sessions, 0) / this.samples.length;
    const average = s.current > 0 ? total / s.current : total;
    const ratio = average / this.target;

    let raw: number;
    if (s.current === 0) raw = total > 0 ? Math.ceil(total / this.target) : 0;
    else raw = Math.abs(ratio - 1) <= this.p.tolerance + 1e-9 ? s.current : Math.ceil(s.current * ratio);
    raw = Math.max(this.p.minInstances, this.p.maxInstances === null ? raw : Math.min(this.p.maxInstances, raw));

    this.recs.push({ at, desired: raw });
    while (this.recs.length > 1 && this.recs[0]!.at <= at - this.p.scaleDownStabilizationMs) this.recs.shift();
    const highest = Math.max(...this.recs.map((r) => r.desired));
    const desired = raw >= s.current ? raw : Math.min(s.current, highest);
    const direction: Direction = desired > s.current ? 'up' : desired < s.current ? 'down' : 'none';

    const why = explain({ average, ratio, target: this.target, current: s.current, desired, raw, direction, p: this.p });
    const recommendation: Recommendation = { class: this.cls, average, target: this.target, current: s.current, desired, direction, why, at };
    return { recommendation, event: this.crossing(recommendation) };
  }

  private crossing(r: Recommendation): AdviceEvent | null {
    if (r.direction === 'none') {
      this.episode = null;
      return null;
    }
    if (this.episode && this.episode.direction === r.direction && this.episode.current === r.current) return null;
    if (this.lastEventAt !== null && r.at - this.lastEventAt < this.p.cooldownMs) return null;
    this.episode = { direction: r.direction, current: r.current };
    this.lastEventAt = r.at;
    return { ...r, direction: r.direction };
  }
}

function explain(x: {
  average: number;
  ratio: number;
  target: number;
  current: number;
  desired: number;
  raw: number;
  direction: Direction;
  p: AdvisorParams;
}): string {
  const avg = `average ${x.average.toFixed(1)} sessions per instance over ${Math.round(x.p.windowMs / 1000)} s`;
  const pct = `${Math.round(x.ratio * 100)}% of the target ${x.target}`;
  if (x.direction === 'up' && x.current < x.p.minInstances) return `${x.current} instances is below minInstances ${x.p.minInstances}`;
  if (x.direction === 'up') return `${avg} is ${pct}: scale out ${x.current} → ${x.desired}`;
  if (x.direction === 'down') return `${avg} is ${pct} for the whole stabilization window: scale in ${x.current} → ${x.desired}`;
  if (x.raw < x.current)
    return `${avg} is ${pct}, but the stabilization window (${Math.round(x.p.scaleDownStabilizationMs / 1000)} s) holds the count`;
  return `${avg} is ${pct}, within the tolerance ±${Math.round(x.p.tolerance * 100)}%`;
}
