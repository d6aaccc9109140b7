import type Database from 'better-sqlite3';
import type { Db } from './database.ts';
import type { AuditKind, AuditRecord } from '../audit/record.ts';

interface Row {
  seq: number;
  time: number;
  kind: AuditKind;
  seat: string | null;
  ip: string | null;
  mac: string | null;
  user_id: string | null;
  user_name: string | null;
  doc_type: string | null;
  doc_number: string | null;
  doc_country: string | null;
  session_id: string | null;
  method: string | null;
  host: string | null;
  port: number | null;
  url: string | null;
  sni: string | null;
  status: number | null;
  bytes_up: number | null;
  bytes_down: number | null;
  duration_ms: number | null;
  verdict: string | null;
  actor: string | null;
  action: string | null;
  target: string | null;
  detail: string | null;
  prev_hash: string;
  hash: string;
}

const fromRow = (r: Row): AuditRecord => ({
  seq: r.seq,
  time: r.time,
  kind: r.kind,
  seat: r.seat,
  ip: r.ip,
  mac: r.mac,
  userId: r.user_id,
  userName: r.user_name,
  docType: r.doc_type,
  docNumber: r.doc_number,
  docCountry: r.doc_country,
  sessionId: r.session_id,
  method: r.method,
  host: r.host,
  port: r.port,
  url: r.url,
  sni: r.sni,
  status: r.status,
  bytesUp: r.bytes_up,
  bytesDown: r.bytes_down,
  durationMs: r.duration_ms,
  verdict: r.verdict,
  actor: r.actor,
  action: r.action,
  target: r.target,
  detail: r.detail,
  prevHash: r.prev_hash,
  hash: r.hash,
});

/**
 * A record as the INSERT's positional parameters, seq first. The main thread posts these to the audit writer
 * thread: an array of primitives crosses a thread for about half the structured-clone cost of the object.
 */
export type AuditRow = unknown[];

/** Where auditRow() puts the fields the writer thread checks the chain by (held equal to auditRow by a test). */
export const AUDIT_ROW = { seq: 0, prevHash: 26, hash: 27 } as const;

export function auditRow(r: AuditRecord): AuditRow {
  return [
    r.seq,
    r.time,
    r.kind,
    r.seat,
    r.ip,
    r.mac,
    r.userId,
    r.userName,
    r.docType,
    r.docNumber,
    r.docCountry,
    r.sessionId,
    r.method,
    r.host,
    r.port,
    r.url,
    r.sni,
    r.status,
    r.bytesUp,
    r.bytesDown,
    r.durationMs,
    r.verdict,
    r.actor,
    r.action,
    r.target,
    r.detail,
    r.prevHash,
    r.hash,
  ];
}

export interface AuditQuery {
  /** unix ms, inclusive */
  from?: number;
  /** unix ms, exclusive */
  to?: number;
  userId?: string;
  seat?: string;
  /** exact host name of http/tunnel/tls records (search only: no index, a scan bounded by the limit) */
  host?: string;
  kind?: AuditKind;
  afterSeq?: number;
  limit?: number;
  /** newest first (a search for the latest records, e.g. the terminal panel's); exports always read in chain order */
  newestFirst?: boolean;
}

/** A stretch of the chain an export reads: the filters plus the seq window fixed when the export started. */
export interface ExportSnapshot {
  query: AuditQuery;
  /** first seq that can match (records before it are outside the time range); 0 when the range is empty */
  startSeq: number;
  /** last seq that can match: the chain head when the export started, or the last record before `to` */
  throughSeq: number;
}

/** A row of audit_open: id, opened_at (unix ms), the record's input as JSON. */
export type OpenRow = [number, number, string];

