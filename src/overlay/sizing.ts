/**
 * Overlay sizing for the seat classes (issue 13): a recommended overlay bound from the measured write-back of an
 * image's past sessions, and a forecast of when the overlay disk fills at the current growth — a warning the
 * operator sees, never a reason to refuse a boot. Pure functions, unit-tested (test/unit/overlay-sizing.test.ts).
 */

/** fewer sessions than this measured: no recommendation (a p95 of two values says little) */
export const MIN_SAMPLES = 5;
/** the recommendation is the p95 plus this share, rounded up to a whole step */
const HEADROOM = 1.25;
const STEP_BYTES = 256 * 2 ** 20;

/** Nearest-rank percentile (p in 0…100] of the values; undefined for none. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export interface OverlayRecommendation {
  samples: number;
  /** p95 of the sessions' overlay sizes; null below MIN_SAMPLES */
  p95Bytes: number | null;
  /** p95 × 1.25 rounded up to 256 MiB (at least 256 MiB); null below MIN_SAMPLES */
  recommendedBytes: number | null;
}

export function recommendOverlay(sizes: readonly number[]): OverlayRecommendation {
  if (sizes.length < MIN_SAMPLES) return { samples: sizes.length, p95Bytes: null, recommendedBytes: null };
  const p95 = percentile(sizes, 95)!;
  const recommended = Math.max(STEP_BYTES, Math.ceil((p95 * HEADROOM) / STEP_BYTES) * STEP_BYTES);
  return { samples: sizes.length, p95Bytes: p95, recommendedBytes: recommended };
}

export interface DiskForecast {
  /** growth of all overlays together over the window, bytes per hour; null with fewer than two samples */
  bytesPerHour: number | null;
  /** hours until the free space is gone at that rate; null when not growing */
  hoursToFull: number | null;
}

/**
 * When the overlay disk is full at the current rate: the growth of the total overlay bytes from the oldest sample
 * in the window to the newest (a reset or a deleted overlay makes it shrink: then not growing), against the free
 * bytes of the file system.
 */
export function forecastFull(samples: ReadonlyArray<{ at: number; bytes: number }>, freeBytes: number, windowMs: number): DiskForecast {
  if (samples.length < 2) return { bytesPerHour: null, hoursToFull: null };
  const last = samples[samples.length - 1]!;
  const first = samples.find((s) => s.at >= last.at - windowMs) ?? samples[0]!;
  const dt = last.at - first.at;
  if (dt <= 0) return { bytesPerHour: null, hoursToFull: null };
  const bytesPerHour = ((last.bytes - first.bytes) * 3_600_000) / dt;
  return { bytesPerHour, hoursToFull: bytesPerHour > 0 ? Math.max(0, freeBytes) / bytesPerHour : null };
}
