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

export function select<C extends Candidate>(candidates: readonly C[], opts: SelectOptions): Choice<C> {
  if (candidates.length === 0) return { ok: false, reason: 'no-instances' };
  const eligible = candidates.filter((c) => !c.drained).sort(byId);
  if (eligible.length === 0) return { ok: false, reason: 'all-drained' };
  const healthy = eligible.filter((c) => c.healthy);
  if (healthy.length === 0) return { ok: false, reason: 'none-healthy' };
  const panic = healthy.length < opts.panicThreshold * eligible.length;

  if (opts.stickyId !== undefined) {
    const sticky = healthy.find((c) => c.id === opts.stickyId);
    if (sticky) return { ok: true, instance: sticky, reason: 'affinity', panic, load: loadOf(sticky, panic) };
  }
  const pool = panic ? eligible : healthy;
  if (pool.length === 1) return { ok: true, instance: pool[0]!, reason: panic ? 'panic' : 'only', panic, load: loadOf(pool[0]!, panic) };

  const weights = pool.map((c) => effectiveWeight(c, panic));
  const first = weightedIndex(weights, opts.random());
  const rest = weights.slice();
  rest[first] = 0;
  const second = weightedIndex(rest, opts.random());
  const a = pool[first]!;
  const b = pool[second]!;
  const la = loadOf(a, panic);
  const lb = loadOf(b, panic);
  const win = la < lb || (la === lb && byId(a, b) < 0) ? a : b;
  return { ok: true, instance: win, reason: panic ? 'panic' : 'p2c', panic, load: win === a ? la : lb };
}

/** The index whose cumulative weight first exceeds r × total (entries of weight 0 are never drawn). */
function weightedIndex(weights: readonly number[], r: number): number {
  const total = weights.reduce((s, w) => s + w, 0);
  let x = r * total;
  let last = -1;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]!;
    if (w <= 0) continue;
    last = i;
    if (x < w) return i;
    x -= w;
  }
  return last; // r × total rounded onto the end
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
