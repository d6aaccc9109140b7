/**
 * Splits a child's stdout into lines: takes chunks as they arrive, keeps the unfinished tail, and never holds more
 * than `maxLineBytes` of one line (a longer line is discarded up to its newline and reported once).
 */
export type FramedLine = { line: string } | { tooLong: number };

export class LineFramer {
  private parts: Buffer[] = [];
  private held = 0;
  /** bytes of an over-long line thrown away so far; > 0 while discarding up to its newline */
  private discarding = 0;

  constructor(private readonly maxLineBytes = 16_384) {}

  push(chunk: Buffer): FramedLine[] {
    const out: FramedLine[] = [];
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, from);
      if (nl < 0) break;
      const piece = chunk.subarray(from, nl);
      if (this.discarding > 0 || this.held + piece.length > this.maxLineBytes) {
        out.push({ tooLong: this.discarding + this.held + piece.length });
        this.discarding = 0;
      } else {
        const whole = this.held ? Buffer.concat([...this.parts, piece]) : piece;
        out.push({ line: whole.toString('utf8').replace(/\r$/, '') });
      }
      this.parts = [];
      this.held = 0;
      from = nl + 1;
    }
    const rest = chunk.subarray(from);
    if (rest.length === 0) return out;
    if (this.discarding > 0 || this.held + rest.length > this.maxLineBytes) {
      this.discarding += this.held + rest.length;
      this.parts = [];
      this.held = 0;
    } else {
      // copy: the caller may reuse its buffer
      this.parts.push(Buffer.from(rest));
      this.held += rest.length;
    }
    return out;
  }

  /** Drops an unfinished line (the child exited mid-line). Returns its length, 0 if none. */
  reset(): number {
    const n = this.held + this.discarding;
    this.parts = [];
    this.held = 0;
    this.discarding = 0;
    return n;
  }
}
