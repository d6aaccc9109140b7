import type { Logger } from 'pino';
import type { AdmissionSnapshot } from '../boot/admission.ts';
import type { OverlayTerminal } from '../overlay/manager.ts';
import type { Mac } from '../terminal/mac.ts';
import type { OverlayEventData, OverlayUseView, QueueView } from './wire.ts';
import { every } from './periodic.ts';

/** What the watch reads: the overlay manager's images and, per image, its terminals' overlays. */
export interface OverlaySource {
  images(): Array<{ image: string }>;
  terminals(image: string): Promise<OverlayTerminal[]>;
}

export interface OverlayWatchDeps {
  overlays: OverlaySource;
  /** a terminal's overlay bound (its seat class's, else iscsi.overlays.limitBytes); undefined: the disk size */
  limitFor: (mac: Mac) => number | undefined;
  publish: (data: OverlayEventData) => void;
  sampleMs: number;
  logger: Logger;
  /** how many totals to keep for the growth forecast (default: one hour of samples) */
  keepTotals?: number;
  clock?: () => number;
}

/**
 * The room tiles' overlay use, kept current without the browser polling: every `sampleMs` the overlays of every
 * image are read (live disks from memory, others from their map files: OverlayManager.overlayBytes) and an
 * `overlay` event goes on the bus for each terminal whose use changed. A terminal with overlays in several
 * images shows the one a session holds, else the largest.
 */
export class OverlayWatch {
  private last = new Map<string, OverlayUseView>();
  private stopTimer: (() => void) | undefined;
  private running: Promise<void> | undefined;
  /** the sum of every overlay's bytes per pass, oldest first: the growth behind the disk-full forecast */
  private readonly totals: Array<{ at: number; bytes: number }> = [];

  constructor(private readonly deps: OverlayWatchDeps) {}

  start(): void {
    this.stopTimer = every(this.deps.sampleMs, () => void this.sample());
  }

  stop(): void {
    this.stopTimer?.();
    this.stopTimer = undefined;
  }

  /** the total overlay bytes per pass, oldest first */
  totalsOverTime(): ReadonlyArray<{ at: number; bytes: number }> {
    return this.totals;
  }

  /** the use of every terminal with an overlay, as of the last sample */
  current(mac: string): OverlayUseView | null {
    return this.last.get(mac) ?? null;
  }

  /** One pass; a pass still running is joined, not doubled. */
  sample(): Promise<void> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<void> {
    const next = new Map<string, OverlayUseView>();
    for (const { image } of this.deps.overlays.images()) {
      let terminals: OverlayTerminal[];
      try {
        terminals = await this.deps.overlays.terminals(image);
      } catch (err) {
        this.deps.logger.warn({ err, image }, 'overlay use not read');
        continue;
      }
      for (const t of terminals) {
        if (t.overlayMode === null && !t.inUse) continue; // a mode set, no overlay on file
        const view: OverlayUseView = { image, bytes: t.bytes, limitBytes: this.deps.limitFor(t.mac) ?? null, inUse: t.inUse, mode: t.mode };
        const had = next.get(t.mac);
        if (!had || (view.inUse && !had.inUse) || (view.inUse === had.inUse && view.bytes > had.bytes)) next.set(t.mac, view);
      }
    }
    for (const [mac, view] of next) {
      const was = this.last.get(mac);
      if (!was || !sameUse(was, view)) this.deps.publish({ mac, overlay: view });
    }
    // a reset deletes the overlay: the tile shows none
    for (const mac of this.last.keys()) if (!next.has(mac)) this.deps.publish({ mac, overlay: null });
    this.last = next;
    let total = 0;
    for (const v of next.values()) total += v.bytes;
    this.totals.push({ at: (this.deps.clock ?? Date.now)(), bytes: total });
    const keep = this.deps.keepTotals ?? Math.max(2, Math.ceil(3_600_000 / this.deps.sampleMs));
    if (this.totals.length > keep) this.totals.splice(0, this.totals.length - keep);
  }
}

const sameUse = (a: OverlayUseView, b: OverlayUseView): boolean =>
  a.image === b.image && a.bytes === b.bytes && a.inUse === b.inUse && a.mode === b.mode && a.limitBytes === b.limitBytes;

/** The boot queue as the room snapshot carries it: who waits, in order, and who holds a heavy-phase slot. */
export function queueView(s: AdmissionSnapshot): QueueView {
  return {
    bound: s.bound,
    waiting: [...s.waiting].sort((a, b) => a.position - b.position).map((w) => w.mac),
    inHeavyPhase: s.inHeavyPhase.map((h) => h.mac),
  };
}
