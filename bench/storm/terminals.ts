/**
 * Runs n simulated terminals at once and summarizes them (bench/storm/storm.ts, full-storm.ts): the results of those
 * that completed, the reasons of those that failed, the wall time, and p50/p99/max (ms, nearest rank) of any phase.
 */
export interface PhaseStats {
  p50: number;
  p99: number;
  max: number;
}

function pct(v: number[], p: number): number {
  if (!v.length) return -1;
  const s = [...v].sort((a, b) => a - b);
  return Math.round(s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!);
}

export async function runTerminals<R>(
  n: number,
  terminal: (i: number) => Promise<R>,
): Promise<{ ok: R[]; failed: string[]; wallMs: number; phase: (k: keyof R) => PhaseStats }> {
  const start = performance.now();
  const settled = await Promise.allSettled(Array.from({ length: n }, (_, i) => terminal(i)));
  const wallMs = Math.round(performance.now() - start);
  const ok = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []));
  const phase = (k: keyof R): PhaseStats => {
    const v = ok.map((r) => Number(r[k]));
    return { p50: pct(v, 50), p99: pct(v, 99), max: pct(v, 100) };
  };
  return { ok, failed, wallMs, phase };
}
