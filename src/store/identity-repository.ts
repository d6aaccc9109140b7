import type { Db } from './database.ts';
import type { Mac } from '../terminal/mac.ts';

export type Role = 'admin' | 'cashier' | 'auditor';

export interface UserRecord {
  id: string;
  name: string;
  docType: string;
  docNumber: string;
  docCountry: string | null;
  member: boolean;
  balanceMinor: number;
  createdAt: number;
}

export interface SeatRecord {
  name: string;
  /** written canonical by IdentityService.addSeat (terminal/mac.ts) */
  mac: Mac;
  group: string;
  createdAt: number;
}

export interface SeatGroupRecord {
  name: string;
  rateMinorPerHour: number;
}

/** A seat group as a seat class: its rate, the boot profile of its seats and their overlay bound (null: the defaults). */
export interface SeatClassRecord extends SeatGroupRecord {
  profile: string | null;
  overlayLimitBytes: number | null;
}

interface GroupRow {
  name: string;
  rate_minor_per_hour: number;
  profile: string | null;
  overlay_limit_bytes: number | null;
}
const classOf = (r: GroupRow): SeatClassRecord => ({
  name: r.name,
  rateMinorPerHour: r.rate_minor_per_hour,
  profile: r.profile,
  overlayLimitBytes: r.overlay_limit_bytes,
});

export interface SessionRecord {
  id: string;
  userId: string;
  seat: string;
  openedAt: number;
  closedAt: number | null;
  openedBy: string;
  closedBy: string | null;
  rateMinorPerHour: number;
  minutes: number | null;
  chargeMinor: number | null;
  payment: 'member' | 'desk' | null;
  /** start of the pause under way (unix ms), null while the session runs */
  pausedAt: number | null;
  /** total of the pauses already ended (ms); not charged */
  pausedMs: number;
}

export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  createdAt: number;
  revokedAt: number | null;
}

interface UserRow {
  id: string;
  name: string;
  doc_type: string;
  doc_number: string;
  doc_country: string | null;
  member: number;
  balance_minor: number;
  created_at: number;
}
interface SessionRow {
  id: string;
  user_id: string;
  seat: string;
  opened_at: number;
  closed_at: number | null;
  opened_by: string;
  closed_by: string | null;
  rate_minor_per_hour: number;
  minutes: number | null;
  charge_minor: number | null;
  payment: 'member' | 'desk' | null;
  paused_at: number | null;
  paused_ms: number;
}

const userFromRow = (r: UserRow): UserRecord => ({
  id: r.id,
  name: r.name,
  docType: r.doc_type,
  docNumber: r.doc_number,
  docCountry: r.doc_country,
  member: r.member === 1,
  balanceMinor: r.balance_minor,
  createdAt: r.created_at,
});
const sessionFromRow = (r: SessionRow): SessionRecord => ({
  id: r.id,
  userId: r.user_id,
  seat: r.seat,
  openedAt: r.opened_at,
  closedAt: r.closed_at,
  openedBy: r.opened_by,
  closedBy: r.closed_by,
  rateMinorPerHour: r.rate_minor_per_hour,
  minutes: r.minutes,
  chargeMinor: r.charge_minor,
  payment: r.payment,
  pausedAt: r.paused_at,
  pausedMs: r.paused_ms,
});

const seatOf = (r: { name: string; mac: string; group_name: string; created_at: number }): SeatRecord => ({
  name: r.name,
  mac: r.mac as Mac,
  group: r.group_name,
  createdAt: r.created_at,
});

/** Users, seats, seat groups, cashier sessions and API principals. */
export class IdentityRepository {
  private readonly s;

