import type { Logger } from '../../log/logger.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { AuditRecordInput, AuditSink, SeatSession } from '../seats-and-audit.ts';

/** What one request or tunnel did: the record's own fields, with its start time (the seat's come from the session). */
export type Activity = Pick<
  AuditRecordInput,
  'kind' | 'method' | 'host' | 'port' | 'url' | 'sni' | 'status' | 'bytesUp' | 'bytesDown' | 'verdict' | 'detail'
> & {
  startedAt: number;
};

/** Turns one request or tunnel into one audit record and hands it to the sink; failures are logged and counted. */
export class AuditEmitter {
  private readonly inFlight = new Set<Promise<boolean>>();
  /** the request counter per (kind, verdict): labels are hashed when scraped, not on every request */
  private readonly counters = new Map<string, { inc(): void }>();

  constructor(
    private readonly sink: AuditSink,
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * A tunnel (CONNECT, TLS splice, upgraded connection) is through: the sink notes it as open, so a crash before
   * its close still leaves a record of it. Returns the id to pass to emit() at the close.
   */
  opened(ip: string, s: SeatSession | undefined, a: Activity): number | undefined {
    if (!this.sink.open || !s) return undefined;
    try {
      return this.sink.open(this.record(ip, s, a));
    } catch (err) {
      this.log.error({ err, ip, kind: a.kind, host: a.host }, 'open connection not noted');
      return undefined;
    }
  }

  /** Resolves true once the record is committed, false when the sink failed (logged and counted here). */
  emit(ip: string, s: SeatSession | undefined, a: Activity, openId?: number): Promise<boolean> {
    const r = this.emitNow(ip, s, a, openId);
    return r === true ? Promise.resolve(true) : r;
  }

  /**
   * As emit(), but `true` at once when there is nothing to wait for: reverse mode, a terminal without a session is
   * counted, not recorded (there is no person to record it against), and its response need not wait a microtask.
   */
  emitNow(ip: string, s: SeatSession | undefined, a: Activity, openId?: number): true | Promise<boolean> {
    const key = `${a.kind} ${a.verdict}`;
    let counter = this.counters.get(key);
    if (!counter) this.counters.set(key, (counter = this.metrics.requestCounts.slot({ kind: a.kind, verdict: a.verdict })));
    counter.inc();
    if (!s) return true;
    const record = this.record(ip, s, a);
    const p = this.sink.append(record, openId).then(
      () => {
        this.inFlight.delete(p);
        return true;
      },
      (err: unknown) => {
        this.inFlight.delete(p);
        this.metrics.auditFailures.inc();
        this.log.error({ err, ip, kind: a.kind, host: a.host }, 'audit record not committed');
        return false;
      },
    );
    this.inFlight.add(p);
    return p;
  }

  private record(ip: string, s: SeatSession, a: Activity): AuditRecordInput {
    const record: AuditRecordInput = {
      time: new Date(a.startedAt).toISOString(),
      seat: s.seat,
      ip,
      mac: s.mac,
      userId: s.user.id,
      userName: s.user.name,
      docType: s.user.docType,
      docNumber: s.user.docNumber,
      sessionId: s.sessionId,
      kind: a.kind,
      host: a.host,
      port: a.port,
      bytesUp: a.bytesUp,
      bytesDown: a.bytesDown,
      durationMs: Math.max(0, this.now() - a.startedAt),
      verdict: a.verdict,
    };
    if (s.user.docCountry !== undefined) record.docCountry = s.user.docCountry;
    if (a.method !== undefined) record.method = a.method;
    if (a.url !== undefined) record.url = a.url;
    if (a.sni !== undefined) record.sni = a.sni;
    if (a.status !== undefined) record.status = a.status;
    if (a.detail !== undefined) record.detail = a.detail;
    return record;
  }

  /** Resolves when every record handed to the sink so far has been committed (or has failed). */
  async drain(): Promise<void> {
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }
}

/** A refusal's record detail: the reason and the address that would have been dialled. */
export function refusalDetail(reason: string, dst: string | undefined): string {
  return dst === undefined ? `{"reason":"${reason}"}` : `{"reason":"${reason}","dst":"${dst}"}`;
}

/** An allowed connection's record detail: the address dialled (JSON built by hand: it runs once per request). */
export function dstDetail(dst: string, hostMismatch = false, extra?: string): string {
  return `{"dst":"${dst}"${hostMismatch ? ',"hostMismatch":true' : ''}${extra ? `,${extra}` : ''}}`;
}