/** The WHERE terms and named parameters of a query's filters (time range, user, seat, host, kind). */
function filterClauses(q: AuditQuery): { where: string[]; args: Record<string, unknown> } {
  const where: string[] = [];
  const args: Record<string, unknown> = {};
  const filters: ReadonlyArray<[keyof AuditQuery, string]> = [
    ['from', 'time >= @from'],
    ['to', 'time < @to'],
    ['userId', 'user_id = @userId'],
    ['seat', 'seat = @seat'],
    ['host', 'host = @host'],
    ['kind', 'kind = @kind'],
  ];
  for (const [key, term] of filters) {
    if (q[key] === undefined) continue;
    where.push(term);
    args[key] = q[key];
  }
  return { where, args };
}

/** The audit table: append (inside the writer's transaction), range reads, and the retention purge. */
export class AuditRepository {
  private readonly insert;
  private readonly insertOpen;
  private readonly removeOpen;
  private readonly tail;
  private readonly head;
  private readonly lastBefore;
  private readonly deleteThrough;
  private readonly countThrough;
  private readonly bySeq;
  private readonly firstAtOrAfter;
  private readonly lastBeforeTime;
  /** batch statements by SQL text (one per filter combination) */
  private readonly batchStatements = new Map<string, Database.Statement<Record<string, unknown>, Row>>();

