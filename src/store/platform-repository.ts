import type { Db } from './database.ts';

export type PlatformSource = 'config' | 'api';
export type ReportedState = 'ready' | 'drain';

/** The last accepted heartbeat, kept so that reported load survives a restart. */
export interface HeartbeatRecord {
  at: number;
  activeSessions: number;
  cpu: number;
  memory: number;
  bandwidthBps: number | null;
  state: ReportedState;
}

export interface PlatformInstanceRecord {
  id: string;
  class: string;
  name: string;
  url: string;
  capacity: number;
  weight: number;
  /** hex SHA-256 of the heartbeat token; null for config instances that only get polled */
  tokenHash: string | null;
  drained: boolean;
  source: PlatformSource;
  createdAt: number;
  heartbeat: HeartbeatRecord | null;
  /** requests sent to this instance, ever (flushed in batches by the registry) */
  decisions: number;
}

interface Row {
  id: string;
  class: string;
  name: string;
  url: string;
  capacity: number;
  weight: number;
  token_hash: string | null;
  drained: number;
  source: PlatformSource;
  created_at: number;
  hb_at: number | null;
  hb_sessions: number | null;
  hb_cpu: number | null;
  hb_memory: number | null;
  hb_bandwidth: number | null;
  hb_state: ReportedState | null;
  decisions: number;
}

const fromRow = (r: Row): PlatformInstanceRecord => ({
  id: r.id,
  class: r.class,
  name: r.name,
  url: r.url,
  capacity: r.capacity,
  weight: r.weight,
  tokenHash: r.token_hash,
  drained: r.drained === 1,
  source: r.source,
  createdAt: r.created_at,
  heartbeat:
    r.hb_at === null
      ? null
      : {
          at: r.hb_at,
          activeSessions: r.hb_sessions ?? 0,
          cpu: r.hb_cpu ?? 0,
          memory: r.hb_memory ?? 0,
          bandwidthBps: r.hb_bandwidth,
          state: r.hb_state ?? 'ready',
        },
  decisions: r.decisions,
});

export type NewPlatformInstance = Omit<PlatformInstanceRecord, 'heartbeat' | 'decisions' | 'drained'> & { drained?: boolean };

/** The platform_instances table (migration 5). Every write commits before it returns (synchronous=FULL). */
export class PlatformRepository {
  private readonly s;
  private readonly addDecisionsTx;

  constructor(readonly db: Db) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO platform_instances (id, class, name, url, capacity, weight, token_hash, drained, source, created_at)
         VALUES (@id, @class, @name, @url, @capacity, @weight, @tokenHash, @drained, @source, @createdAt)`,
      ),
      all: db.prepare<[], Row>('SELECT * FROM platform_instances ORDER BY class, name'),
      byId: db.prepare<[string], Row>('SELECT * FROM platform_instances WHERE id = ?'),
      byName: db.prepare<[string, string], Row>('SELECT * FROM platform_instances WHERE class = ? AND name = ?'),
      remove: db.prepare('DELETE FROM platform_instances WHERE id = ?'),
      setDrained: db.prepare('UPDATE platform_instances SET drained = ? WHERE id = ?'),
      updateStatic: db.prepare("UPDATE platform_instances SET url = @url, capacity = @capacity, weight = @weight, source = 'config' WHERE id = @id"),
      setToken: db.prepare('UPDATE platform_instances SET token_hash = ? WHERE id = ?'),
      heartbeat: db.prepare(
        `UPDATE platform_instances SET hb_at = @at, hb_sessions = @activeSessions, hb_cpu = @cpu, hb_memory = @memory,
           hb_bandwidth = @bandwidthBps, hb_state = @state WHERE id = @id`,
      ),
      addDecisions: db.prepare('UPDATE platform_instances SET decisions = decisions + ? WHERE id = ?'),
    };
    this.addDecisionsTx = db.transaction((counts: ReadonlyMap<string, number>) => {
      for (const [id, n] of counts) if (n > 0) this.s.addDecisions.run(n, id);
    });
  }

  all(): PlatformInstanceRecord[] {
    return this.s.all.all().map(fromRow);
  }

  get(id: string): PlatformInstanceRecord | undefined {
    const r = this.s.byId.get(id);
    return r && fromRow(r);
  }

  findByName(cls: string, name: string): PlatformInstanceRecord | undefined {
    const r = this.s.byName.get(cls, name);
    return r && fromRow(r);
  }

  /** Throws SQLITE_CONSTRAINT_UNIQUE when the class already has an instance of that name. */
  insert(rec: NewPlatformInstance): void {
    this.s.insert.run({ ...rec, drained: rec.drained ? 1 : 0 });
  }

  remove(id: string): boolean {
    return this.s.remove.run(id).changes > 0;
  }

  setDrained(id: string, drained: boolean): boolean {
    return this.s.setDrained.run(drained ? 1 : 0, id).changes > 0;
  }

  setTokenHash(id: string, hash: string): boolean {
    return this.s.setToken.run(hash, id).changes > 0;
  }

  /** A config instance whose URL, capacity or weight changed in the file (or that the file now claims). */
  updateStatic(id: string, f: { url: string; capacity: number; weight: number }): void {
    this.s.updateStatic.run({ id, ...f });
  }

  saveHeartbeat(id: string, hb: HeartbeatRecord): void {
    this.s.heartbeat.run({ id, ...hb });
  }

  /** Adds the decisions counted since the last flush, in one transaction. */
  addDecisions(counts: ReadonlyMap<string, number>): void {
    if (counts.size > 0) this.addDecisionsTx(counts);
  }
}
