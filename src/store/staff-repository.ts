import type { Db } from './database.ts';
import type { Role } from './identity-repository.ts';

/** A staff account: the `operators` table (identity-repository.ts creates and reads them for Basic auth). */
export interface StaffRecord {
  username: string;
  role: Role;
  createdAt: number;
}

export interface UiSessionRecord {
  tokenHash: string;
  username: string;
  /** the operator's role now (a role change or removal applies to open sessions at once) */
  role: Role;
  csrf: string;
  source: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
}

interface SessionRow {
  token_hash: string;
  username: string;
  role: Role;
  csrf: string;
  source: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
}

const fromRow = (r: SessionRow): UiSessionRecord => ({
  tokenHash: r.token_hash,
  username: r.username,
  role: r.role,
  csrf: r.csrf,
  source: r.source,
  createdAt: r.created_at,
  lastSeenAt: r.last_seen_at,
  expiresAt: r.expires_at,
});

/** Staff accounts beyond create/read (list, password, removal) and their browser sessions (migration 6). */
export class StaffRepository {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      list: db.prepare<[], { username: string; role: Role; created_at: number }>(
        'SELECT username, role, created_at FROM operators ORDER BY username',
      ),
      setPassword: db.prepare<[string, string]>('UPDATE operators SET password_hash = ? WHERE username = ?'),
      remove: db.prepare<[string]>('DELETE FROM operators WHERE username = ?'),
      insertSession: db.prepare(
        `INSERT INTO ui_sessions (token_hash, username, csrf, source, created_at, last_seen_at, expires_at)
         VALUES (@tokenHash, @username, @csrf, @source, @createdAt, @lastSeenAt, @expiresAt)`,
      ),
      session: db.prepare<[string], SessionRow>(
        'SELECT s.*, o.role FROM ui_sessions s JOIN operators o ON o.username = s.username WHERE s.token_hash = ?',
      ),
      touch: db.prepare<[number, number, string]>('UPDATE ui_sessions SET last_seen_at = ?, expires_at = ? WHERE token_hash = ?'),
      deleteSession: db.prepare<[string]>('DELETE FROM ui_sessions WHERE token_hash = ?'),
      deleteForUser: db.prepare<[string]>('DELETE FROM ui_sessions WHERE username = ?'),
      purge: db.prepare<[number]>('DELETE FROM ui_sessions WHERE expires_at <= ?'),
    };
  }

  list(): StaffRecord[] {
    return this.s.list.all().map((r) => ({ username: r.username, role: r.role, createdAt: r.created_at }));
  }
  /** false when there is no such account */
  setPassword(username: string, passwordHash: string): boolean {
    return this.s.setPassword.run(passwordHash, username).changes === 1;
  }
  /** false when there is no such account; its sessions go with it (ON DELETE CASCADE) */
  remove(username: string): boolean {
    return this.s.remove.run(username).changes === 1;
  }

  insertSession(r: Omit<UiSessionRecord, 'role'>): void {
    this.s.insertSession.run(r);
  }
  session(tokenHash: string): UiSessionRecord | undefined {
    const r = this.s.session.get(tokenHash);
    return r ? fromRow(r) : undefined;
  }
  touchSession(tokenHash: string, lastSeenAt: number, expiresAt: number): void {
    this.s.touch.run(lastSeenAt, expiresAt, tokenHash);
  }
  deleteSession(tokenHash: string): void {
    this.s.deleteSession.run(tokenHash);
  }
  deleteSessionsOf(username: string): number {
    return this.s.deleteForUser.run(username).changes;
  }
  purgeSessions(now: number): number {
    return this.s.purge.run(now).changes;
  }
}
