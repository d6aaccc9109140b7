import type { Db } from './database.ts';

export type LeaseState = 'bound' | 'released' | 'expired' | 'declined';

export interface LeaseRecord {
  ip: number;
  clientKey: string;
  mac: string;
  hostname: string | null;
  state: LeaseState;
  startsAt: number;
  expiresAt: number;
}

interface Row {
  ip: number;
  client_key: string;
  mac: string;
  hostname: string | null;
  state: LeaseState;
  starts_at: number;
  expires_at: number;
}

const fromRow = (r: Row): LeaseRecord => ({
  ip: r.ip,
  clientKey: r.client_key,
  mac: r.mac,
  hostname: r.hostname,
  state: r.state,
  startsAt: r.starts_at,
  expiresAt: r.expires_at,
});

/** The leases table. `saveMany` writes a batch in one transaction: the caller's group commit. */
export class LeaseRepository {
  private readonly upsert;
  private readonly saveBatch;
  private readonly selectAll;

  constructor(private readonly db: Db) {
    this.upsert = db.prepare(
      `INSERT INTO leases (ip, client_key, mac, hostname, state, starts_at, expires_at)
       VALUES (@ip, @clientKey, @mac, @hostname, @state, @startsAt, @expiresAt)
       ON CONFLICT (ip) DO UPDATE SET client_key = excluded.client_key, mac = excluded.mac,
         hostname = excluded.hostname, state = excluded.state, starts_at = excluded.starts_at,
         expires_at = excluded.expires_at`,
    );
    this.saveBatch = db.transaction((leases: readonly LeaseRecord[]) => {
      for (const l of leases) this.upsert.run(l);
    });
    this.selectAll = db.prepare<[], Row>('SELECT * FROM leases ORDER BY ip');
  }

  all(): LeaseRecord[] {
    return this.selectAll.all().map(fromRow);
  }

  /** Commits every record in one transaction (synchronous=FULL: durable when this returns). */
  saveMany(leases: readonly LeaseRecord[]): void {
    if (leases.length > 0) this.saveBatch(leases);
  }
}
