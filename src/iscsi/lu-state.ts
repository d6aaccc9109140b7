import type { BlockDevice } from './block-device.ts';
import { PersistentReservations } from './persistent-reservations.ts';

/**
 * What a logical unit keeps between commands and across sessions: the RESERVE(6) holder (SPC-2 §7.21) and a
 * range lock that makes COMPARE AND WRITE and ORWRITE atomic against every other write of the same blocks
 * (SBC-3 §5.2: "no other command shall be allowed to modify those logical blocks" until it completes).
 * Persistent reservations (SPC-4 §5.13) live here too: they outlive the sessions that make them.
 * One per BlockDevice: the target owns a LuStates and every session on that disk gets the same LuState.
 */
export class LuState {
  /** the I_T nexus (session token) that holds the RESERVE(6) reservation */
  reservedBy: string | undefined;
  readonly pr = new PersistentReservations();
  private readonly active = new Set<{ start: number; end: number; done: Promise<void> }>();

  /** Waits until no locked range overlaps [lba, lba+blocks), then holds it; call the result to release. */
  async lock(lba: number, blocks: number): Promise<() => void> {
    const end = lba + Math.max(1, blocks);
    for (;;) {
      const busy = [...this.active].find((r) => r.start < end && lba < r.end);
      if (!busy) break;
      await busy.done;
    }
    let release!: () => void;
    const entry = { start: lba, end, done: new Promise<void>((r) => (release = r)) };
    this.active.add(entry);
    return () => {
      this.active.delete(entry);
      release();
    };
  }

  async locked<T>(lba: number, blocks: number, fn: () => Promise<T>): Promise<T> {
    const release = await this.lock(lba, blocks);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** I_T nexus loss (logout, dropped connection) releases its reservation (SPC-2 §5.5.3). */
  nexusLost(nexus: string): void {
    if (this.reservedBy === nexus) this.reservedBy = undefined;
  }

  /**
   * LOGICAL UNIT RESET and target resets release RESERVE(6) reservations (SPC-2 §5.5.3, SAM-5 §6.3.7);
   * persistent reservations survive them (SPC-4 §5.13.1).
   */
  reset(): void {
    this.reservedBy = undefined;
  }
}

export class LuStates {
  private readonly states = new WeakMap<BlockDevice, LuState>();
  of(device: BlockDevice): LuState {
    let s = this.states.get(device);
    if (!s) this.states.set(device, (s = new LuState()));
    return s;
  }
}