  constructor(readonly db: Db) {
    this.s = {
      insertUser: db.prepare(
        'INSERT INTO users (id, name, doc_type, doc_number, doc_country, member, balance_minor, created_at) VALUES (@id, @name, @docType, @docNumber, @docCountry, @member, @balanceMinor, @createdAt)',
      ),
      user: db.prepare<[string], UserRow>('SELECT * FROM users WHERE id = ?'),
      users: db.prepare<[], UserRow>('SELECT * FROM users ORDER BY created_at, id'),
      addBalance: db.prepare('UPDATE users SET balance_minor = balance_minor + ? WHERE id = ?'),
      setMember: db.prepare('UPDATE users SET member = ? WHERE id = ?'),
      insertSeat: db.prepare('INSERT INTO seats (name, mac, group_name, created_at) VALUES (?, ?, ?, ?)'),
      seat: db.prepare<[string], { name: string; mac: string; group_name: string; created_at: number }>('SELECT * FROM seats WHERE name = ?'),
      seatByMac: db.prepare<[string], { name: string; mac: string; group_name: string; created_at: number }>('SELECT * FROM seats WHERE mac = ?'),
      seats: db.prepare<[], { name: string; mac: string; group_name: string; created_at: number }>('SELECT * FROM seats ORDER BY name'),
      upsertGroup: db.prepare(
        'INSERT INTO seat_groups (name, rate_minor_per_hour) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET rate_minor_per_hour = excluded.rate_minor_per_hour',
      ),
      upsertClass: db.prepare(
        `INSERT INTO seat_groups (name, rate_minor_per_hour, profile, overlay_limit_bytes) VALUES (@name, @rateMinorPerHour, @profile, @overlayLimitBytes)
         ON CONFLICT (name) DO UPDATE SET rate_minor_per_hour = excluded.rate_minor_per_hour, profile = excluded.profile,
           overlay_limit_bytes = excluded.overlay_limit_bytes`,
      ),
      group: db.prepare<[string], GroupRow>('SELECT * FROM seat_groups WHERE name = ?'),
      groups: db.prepare<[], GroupRow>('SELECT * FROM seat_groups ORDER BY name'),
      insertSession: db.prepare(
        `INSERT INTO sessions (id, user_id, seat, opened_at, opened_by, rate_minor_per_hour) VALUES (@id, @userId, @seat, @openedAt, @openedBy, @rateMinorPerHour)`,
      ),
      closeSession: db.prepare(
        // a pause under way ends at the close
        `UPDATE sessions SET closed_at = @closedAt, closed_by = @closedBy, minutes = @minutes, charge_minor = @chargeMinor, payment = @payment,
           paused_ms = paused_ms + CASE WHEN paused_at IS NULL THEN 0 ELSE MAX(0, @closedAt - paused_at) END, paused_at = NULL
         WHERE id = @id AND closed_at IS NULL`,
      ),
      pauseSession: db.prepare('UPDATE sessions SET paused_at = ? WHERE id = ? AND closed_at IS NULL AND paused_at IS NULL'),
      resumeSession: db.prepare(
        'UPDATE sessions SET paused_ms = paused_ms + MAX(0, @at - paused_at), paused_at = NULL WHERE id = @id AND closed_at IS NULL AND paused_at IS NOT NULL',
      ),
      openBySeat: db.prepare<[string], SessionRow>('SELECT * FROM sessions WHERE seat = ? AND closed_at IS NULL'),
      session: db.prepare<[string], SessionRow>('SELECT * FROM sessions WHERE id = ?'),
      openSessions: db.prepare<[], SessionRow>('SELECT * FROM sessions WHERE closed_at IS NULL ORDER BY opened_at, id'),
      recentSessions: db.prepare<[number], SessionRow>('SELECT * FROM sessions ORDER BY opened_at DESC, id DESC LIMIT ?'),
      insertToken: db.prepare('INSERT INTO api_tokens (id, name, role, token_hash, created_at) VALUES (?, ?, ?, ?, ?)'),
      tokenByHash: db.prepare<[string], { id: string; name: string; role: Role; created_at: number; revoked_at: number | null }>(
        'SELECT id, name, role, created_at, revoked_at FROM api_tokens WHERE token_hash = ?',
      ),
      insertOperator: db.prepare('INSERT INTO operators (username, role, password_hash, created_at) VALUES (?, ?, ?, ?)'),
      operator: db.prepare<[string], { username: string; role: Role; password_hash: string }>(
        'SELECT username, role, password_hash FROM operators WHERE username = ?',
      ),
    };
  }

