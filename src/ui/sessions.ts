import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Role } from '../store/identity-repository.ts';
import type { StaffRepository, UiSessionRecord } from '../store/staff-repository.ts';

export interface UiSession {
  /** hash of the cookie token: the session's key, safe to log and to key in-memory state (open streams) */
  id: string;
  username: string;
  role: Role;
  csrf: string;
  expiresAt: number;
}

export interface SessionStoreDeps {
  repo: StaffRepository;
  lifetimeMs: number;
  idleMs: number;
  clock?: () => number;
}

/** A session is touched (its idle expiry pushed back) at most this often: one write a minute, not one per request. */
const TOUCH_EVERY_MS = 60_000;

const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');
const view = (r: UiSessionRecord): UiSession => ({ id: r.tokenHash, username: r.username, role: r.role, csrf: r.csrf, expiresAt: r.expiresAt });

/**
 * Staff browser sessions, server-side in SQLite (they survive a restart). The cookie carries 256 random bits;
 * the store keeps only their SHA-256. A session ends at min(login + lifetime, last request + idle), at logout, or
 * when its operator is removed or its password changed.
 */
export class SessionStore {
  private readonly clock: () => number;

  constructor(private readonly deps: SessionStoreDeps) {
    this.clock = deps.clock ?? Date.now;
  }

  /** A new session: the cookie token (given to the browser once) and the session. Expired rows are purged here. */
  create(username: string, role: Role, source: string): { token: string; session: UiSession } {
    const now = this.clock();
    this.deps.repo.purgeSessions(now);
    const token = randomBytes(32).toString('base64url');
    const record = {
      tokenHash: hashToken(token),
      username,
      csrf: randomBytes(32).toString('base64url'),
      source,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: Math.min(now + this.deps.lifetimeMs, now + this.deps.idleMs),
    };
    this.deps.repo.insertSession(record);
    return { token, session: view({ ...record, role }) };
  }

  /** The live session a cookie token names (touched), else undefined; an expired one is deleted. */
  lookup(token: string | undefined): UiSession | undefined {
    if (!token || token.length > 200) return undefined;
    return this.byId(hashToken(token));
  }

  /** As lookup(), by the session's id (an open event stream re-checks its session). */
  byId(id: string): UiSession | undefined {
    const r = this.deps.repo.session(id);
    if (!r) return undefined;
    const now = this.clock();
    if (r.expiresAt <= now) {
      this.deps.repo.deleteSession(id);
      return undefined;
    }
    if (now - r.lastSeenAt >= TOUCH_EVERY_MS) {
      r.lastSeenAt = now;
      r.expiresAt = Math.min(r.createdAt + this.deps.lifetimeMs, now + this.deps.idleMs);
      this.deps.repo.touchSession(id, r.lastSeenAt, r.expiresAt);
    }
    return view(r);
  }

  end(id: string): void {
    this.deps.repo.deleteSession(id);
  }

  endAllOf(username: string): number {
    return this.deps.repo.deleteSessionsOf(username);
  }
}

/** Constant-time comparison of the session's CSRF token with the one a request carries. */
export function csrfMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
