/** A fake clock with timers for services that take `now` and a set/clear timer pair: advance() fires what falls due, in order. */
export class FakeClock {
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void; seq: number }>();

  constructor(public t: number) {}

  readonly now = (): number => this.t;

  readonly timers = {
    set: (fn: () => void, ms: number): unknown => {
      const id = ++this.seq;
      this.pending.set(id, { at: this.t + Math.max(0, ms), fn, seq: id });
      return id;
    },
    clear: (h: unknown): void => void this.pending.delete(h as number),
  };

  /** Timers armed and not yet fired. */
  get armed(): number {
    return this.pending.size;
  }

  /** The time of the next timer, if any. */
  next(): number | undefined {
    return [...this.pending.values()].sort((a, b) => a.at - b.at || a.seq - b.seq)[0]?.at;
  }

  /** Moves the clock to `to`, firing every timer due on the way (timers they arm included), in time order. */
  async advanceTo(to: number): Promise<void> {
    for (;;) {
      const due = [...this.pending.entries()].filter(([, p]) => p.at <= to).sort(([, a], [, b]) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.pending.delete(due[0]);
      this.t = Math.max(this.t, due[1].at);
      due[1].fn();
      await new Promise((r) => setImmediate(r)); // let the promises the timer started settle
    }
    this.t = Math.max(this.t, to);
    await new Promise((r) => setImmediate(r));
  }

  advance(ms: number): Promise<void> {
    return this.advanceTo(this.t + ms);
  }
}
