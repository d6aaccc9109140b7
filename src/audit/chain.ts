import { GENESIS_HASH, normalise, seal, type AuditInput, type AuditRecord } from './record.ts';

/** Where the chain stands: the last record's seq, hash and time (seq 0 and the genesis hash on a fresh appliance). */
export interface ChainHead {
  seq: number;
  hash: string;
  time: number;
}

/** What the chain resumes from: the last committed record (AuditRepository on either connection). */
export interface ChainStore {
  last(): Pick<AuditRecord, 'seq' | 'hash' | 'time'> | undefined;
}

/**
 * The head of the hash chain and the one place it moves. `next()` seals an input as the record after the head
 * (seq + 1, time never before the head's, prevHash = the head's hash: record.ts has the hashing rule) without
 * moving it; `accept()` moves the head to that record once it is stored (or, for the writer thread, handed over).
 * `advance()` does both. After a failed commit, or on start after a restart or kill -9, `resume()` reads the head
 * back from the store: what was committed is the chain, whatever was sealed.
 */
export class AuditChain {
  private seq = 0;
  private hash = GENESIS_HASH;
  private time = 0;

  constructor(private readonly clock: () => number = Date.now) {}

  /** A chain continuing the store's last record (the genesis hash when the store is empty). */
  static resume(store: ChainStore, clock?: () => number): AuditChain {
    const chain = new AuditChain(clock);
    chain.resume(store);
    return chain;
  }

  /** Moves the head to the store's last record (after a failed commit: sealed but uncommitted records are dropped). */
  resume(store: ChainStore): void {
    const last = store.last();
    this.seq = last?.seq ?? 0;
    this.hash = last?.hash ?? GENESIS_HASH;
    this.time = last?.time ?? 0;
  }

  head(): ChainHead {
    return { seq: this.seq, hash: this.hash, time: this.time };
  }

  /** The next record time: the clock, but never before the head (so a time range is one stretch of seqs). */
  nextTime(): number {
    return Math.max(this.clock(), this.time);
  }

  /** Seals `input` as the record after the head, at `time` (default nextTime()); the head does not move. */
  next(input: AuditInput, time: number = this.nextTime()): AuditRecord {
    return seal(this.hash, normalise(input, this.seq + 1, time));
  }

  /** Moves the head to `record`, which must be the one next() sealed on the current head. */
  accept(record: AuditRecord): void {
    if (record.seq !== this.seq + 1 || record.prevHash !== this.hash)
      throw new Error(`audit chain: seq ${record.seq} does not follow the head (seq ${this.seq})`);
    this.seq = record.seq;
    this.hash = record.hash;
    this.time = record.time;
  }

  /** next() and accept(): for records that are on their way to the store as soon as they are sealed. */
  advance(input: AuditInput): AuditRecord {
    const record = this.next(input);
    this.accept(record);
    return record;
  }
}
