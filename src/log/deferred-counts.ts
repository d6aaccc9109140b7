import type { Counter } from 'prom-client';

/** One label set's increments not yet in the counter. */
export class PendingCount {
  n = 0;

  constructor(readonly labels: Readonly<Record<string, string | number>>) {}

  inc(): void {
    this.n++;
  }
}

/**
 * Counts of a per-request hot path kept as plain numbers per label set, and added to their prom-client counter when
 * it is collected (a scrape of /metrics, or `counter.get()`): an increment costs one addition where prom-client's
 * own `inc(labels)` (or a `labels()` child, which calls it) hashes and validates the labels each time. The counter
 * must call `flush()` from its `collect` hook, so what is read is always complete.
 */
export class DeferredCounts {
  private readonly pending: PendingCount[] = [];

  constructor(private readonly counter: () => Counter) {}

  /**
   * The count of one label set; keep it and increment it (making one costs a slot kept for the process's life,
   * so call this once per label set, not per request).
   */
  slot(labels: Readonly<Record<string, string | number>>): PendingCount {
    const s = new PendingCount(labels);
    this.pending.push(s);
    return s;
  }

  flush(): void {
    const counter = this.counter();
    for (const s of this.pending) {
      if (s.n === 0) continue;
      counter.inc(s.labels, s.n);
      s.n = 0;
    }
  }
}
