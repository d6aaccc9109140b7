/**
 * Choosing an instance of a class, pure: the registry hands in a snapshot of the candidates and a random source.
 *
 * Load of an instance = (activeSessions of its last heartbeat + requests sent to it since that heartbeat)
 *                       ÷ (capacity × weight × slow-start factor).
 * Counting the requests sent since the heartbeat makes the load current between heartbeats; on top of that,
 * power-of-two-choices (Mitzenmacher): draw two distinct candidates at random, weighted by capacity × effective
 * weight so that a big instance is drawn as often as its share needs, and send to the less loaded of the two. Two
 * bootgates (or a stale report) then do not all pile onto the one instance that looked idlest. Equal loads go to
 * the smaller id, so the result depends only on the snapshot and the random numbers.
 *
 * Panic (Envoy's panic threshold): when at least one but fewer than `panicThreshold` of the class's non-drained
 * instances are healthy, health is more likely wrong than the fleet (a heartbeat path cut, a check too strict), and
 * concentrating the whole room on the few left would overload them too. Then the choice spreads over all
 * non-drained instances, healthy or not, at full weight (no slow start), and the decision says `panic`. With no
 * healthy instance at all there is no panic: the answer is "none healthy" (503 with Retry-After). Drained
 * instances are never chosen, and are not counted in the threshold. panicThreshold 0 turns panic off.
 */

export interface Candidate {
  id: string;
  capacity: number;
  weight: number;
  /** slow-start factor, 0 < f ≤ 1 */
  weightFactor: number;
  activeSessions: number;
  sentSinceHeartbeat: number;
  healthy: boolean;
  drained: boolean;
}

export type ChoiceReason = 'affinity' | 'only' | 'p2c' | 'panic';
export type NoChoiceReason = 'no-instances' | 'all-drained' | 'none-healthy';

export type Choice<C extends Candidate = Candidate> =
  { ok: true; instance: C; reason: ChoiceReason; panic: boolean; load: number } | { ok: false; reason: NoChoiceReason };

export interface SelectOptions {
  /** uniform in [0, 1) */
  random: () => number;
  panicThreshold: number;
  /** the instance this session is bound to (affinity), if any */
  stickyId?: string | undefined;
}

const effectiveWeight = (c: Candidate, panic: boolean): number => c.capacity * c.weight * (panic ? 1 : c.weightFactor);

/** The load the selector compares: 1.0 = at capacity (at the current effective weight). */
export function loadOf(c: Candidate, panic = false): number {
  return (c.activeSessions + c.sentSinceHeartbeat) / effectiveWeight(c, panic);
}

const byId = (a: Candidate, b: Candidate): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The candidates in id order: as given when they already are (the registry keeps its lists so), else a sorted copy. */
function inIdOrder<C extends Candidate>(candidates: readonly C[]): readonly C[] {
  for (let i = 1; i < candidates.length; i++) if (candidates[i - 1]!.id > candidates[i]!.id) return [...candidates].sort(byId);
  return candidates;
}

/**
 * Runs once per request (the 302 and the proxy mode), so it allocates nothing but its answer: counts and weighted
 * draws are loops over the candidates in id order, skipping those outside the pool (drained; unhealthy unless in
 * panic), which is what drawing from the filtered, id-sorted pool does.
 */
export function select<C extends Candidate>(candidates: readonly C[], opts: SelectOptions): Choice<C> {
  if (candidates.length === 0) return { ok: false, reason: 'no-instances' };
  const all = inIdOrder(candidates);
  let eligible = 0;
  let healthy = 0;
  let only: C | undefined;
  for (const c of all) {
    if (c.drained) continue;
    eligible++;
    if (c.healthy) healthy++;
  }
  if (eligible === 0) return { ok: false, reason: 'all-drained' };
  if (healthy === 0) return { ok: false, reason: 'none-healthy' };
  const panic = healthy < opts.panicThreshold * eligible;

  if (opts.stickyId !== undefined) {
    for (const c of all)
      if (c.id === opts.stickyId && c.healthy && !c.drained) return { ok: true, instance: c, reason: 'affinity', panic, load: loadOf(c, panic) };
  }
  const inPool = (c: Candidate): boolean => !c.drained && (panic || c.healthy);
  const size = panic ? eligible : healthy;
  if (size === 1) {
    for (const c of all) if (inPool(c)) only = c;
    return { ok: true, instance: only!, reason: panic ? 'panic' : 'only', panic, load: loadOf(only!, panic) };
  }
  let total = 0;
  for (const c of all) if (inPool(c)) total += effectiveWeight(c, panic);
  const a = weightedPick(all, inPool, panic, opts.random() * total, undefined);
  const b = weightedPick(all, inPool, panic, opts.random() * (total - effectiveWeight(a, panic)), a);
  const la = loadOf(a, panic);
  const lb = loadOf(b, panic);
  const win = la < lb || (la === lb && byId(a, b) < 0) ? a : b;
  return { ok: true, instance: win, reason: panic ? 'panic' : 'p2c', panic, load: win === a ? la : lb };
}

/**
 * The pool member (in order, `skip` left out) whose cumulative weight first exceeds `x`; entries of weight 0 are
 * never drawn, and x rounded onto the end gives the last one with a weight.
 */
function weightedPick<C extends Candidate>(all: readonly C[], inPool: (c: Candidate) => boolean, panic: boolean, x: number, skip: C | undefined): C {
  let last: C | undefined;
  for (const c of all) {
    if (c === skip || !inPool(c)) continue;
    const w = effectiveWeight(c, panic);
    if (w <= 0) continue;
    last = c;
    if (x < w) return c;
    x -= w;
  }
  return last!;
}

/** A small seeded PRNG (mulberry32) for tests and benchmarks; production passes Math.random. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
