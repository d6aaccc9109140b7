/**
 * Placement quality on a burst between two heartbeats, and the cost of one decision in process.
 *
 * Burst: 4 instances of capacity 100/200/300/400 (names a–d) heartbeat once, then N requests (default 1,000)
 * arrive before the next heartbeat. Load of an instance = (sessions reported at the heartbeat + requests assigned
 * since) ÷ capacity; the figure is max ÷ mean of the four loads (1.0 = perfectly even; the goal ≤ 1.1).
 * Two fleets: "idle" (all reported 0 sessions: load = assigned ÷ capacity) and "uneven" (reported 20/30/90/100,
 * as test/unit/platforms-selector.test.ts).
 *
 * Policies, same fleet, same seeds:
 * - bootgate: the real PlatformRegistry (src/platforms/registry.ts) on a temporary SQLite file with an injected
 *   clock (1 ms per request, well inside the heartbeat TTL), `choose('game')` per request: P2C on
 *   (reported + sent since the heartbeat) ÷ capacity, weighted draw.
 * - leastconn-stale: least (reported ÷ capacity), every request seeing the load of the last heartbeat (what a
 *   balancer that cannot see the sessions it causes does); ties to the first instance.
 * - random: uniform over the four instances.
 * - random-weighted: drawn in proportion to capacity (what P2C adds over a weighted draw).
 * - leastconn-live: least (reported + assigned) ÷ capacity, a full scan with perfect knowledge (the ideal; what
 *   HAProxy's leastconn does for the connections it holds itself).
 *
 * In process: decisions/s of `registry.choose()` (4 healthy instances, counters and metrics included) and of
 * `select()` alone, to tell the decision's share of the 302 figure measured over HTTP.
 *
 *   node --import tsx bench/platforms/placement.ts [--seeds 10] [--requests 1000] [--tsv FILE]
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { platformsConfigSchema } from '../../src/platforms/config.ts';
import { createPlatformsMetrics } from '../../src/platforms/metrics.ts';
import { PlatformRegistry } from '../../src/platforms/registry.ts';
import { seededRandom, select, type Candidate } from '../../src/platforms/selector.ts';
import { openDatabase } from '../../src/store/database.ts';
import { PlatformRepository } from '../../src/store/platform-repository.ts';

const { values } = parseArgs({
  options: { seeds: { type: 'string', default: '10' }, requests: { type: 'string', default: '1000' }, tsv: { type: 'string' } },
});
const SEEDS = Array.from({ length: Number(values.seeds) }, (_, i) => i + 1);
const N = Number(values.requests);
const NAMES = ['a', 'b', 'c', 'd'] as const;
const CAPACITY = [100, 200, 300, 400];
const FLEETS: Record<string, number[]> = { idle: [0, 0, 0, 0], uneven: [20, 30, 90, 100] };
const T0 = Date.parse('2026-03-01T08:00:00.000Z');

const tsv = (line: string): void => {
  if (values.tsv) appendFileSync(values.tsv, `${line}\n`);
};
if (values.tsv) writeFileSync(values.tsv, '# kind\tfleet|what\tpolicy|ops_per_s\tseed|us_per_op\tmax_over_mean\tassigned a,b,c,d\n');

/** A registry on a fresh SQLite file with the fleet added and heartbeated; the caller closes it. */
function registryWorld(reported: number[], seed: number) {
  const dir = mkdtempSync(join(tmpdir(), 'bgplat-placement-'));
  const db = openDatabase(join(dir, 'bootgate.db'));
  const clock = { t: T0 };
  const reg = new PlatformRegistry({
    repository: new PlatformRepository(db),
    config: platformsConfigSchema.parse({ classes: { game: {} } }),
    now: () => clock.t,
    logger: pino({ level: 'silent' }),
    metrics: createPlatformsMetrics(new Registry()),
    random: seededRandom(seed),
    probe: async () => true,
  });
  const nameOf = new Map<string, string>();
  NAMES.forEach((name, i) => {
    const r = reg.add({ class: 'game', name, url: `http://10.0.0.${i + 1}:8080/`, capacity: CAPACITY[i]! });
    if (!r.ok) throw new Error(r.message);
    const hb = reg.heartbeat(r.id, r.token, { activeSessions: reported[i]!, cpu: 0.1, memory: 0.1 });
    if (!hb.ok) throw new Error(hb.message);
    nameOf.set(r.id, name);
  });
  const close = (): void => {
    reg.stop();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { reg, clock, nameOf, close };
}

function bootgate(reported: number[], seed: number): number[] {
  const w = registryWorld(reported, seed);
  const assigned = [0, 0, 0, 0];
  try {
    for (let i = 0; i < N; i++) {
      w.clock.t += 1;
      const d = w.reg.choose('game');
      if (!d.ok) throw new Error(`no choice: ${d.reason}`);
      assigned[NAMES.indexOf(w.nameOf.get(d.instance.id) as (typeof NAMES)[number])]! += 1;
    }
  } finally {
    w.close();
  }
  return assigned;
}

type Pick = (reported: number[], assigned: number[], random: () => number) => number;
const argmin = (xs: number[]): number => xs.reduce((best, x, i) => (x < xs[best]! ? i : best), 0);
const weightedDraw = (r: number): number => {
  let x = r * CAPACITY.reduce((s, c) => s + c, 0);
  for (let i = 0; i < CAPACITY.length; i++) if ((x -= CAPACITY[i]!) < 0) return i;
  return CAPACITY.length - 1;
};
const PEERS: Record<string, Pick> = {
  'leastconn-stale': (rep) => argmin(rep.map((s, i) => s / CAPACITY[i]!)),
  random: (_rep, _as, random) => Math.min(3, Math.floor(random() * 4)),
  'random-weighted': (_rep, _as, random) => weightedDraw(random()),
  'leastconn-live': (rep, as) => argmin(rep.map((s, i) => (s + as[i]!) / CAPACITY[i]!)),
};

function simulate(pick: Pick, reported: number[], seed: number): number[] {
  const random = seededRandom(seed);
  const assigned = [0, 0, 0, 0];
  for (let i = 0; i < N; i++) assigned[pick(reported, assigned, random)]! += 1;
  return assigned;
}

function maxOverMean(reported: number[], assigned: number[]): number {
  const loads = reported.map((s, i) => (s + assigned[i]!) / CAPACITY[i]!);
  return Math.max(...loads) / (loads.reduce((s, l) => s + l, 0) / loads.length);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

console.log(`placement: ${N} requests between two heartbeats, capacities ${CAPACITY.join('/')}, seeds ${SEEDS[0]}..${SEEDS.at(-1)}`);
console.log('| fleet (reported sessions) | policy | max ÷ mean load: median | best | worst | assigned a/b/c/d (seed 1) | worst ÷ bootgate worst |');
console.log('|---|---|---:|---:|---:|---|---:|');
for (const [fleet, reported] of Object.entries(FLEETS)) {
  const rows: Array<{ policy: string; ratios: number[]; first: number[] }> = [];
  for (const policy of ['bootgate', ...Object.keys(PEERS)]) {
    const ratios: number[] = [];
    let first: number[] = [];
    for (const seed of SEEDS) {
      const assigned = policy === 'bootgate' ? bootgate(reported, seed) : simulate(PEERS[policy]!, reported, seed);
      const ratio = maxOverMean(reported, assigned);
      ratios.push(ratio);
      if (seed === SEEDS[0]) first = assigned;
      tsv(`placement\t${fleet}\t${policy}\t${seed}\t${ratio.toFixed(4)}\t${assigned.join(',')}`);
    }
    rows.push({ policy, ratios, first });
  }
  const bgWorst = Math.max(...rows[0]!.ratios);
  for (const r of rows) {
    const worst = Math.max(...r.ratios);
    console.log(
      `| ${fleet} (${reported.join('/')}) | ${r.policy} | ${median(r.ratios).toFixed(3)} | ${Math.min(...r.ratios).toFixed(3)} | ${worst.toFixed(3)} | ${r.first.join('/')} | ${(worst / bgWorst).toFixed(2)}× |`,
    );
  }
}

// the cost of one decision, in process (no HTTP)
function rate(label: string, n: number, fn: () => void): void {
  for (let i = 0; i < Math.min(n, 20_000); i++) fn(); // warm the JIT
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn();
  const s = (performance.now() - t0) / 1000;
  console.log(`in process: ${label}: ${Math.round(n / s).toLocaleString('en-US')} decisions/s (${((s / n) * 1e6).toFixed(2)} µs each)`);
  tsv(`inproc\t${label}\t${Math.round(n / s)}\t${((s / n) * 1e6).toFixed(3)}\t\t`);
}
{
  const w = registryWorld([0, 0, 0, 0], 1);
  try {
    rate('registry.choose() (4 healthy instances, counters and prom-client metrics)', 300_000, () => {
      w.clock.t += 0.01;
      w.reg.choose('game');
    });
  } finally {
    w.close();
  }
  const random = seededRandom(1);
  const cands: Candidate[] = CAPACITY.map((capacity, i) => ({
    id: NAMES[i]!,
    capacity,
    weight: 1,
    weightFactor: 1,
    activeSessions: 0,
    sentSinceHeartbeat: 0,
    healthy: true,
    drained: false,
  }));
  rate('select() alone (the same 4 candidates)', 1_000_000, () => {
    const c = select(cands, { random, panicThreshold: 0.5 });
    if (c.ok) c.instance.sentSinceHeartbeat += 1;
  });
}
