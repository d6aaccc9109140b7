import type { AuditLog } from '../audit/log.ts';
import { checkPassword, hashPassword } from '../identity/auth.ts';
import type { IdentityService } from '../identity/service.ts';
import type { IdentityRepository, Role } from '../store/identity-repository.ts';
import type { StaffRecord, StaffRepository } from '../store/staff-repository.ts';
import type { LoginLimiter } from './rate-limit.ts';
import { UiError } from './errors.ts';
import type { SessionStore, UiSession } from './sessions.ts';

export interface StaffAccountsDeps {
  identity: IdentityService;
  identityRepo: IdentityRepository;
  repo: StaffRepository;
  audit: AuditLog;
  sessions: SessionStore;
  limiter: LoginLimiter;
}

/**
 * Staff accounts (admin, cashier, auditor) are the identity module's operators: the same scrypt hashes
 * (identity/auth.ts: per-user salt, constant-time compare) that Basic auth on /api/v1 checks. This adds what the
 * UI and `bootgate staff` need: list, password change, removal, and browser login. Each change commits with its
 * admin audit record in one transaction; a password change or removal ends the account's browser sessions.
 */
export class StaffAccounts {
  private readonly ended: Array<(username: string) => void> = [];
  /** checked when the user name is unknown, so a missing account takes as long to refuse as a wrong password */
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly deps: StaffAccountsDeps) {}

  /** Notified when an account's sessions were ended (open event streams close). */
  onSessionsEnded(listener: (username: string) => void): void {
    this.ended.push(listener);
  }

  list(): StaffRecord[] {
    return this.deps.repo.list();
  }

  add(actor: string, a: { username: string; password: string; role: Role }): Promise<{ username: string; role: Role }> {
    return this.deps.identity.createOperator(actor, a);
  }

  async setPassword(actor: string, username: string, password: string): Promise<void> {
    const hash = await hashPassword(password);
    await this.deps.audit.appendWith(() => {
      if (!this.deps.repo.setPassword(username, hash)) throw new UiError('STAFF_NOT_FOUND', `no staff account ${username}`);
      const ended = this.deps.sessions.endAllOf(username);
      return { kind: 'admin', actor, action: 'operator.passwd', target: username, detail: JSON.stringify({ sessionsEnded: ended }) };
    });
    this.notify(username);
  }

  async remove(actor: string, username: string): Promise<void> {
    await this.deps.audit.appendWith(() => {
      const role = this.deps.identityRepo.operator(username)?.role;
      if (!role || !this.deps.repo.remove(username)) throw new UiError('STAFF_NOT_FOUND', `no staff account ${username}`);
      return { kind: 'admin', actor, action: 'operator.remove', target: username, detail: JSON.stringify({ role }) };
    });
    this.notify(username);
  }

  /**
   * A browser login from `address`: refused with LOGIN_RATE_LIMITED (before any password is checked) while the
   * user or the address is over its failure limit, LOGIN_FAILED for an unknown user or a wrong password (the
   * same answer, in about the same time). Both outcomes are on the audit trail.
   */
  async login(username: string, password: string, address: string): Promise<{ token: string; session: UiSession }> {
    const wait = this.deps.limiter.retryAfterSeconds(username, address);
    if (wait > 0) {
      const e = new UiError('LOGIN_RATE_LIMITED', `too many failed logins; retry in ${wait} s`);
      e.retryAfterSeconds = wait;
      throw e;
    }
    const op = this.deps.identityRepo.operator(username);
    const ok = await checkPassword(password, op?.passwordHash ?? (await (this.dummyHash ??= hashPassword('no one has this password'))));
    if (!op || !ok) {
      this.deps.limiter.fail(username, address);
      await this.deps.identity.recordAction(`address:${address}`, 'ui.login-failed', username, { from: address });
      throw new UiError('LOGIN_FAILED', 'unknown user or wrong password');
    }
    this.deps.limiter.succeed(username);
    const made = this.deps.sessions.create(op.username, op.role, address);
    await this.deps.identity.recordAction(`operator:${op.username}`, 'ui.login', op.username, { from: address, role: op.role });
    return made;
  }

  async logout(session: UiSession, address: string): Promise<void> {
    this.deps.sessions.end(session.id);
    await this.deps.identity.recordAction(`operator:${session.username}`, 'ui.logout', session.username, { from: address });
  }

  private notify(username: string): void {
    for (const l of this.ended) l(username);
  }
}