  insertUser(u: UserRecord): void {
    this.s.insertUser.run({ ...u, member: u.member ? 1 : 0 });
  }
  user(id: string): UserRecord | undefined {
    const r = this.s.user.get(id);
    return r ? userFromRow(r) : undefined;
  }
  users(): UserRecord[] {
    return this.s.users.all().map(userFromRow);
  }
  addBalance(id: string, deltaMinor: number): void {
    this.s.addBalance.run(deltaMinor, id);
  }
  setMember(id: string, member: boolean): void {
    this.s.setMember.run(member ? 1 : 0, id);
  }

  insertSeat(s: SeatRecord): void {
    this.s.insertSeat.run(s.name, s.mac, s.group, s.createdAt);
  }
  seat(name: string): SeatRecord | undefined {
    const r = this.s.seat.get(name);
    return r ? seatOf(r) : undefined;
  }
  seatByMac(mac: Mac): SeatRecord | undefined {
    const r = this.s.seatByMac.get(mac);
    return r ? seatOf(r) : undefined;
  }
  seats(): SeatRecord[] {
    return this.s.seats.all().map(seatOf);
  }

  upsertGroup(g: SeatGroupRecord): void {
    this.s.upsertGroup.run(g.name, g.rateMinorPerHour);
  }
  /** Creates or replaces a seat class (rate, profile and overlay bound together). */
  upsertClass(c: SeatClassRecord): void {
    this.s.upsertClass.run(c);
  }
  group(name: string): SeatClassRecord | undefined {
    const r = this.s.group.get(name);
    return r ? classOf(r) : undefined;
  }
  groups(): SeatClassRecord[] {
    return this.s.groups.all().map(classOf);
  }

  insertSession(s: Pick<SessionRecord, 'id' | 'userId' | 'seat' | 'openedAt' | 'openedBy' | 'rateMinorPerHour'>): void {
    this.s.insertSession.run(s);
  }
  /** Returns false when the session was not open. */
  closeSession(c: { id: string; closedAt: number; closedBy: string; minutes: number; chargeMinor: number; payment: 'member' | 'desk' }): boolean {
    return this.s.closeSession.run(c).changes === 1;
  }
  /** Starts a pause; false when the session is closed or already paused. */
  pauseSession(id: string, at: number): boolean {
    return this.s.pauseSession.run(at, id).changes === 1;
  }
  /** Ends the pause under way, adding it to paused_ms; false when the session is closed or not paused. */
  resumeSession(id: string, at: number): boolean {
    return this.s.resumeSession.run({ id, at }).changes === 1;
  }
  openSessionAt(seat: string): SessionRecord | undefined {
    const r = this.s.openBySeat.get(seat);
    return r ? sessionFromRow(r) : undefined;
  }
  session(id: string): SessionRecord | undefined {
    const r = this.s.session.get(id);
    return r ? sessionFromRow(r) : undefined;
  }
  openSessions(): SessionRecord[] {
    return this.s.openSessions.all().map(sessionFromRow);
  }
  recentSessions(limit: number): SessionRecord[] {
    return this.s.recentSessions.all(limit).map(sessionFromRow);
  }

  insertToken(t: { id: string; name: string; role: Role; tokenHash: string; createdAt: number }): void {
    this.s.insertToken.run(t.id, t.name, t.role, t.tokenHash, t.createdAt);
  }
  tokenByHash(hash: string): TokenRecord | undefined {
    const r = this.s.tokenByHash.get(hash);
    return r ? { id: r.id, name: r.name, role: r.role, createdAt: r.created_at, revokedAt: r.revoked_at } : undefined;
  }
  insertOperator(o: { username: string; role: Role; passwordHash: string; createdAt: number }): void {
    this.s.insertOperator.run(o.username, o.role, o.passwordHash, o.createdAt);
  }
  operator(username: string): { username: string; role: Role; passwordHash: string } | undefined {
    const r = this.s.operator.get(username);
    return r ? { username: r.username, role: r.role, passwordHash: r.password_hash } : undefined;
  }
}