  constructor(readonly db: Db) {
    this.insert = db.prepare(
      `INSERT INTO audit (seq, time, kind, seat, ip, mac, user_id, user_name, doc_type, doc_number, doc_country, session_id, method, host, port,
         url, sni, status, bytes_up, bytes_down, duration_ms, verdict, actor, action, target, detail, prev_hash, hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertOpen = db.prepare<[OpenRow]>('INSERT INTO audit_open (id, opened_at, input) VALUES (?, ?, ?)');
    this.removeOpen = db.prepare<[number]>('DELETE FROM audit_open WHERE id = ?');
    this.tail = db.prepare<[], Row>('SELECT * FROM audit ORDER BY seq DESC LIMIT 1');
    this.head = db.prepare<[], Row>('SELECT * FROM audit ORDER BY seq ASC LIMIT 1');
    this.lastBefore = db.prepare<[number], Row>('SELECT * FROM audit WHERE time < ? ORDER BY seq DESC LIMIT 1');
    this.deleteThrough = db.prepare('DELETE FROM audit WHERE seq <= ?');
    this.countThrough = db.prepare<[number], { n: number }>('SELECT count(*) AS n FROM audit WHERE seq <= ?');
    this.bySeq = db.prepare<[number], Row>('SELECT * FROM audit WHERE seq = ?');
    // audit_time is (time, rowid): one index probe each. time never decreases along seq, so these are seq bounds.
    this.firstAtOrAfter = db.prepare<[number], { seq: number }>('SELECT seq FROM audit WHERE time >= ? ORDER BY time, seq LIMIT 1');
    this.lastBeforeTime = db.prepare<[number], { seq: number }>('SELECT seq FROM audit WHERE time < ? ORDER BY time DESC, seq DESC LIMIT 1');
  }

  /** Open connections awaiting their record (audit_open): writes what opened, removes what closed (inside the caller's transaction). */
  applyOpenOps(opens: readonly OpenRow[], closes: readonly number[]): void {
    for (const o of opens) this.insertOpen.run(o);
    for (const id of closes) this.removeOpen.run(id);
  }

  /** Every row of audit_open, oldest first. */
  openRows(): OpenRow[] {
    return this.db
      .prepare<[], { id: number; opened_at: number; input: string }>('SELECT id, opened_at, input FROM audit_open ORDER BY id')
      .all()
      .map((r) => [r.id, r.opened_at, r.input] as OpenRow);
  }

  /** The highest id in audit_open (0 when empty): new ids continue after it. */
  maxOpenId(): number {
    return this.db.prepare<[], { m: number }>('SELECT coalesce(max(id), 0) AS m FROM audit_open').get()?.m ?? 0;
  }

  /** Runs `fn` in a transaction (a savepoint when already inside one). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** Positional parameters (auditRow): binding 28 named ones cost a property lookup each on every record. */
  append(r: AuditRecord): void {
    this.insert.run(auditRow(r));
  }

  /** A row from auditRow(): the audit writer thread's INSERT. */
  appendRow(row: AuditRow): void {
    this.insert.run(row);
  }

  last(): AuditRecord | undefined {
    const r = this.tail.get();
    return r ? fromRow(r) : undefined;
  }

  first(): AuditRecord | undefined {
    const r = this.head.get();
    return r ? fromRow(r) : undefined;
  }

  get(seq: number): AuditRecord | undefined {
    const r = this.bySeq.get(seq);
    return r ? fromRow(r) : undefined;
  }

  /** The newest record strictly older than `time` (the last one a purge at that cutoff removes). */
  lastOlderThan(time: number): AuditRecord | undefined {
    const r = this.lastBefore.get(time);
    return r ? fromRow(r) : undefined;
  }

  /** Deletes every record with seq <= throughSeq; returns how many. */
  purgeThrough(throughSeq: number): number {
    const n = this.countThrough.get(throughSeq)?.n ?? 0;
    this.deleteThrough.run(throughSeq);
    return n;
  }

  /** Records in chain order, filtered; iterates lazily so exports never hold the whole table. */
  *iterate(q: AuditQuery = {}): Generator<AuditRecord> {
    const { where, args } = filterClauses(q);
    if (q.afterSeq !== undefined) {
      where.push('seq > @afterSeq');
      args.afterSeq = q.afterSeq;
    }
    const sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq${q.newestFirst ? ' DESC' : ''} ${q.limit !== undefined ? `LIMIT ${Math.max(0, Math.floor(q.limit))}` : ''}`;
    for (const r of this.db.prepare<Record<string, unknown>, Row>(sql).iterate(args)) yield fromRow(r);
  }

  query(q: AuditQuery): AuditRecord[] {
    return [...this.iterate(q)];
  }

  /**
   * Fixes the seq window of an export now: from the first record at or after `from` to the chain head (or the last
   * record before `to`). Records appended later are outside it, so a slow export is still one consistent stretch.
   */
  snapshot(q: AuditQuery): ExportSnapshot {
    const head = this.tail.get()?.seq ?? 0;
    const start = q.from === undefined ? (this.head.get()?.seq ?? 0) : (this.firstAtOrAfter.get(q.from)?.seq ?? 0);
    const end = q.to === undefined ? head : Math.min(head, this.lastBeforeTime.get(q.to)?.seq ?? 0);
    const empty = start === 0 || end === 0 || end < start;
    return { query: { ...q }, startSeq: empty ? 0 : start, throughSeq: empty ? 0 : end };
  }

  /**
   * Reads an export in batches by keyset (seq > cursor ... LIMIT n). Each batch is one complete `.all()`: no
   * statement stays open and no read transaction outlives the batch, so between batches the connection is free
   * for the audit writer (better-sqlite3 refuses other statements while an iterator is open) and WAL checkpoints
   * are not held back by a snapshot that lives as long as the slowest client. NOT INDEXED keeps SQLite on the
   * rowid (seq) range: with the time/seat/user indexes it could pick one and re-sort the rest of the range per
   * batch.
   */
  exportBatch(s: ExportSnapshot, afterSeq: number, limit: number): AuditRecord[] {
    if (s.throughSeq === 0) return [];
    const q = s.query;
    const { where, args } = filterClauses(q);
    where.unshift('seq > @afterSeq', 'seq <= @throughSeq');
    args.afterSeq = Math.max(afterSeq, s.startSeq - 1);
    args.throughSeq = s.throughSeq;
    args.limit = Math.max(1, Math.floor(limit));
    const sql = `SELECT * FROM audit NOT INDEXED WHERE ${where.join(' AND ')} ORDER BY seq LIMIT @limit`;
    let stmt = this.batchStatements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare<Record<string, unknown>, Row>(sql);
      this.batchStatements.set(sql, stmt);
    }
    return stmt.all(args).map(fromRow);
  }
}
