import type { Db } from './database.ts';

export interface BootEvent {
  stage: string;
  at: number;
  detail?: string;
}

export interface BootRecord {
  id: number;
  mac: string;
  startedAt: number;
  stage: string;
  events: BootEvent[];
}

export interface TerminalRecord {
  mac: string;
  uuid: string | null;
  firmware: string | null;
  lastIp: number | null;
  firstSeen: number;
  lastSeen: number;
}

interface BootRow {
  id: number;
  mac: string;
  started_at: number;
  stage: string;
  events: string;
}

const bootFromRow = (r: BootRow): BootRecord => ({
  id: r.id,
  mac: r.mac,
  startedAt: r.started_at,
  stage: r.stage,
  events: JSON.parse(r.events) as BootEvent[],
});

/** Terminals and their boot timelines. */
export class BootRepository {
  private readonly upsertTerminal;
  private readonly insertBoot;
  private readonly updateBoot;
  private readonly latest;
  private readonly terminalsQuery;
  private readonly bootsOf;

  constructor(db: Db) {
    this.upsertTerminal = db.prepare(
      `INSERT INTO terminals (mac, uuid, firmware, last_ip, first_seen, last_seen) VALUES (@mac, @uuid, @firmware, @lastIp, @at, @at)
       ON CONFLICT (mac) DO UPDATE SET uuid = coalesce(excluded.uuid, uuid), firmware = coalesce(excluded.firmware, firmware),
         last_ip = coalesce(excluded.last_ip, last_ip), last_seen = excluded.last_seen`,
    );
    this.insertBoot = db.prepare('INSERT INTO boots (mac, started_at, stage, events) VALUES (?, ?, ?, ?)');
    this.updateBoot = db.prepare('UPDATE boots SET stage = ?, events = ? WHERE id = ?');
    this.latest = db.prepare<[string], BootRow>('SELECT * FROM boots WHERE mac = ? ORDER BY id DESC LIMIT 1');
    this.terminalsQuery = db.prepare<
      [],
      { mac: string; uuid: string | null; firmware: string | null; last_ip: number | null; first_seen: number; last_seen: number }
    >('SELECT * FROM terminals ORDER BY mac');
    this.bootsOf = db.prepare<[string, number], BootRow>('SELECT * FROM boots WHERE mac = ? ORDER BY id DESC LIMIT ?');
  }

  touchTerminal(t: { mac: string; uuid?: string | null; firmware?: string | null; lastIp?: number | null; at: number }): void {
    this.upsertTerminal.run({ mac: t.mac, uuid: t.uuid ?? null, firmware: t.firmware ?? null, lastIp: t.lastIp ?? null, at: t.at });
  }

  latestBoot(mac: string): BootRecord | undefined {
    const r = this.latest.get(mac);
    return r ? bootFromRow(r) : undefined;
  }

  startBoot(mac: string, event: BootEvent): BootRecord {
    const info = this.insertBoot.run(mac, event.at, event.stage, JSON.stringify([event]));
    return { id: Number(info.lastInsertRowid), mac, startedAt: event.at, stage: event.stage, events: [event] };
  }

  saveBoot(b: BootRecord): void {
    this.updateBoot.run(b.stage, JSON.stringify(b.events), b.id);
  }

  terminals(): TerminalRecord[] {
    return this.terminalsQuery
      .all()
      .map((r) => ({ mac: r.mac, uuid: r.uuid, firmware: r.firmware, lastIp: r.last_ip, firstSeen: r.first_seen, lastSeen: r.last_seen }));
  }

  boots(mac: string, limit = 10): BootRecord[] {
    return this.bootsOf.all(mac, limit).map(bootFromRow);
  }
}
