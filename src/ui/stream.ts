import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { UiEvent, UiEventBus } from './events.ts';
import type { SessionStore, UiSession } from './sessions.ts';

export interface EventStreamsDeps {
  bus: UiEventBus;
  sessions: SessionStore;
  heartbeatMs: number;
  logger: Logger;
  /** this run of the appliance: event ids are `<run>.<n>`, so an id from before a restart is never resumed */
  run: string;
}

/** A browser that reads slower than events come is dropped past this much unsent data; it reconnects and resumes. */
const MAX_BUFFERED_BYTES = 1 << 20;

/**
 * GET /ui/api/events: Server-Sent Events (HTML Living Standard §9.2) for a logged-in staff session. Resumes after
 * the Last-Event-ID header (the browser's reconnect) or `?since=` (the snapshot's eventId); when the ring no
 * longer holds what was missed, sends `event: resync` and the browser reloads its snapshot. A comment line
 * every heartbeat keeps the connection alive and re-checks the session: a logout, a password change, a removed
 * account or an expiry ends the stream.
 */
export class EventStreams {
  private readonly open = new Set<{ session: UiSession; close: () => void }>();

  constructor(private readonly deps: EventStreamsDeps) {}

  eventId(n: number): string {
    return `${this.deps.run}.${n}`;
  }

  get count(): number {
    return this.open.size;
  }

  serve(req: Request, res: Response, session: UiSession): void {
    res.status(200);
    res.set({ 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    req.socket.setNoDelay(true);
    let closed = false;
    const write = (text: string): void => {
      if (closed) return;
      res.write(text);
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        this.deps.logger.info({ user: session.username }, 'event stream reader too slow; dropped (it resumes on reconnect)');
        close();
      }
    };
    const send = (e: UiEvent): void =>
      write(`id: ${this.eventId(e.id)}\nevent: ${e.type}\ndata: ${JSON.stringify({ at: e.at, ...(e.data as object) })}\n\n`);

    write('retry: 2000\n\n');
    const from = this.resumePoint(req.get('last-event-id') ?? (typeof req.query.since === 'string' ? req.query.since : undefined));
    const unsubscribe = this.deps.bus.subscribe(send);
    if (from !== null) {
      const missed = this.deps.bus.since(from);
      if (missed) for (const e of missed) send(e);
      else write(`id: ${this.eventId(this.deps.bus.latestId)}\nevent: resync\ndata: {}\n\n`);
    }
    const heartbeat = setInterval(() => {
      if (!this.deps.sessions.byId(session.id)) close();
      else write(': heartbeat\n\n');
    }, this.deps.heartbeatMs);
    heartbeat.unref();
    const close = (): void => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      unsubscribe();
      this.open.delete(entry);
      res.end();
    };
    const entry = { session, close };
    this.open.add(entry);
    req.on('close', close);
    res.on('error', close);
  }

  /** Ends the streams of every session of an account (its sessions were ended); each re-checks on its heartbeat anyway. */
  closeAllOf(username: string): void {
    for (const s of [...this.open]) if (s.session.username === username) s.close();
  }

  /** Ends the streams of one session (its logout). */
  closeSession(id: string): void {
    for (const s of [...this.open]) if (s.session.id === id) s.close();
  }

  closeAll(): void {
    for (const s of [...this.open]) s.close();
  }

  /** The event number to resume after, -1 for "this run's id is unknown: resync", null for a fresh stream. */
  private resumePoint(given: string | undefined): number | null {
    if (given === undefined || given === '') return null;
    const m = /^([A-Za-z0-9]+)\.(\d{1,15})$/.exec(given);
    if (!m || m[1] !== this.deps.run) return -1;
    return Number(m[2]);
  }
}
