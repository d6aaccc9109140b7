/**
 * The appliance's live event stream for the UI: a small in-process bus. The composition root publishes what
 * happens (boot timeline steps, committed leases, cashier sessions opening and closing); the SSE endpoint
 * (ui/stream.ts) forwards to every open room screen. Events get increasing ids and the last `capacity` of them
 * stay in a ring, so a browser that reconnects with Last-Event-ID gets what it missed, or is told to resync.
 */
export type UiEventType = 'boot' | 'lease' | 'lease-end' | 'session' | 'queue' | 'overlay';

export interface UiEvent {
  id: number;
  type: UiEventType;
  /** unix ms */
  at: number;
  data: unknown;
}

export type UiEventListener = (e: UiEvent) => void;

export class UiEventBus {
  private readonly ring: UiEvent[] = [];
  private lastId = 0;
  private readonly listeners = new Set<UiEventListener>();
  private readonly clock: () => number;

  constructor(
    private readonly capacity = 2000,
    clock?: () => number,
    private readonly onListenerError?: (e: unknown) => void,
  ) {
    this.clock = clock ?? Date.now;
  }

  publish(type: UiEventType, data: unknown): UiEvent {
    const e: UiEvent = { id: ++this.lastId, type, at: this.clock(), data };
    this.ring[(e.id - 1) % this.capacity] = e; // fills in order, then overwrites the oldest
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.onListenerError?.(err);
      }
    }
    return e;
  }

  subscribe(listener: UiEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** the id of the newest event (0 before the first): a snapshot taken now is current up to it */
  get latestId(): number {
    return this.lastId;
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  /**
   * The events after `id`, oldest first; undefined when some of them have already left the ring (or `id` is
   * from another run of the appliance: newer than any issued), so the reader must reload its snapshot.
   */
  since(id: number): UiEvent[] | undefined {
    if (id > this.lastId) return undefined;
    if (id === this.lastId) return [];
    const oldest = this.lastId - this.ring.length + 1;
    if (id + 1 < oldest) return undefined;
    const out: UiEvent[] = [];
    for (let want = id + 1; want <= this.lastId; want++) out.push(this.ring[(want - 1) % this.capacity]!);
    return out;
  }
}
