import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/log.ts';
import type { AuditInput } from '../audit/record.ts';
import type {
  IdentityRepository,
  Role,
  SeatClassRecord,
  SeatGroupRecord,
  SeatRecord,
  SessionRecord,
  UserRecord,
} from '../store/identity-repository.ts';
import { activeMs, billAt, choosePayment, type Payment } from './billing.ts';
import { IdentityError } from './errors.ts';
import { hashPassword, newToken } from './auth.ts';
import { tryParseMac } from '../terminal/mac.ts';

export interface IdentityServiceDeps {
  repo: IdentityRepository;
  audit: AuditLog;
  logger: Logger;
  clock?: () => number;
}

export interface SessionChange {
  /** pause: the gate shuts as for close, but the session (and the seat's platform instance) is kept; resume reopens it */
  type: 'open' | 'close' | 'pause' | 'resume';
  session: SessionRecord;
  seat: SeatRecord;
  user: UserRecord;
}
export type SessionListener = (change: SessionChange) => void;

const identityOf = (u: UserRecord) => ({ userId: u.id, userName: u.name, docType: u.docType, docNumber: u.docNumber, docCountry: u.docCountry });

/**
 * Cashier operations. Every change and its admin audit record commit in one transaction (AuditLog.appendWith),
 * so the trail names who did what for every change that happened, and nothing is acknowledged before commit.
 */
export class IdentityService {
  private readonly listeners: SessionListener[] = [];
  private readonly seatListeners: Array<() => void> = [];
  private readonly clock: () => number;

  constructor(private readonly deps: IdentityServiceDeps) {
    this.clock = deps.clock ?? Date.now;
  }

  onSessionChange(listener: SessionListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Fires after a seat change has committed (the seat directory reloads; DHCP learns the seat's MAC). */
  onSeatsChange(listener: () => void): () => void {
    this.seatListeners.push(listener);
    return () => {
      const i = this.seatListeners.indexOf(listener);
      if (i >= 0) this.seatListeners.splice(i, 1);
    };
  }

  private emit(change: SessionChange): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch (e) {
        this.deps.logger.error({ err: e, seat: change.seat.name }, 'session listener failed');
      }
    }
  }

  /** Runs `change` and records it, atomically; resolves with the change's result after commit. */
  private async change<T>(fn: () => { result: T; record: AuditInput }): Promise<T> {
    let result: T | undefined;
    await this.deps.audit.appendWith(() => {
      const out = fn();
      result = out.result;
      return out.record;
    });
    return result as T;
  }

  private admin(actor: string, action: string, target: string, detail: unknown, extra: Partial<AuditInput> = {}): AuditInput {
    return { kind: 'admin', actor, action, target, detail: JSON.stringify(detail), ...extra };
  }

  users(): UserRecord[] {
    return this.deps.repo.users();
  }
  user(id: string): UserRecord | undefined {
    return this.deps.repo.user(id);
  }
  seats(): SeatRecord[] {
    return this.deps.repo.seats();
  }
  groups(): SeatClassRecord[] {
    return this.deps.repo.groups();
  }
  openSessions(): SessionRecord[] {
    return this.deps.repo.openSessions();
  }
  recentSessions(limit = 100): SessionRecord[] {
    return this.deps.repo.recentSessions(limit);
  }

  addUser(
    actor: string,
    u: { name: string; docType: string; docNumber: string; docCountry?: string | null; member?: boolean; balanceMinor?: number },
  ): Promise<UserRecord> {
    const user: UserRecord = {
      id: randomUUID(),
      name: u.name,
      docType: u.docType,
      docNumber: u.docNumber,
      docCountry: u.docCountry ?? null,
      member: u.member ?? false,
      balanceMinor: u.balanceMinor ?? 0,
      createdAt: this.clock(),
    };
    return this.change(() => {
      this.deps.repo.insertUser(user);
      return {
        result: user,
        record: this.admin(actor, 'user.add', user.id, { member: user.member, balanceMinor: user.balanceMinor }, identityOf(user)),
      };
    });
  }

  /** Adds (or with a negative amount, removes) member balance; makes the user a member. */
  creditUser(actor: string, id: string, amountMinor: number): Promise<UserRecord> {
    return this.change(() => {
      const u = this.deps.repo.user(id);
      if (!u) throw new IdentityError('USER_NOT_FOUND', `no user ${id}`);
      if (u.balanceMinor + amountMinor < 0) throw new IdentityError('INSUFFICIENT_BALANCE', `balance ${u.balanceMinor} cannot go below 0`);
      this.deps.repo.setMember(id, true);
      this.deps.repo.addBalance(id, amountMinor);
      const after = this.deps.repo.user(id)!;
      return { result: after, record: this.admin(actor, 'user.credit', id, { amountMinor, balanceMinor: after.balanceMinor }, identityOf(after)) };
    });
  }

  addSeat(actor: string, s: { name: string; mac: string; group?: string }): Promise<SeatRecord> {
    const mac = tryParseMac(s.mac);
    if (!mac) return Promise.reject(new IdentityError('VALIDATION', `${s.mac} is not a MAC address`));
    const seat: SeatRecord = { name: s.name, mac, group: s.group ?? 'default', createdAt: this.clock() };
    return this.change(() => {
      if (!this.deps.repo.group(seat.group)) throw new IdentityError('SEAT_GROUP_NOT_FOUND', `no seat group ${seat.group}`);
      if (this.deps.repo.seat(seat.name) || this.deps.repo.seatByMac(mac))
        throw new IdentityError('SEAT_EXISTS', `seat ${seat.name} or MAC ${mac} exists`);
      this.deps.repo.insertSeat(seat);
      return { result: seat, record: this.admin(actor, 'seat.add', seat.name, { group: seat.group }, { seat: seat.name, mac }) };
    }).then((added) => {
      this.seatsChanged();
      return added;
    });
  }

  private seatsChanged(): void {
    for (const l of this.seatListeners) {
      try {
        l();
      } catch (e) {
        this.deps.logger.error({ err: e }, 'seat listener failed');
      }
    }
  }

  /**
   * Creates or changes a seat class (a seat group): rate, boot profile and overlay bound. The caller has checked
   * the profile against the configuration (the seat-class API); seats pick the change up at their next boot.
   */
  async setSeatClass(actor: string, c: SeatClassRecord): Promise<SeatClassRecord> {
    const before = this.deps.repo.group(c.name);
    const after = await this.change(() => {
      this.deps.repo.upsertClass(c);
      return {
        result: this.deps.repo.group(c.name)!,
        record: this.admin(actor, 'seat-class.set', c.name, {
          rateMinorPerHour: c.rateMinorPerHour,
          profile: c.profile,
          overlayLimitBytes: c.overlayLimitBytes,
          before: before ? { rateMinorPerHour: before.rateMinorPerHour, profile: before.profile, overlayLimitBytes: before.overlayLimitBytes } : null,
        }),
      };
    });
    this.seatsChanged();
    return after;
  }

  setGroupRate(actor: string, g: SeatGroupRecord): Promise<SeatGroupRecord> {
    return this.change(() => {
      this.deps.repo.upsertGroup(g);
      return { result: g, record: this.admin(actor, 'seat-group.set', g.name, { rateMinorPerHour: g.rateMinorPerHour }) };
    }).then((g) => {
      this.seatsChanged();
      return g;
    });
  }

  async openSession(actor: string, o: { userId: string; seat: string }): Promise<SessionRecord> {
    let change: SessionChange | undefined;
    const session = await this.change(() => {
      const user = this.deps.repo.user(o.userId);
      if (!user) throw new IdentityError('USER_NOT_FOUND', `no user ${o.userId}`);
      const seat = this.deps.repo.seat(o.seat);
      if (!seat) throw new IdentityError('SEAT_NOT_FOUND', `no seat ${o.seat}`);
      const busy = this.deps.repo.openSessionAt(seat.name);
      if (busy) throw new IdentityError('SEAT_BUSY', `seat ${seat.name} has open session ${busy.id}`);
      const rate = this.deps.repo.group(seat.group)?.rateMinorPerHour ?? 0;
      this.deps.repo.insertSession({
        id: randomUUID(),
        userId: user.id,
        seat: seat.name,
        openedAt: this.clock(),
        openedBy: actor,
        rateMinorPerHour: rate,
      });
      const s = this.deps.repo.openSessionAt(seat.name)!;
      change = { type: 'open', session: s, seat, user };
      return {
        result: s,
        record: this.admin(
          actor,
          'session.open',
          s.id,
          { rateMinorPerHour: rate },
          { ...identityOf(user), seat: seat.name, mac: seat.mac, sessionId: s.id },
        ),
      };
    });
    this.emit(change!);
    return session;
  }

  async closeSession(actor: string, c: { seat: string; payment?: Payment }): Promise<SessionRecord> {
    let change: SessionChange | undefined;
    const session = await this.change(() => {
      const seat = this.deps.repo.seat(c.seat);
      if (!seat) throw new IdentityError('SEAT_NOT_FOUND', `no seat ${c.seat}`);
      const open = this.deps.repo.openSessionAt(seat.name);
      if (!open) throw new IdentityError('NO_OPEN_SESSION', `seat ${seat.name} has no open session`);
      const user = this.deps.repo.user(open.userId)!;
      const closedAt = Math.max(this.clock(), open.openedAt);
      // paused time (ended pauses and one under way) is not charged
      const { minutes, chargeMinor: charge } = billAt(open, closedAt);
      const pay = choosePayment(c.payment, user, charge);
      if ('error' in pay) throw new IdentityError(pay.error, `user ${user.id} cannot pay ${charge} from the member balance ${user.balanceMinor}`);
      if (pay.payment === 'member' && charge > 0) this.deps.repo.addBalance(user.id, -charge);
      this.deps.repo.closeSession({ id: open.id, closedAt, closedBy: actor, minutes, chargeMinor: charge, payment: pay.payment });
      const s = this.deps.repo.session(open.id)!;
      change = { type: 'close', session: s, seat, user: this.deps.repo.user(user.id)! };
      return {
        result: s,
        record: this.admin(
          actor,
          'session.close',
          s.id,
          {
            minutes,
            chargeMinor: charge,
            payment: pay.payment,
            openedAt: new Date(open.openedAt).toISOString(),
            pausedMs: s.pausedMs,
          },
          { ...identityOf(user), seat: seat.name, mac: seat.mac, sessionId: s.id, durationMs: closedAt - open.openedAt },
        ),
      };
    });
    this.emit(change!);
    return session;
  }

  /**
   * Pauses the seat's session: its time stops being charged and the gate treats the seat as without a session
   * (no internet) until resume; the session, its customer and the seat's platform instance are kept.
   */
  pauseSession(actor: string, p: { seat: string }): Promise<SessionRecord> {
    return this.pauseOrResume(actor, p.seat, 'pause');
  }

  /** Ends the pause: the gate opens again and the time is charged again from now. */
  resumeSession(actor: string, p: { seat: string }): Promise<SessionRecord> {
    return this.pauseOrResume(actor, p.seat, 'resume');
  }

  private async pauseOrResume(actor: string, seatName: string, type: 'pause' | 'resume'): Promise<SessionRecord> {
    let change: SessionChange | undefined;
    const session = await this.change(() => {
      const seat = this.deps.repo.seat(seatName);
      if (!seat) throw new IdentityError('SEAT_NOT_FOUND', `no seat ${seatName}`);
      const open = this.deps.repo.openSessionAt(seat.name);
      if (!open) throw new IdentityError('NO_OPEN_SESSION', `seat ${seat.name} has no open session`);
      const at = Math.max(this.clock(), open.openedAt);
      if (type === 'pause' && !this.deps.repo.pauseSession(open.id, at))
        throw new IdentityError('SESSION_PAUSED', `session ${open.id} at ${seat.name} is already paused`);
      if (type === 'resume' && !this.deps.repo.resumeSession(open.id, at))
        throw new IdentityError('SESSION_NOT_PAUSED', `session ${open.id} at ${seat.name} is not paused`);
      const s = this.deps.repo.session(open.id)!;
      const user = this.deps.repo.user(s.userId)!;
      change = { type, session: s, seat, user };
      return {
        result: s,
        record: this.admin(
          actor,
          `session.${type}`,
          s.id,
          { pausedMs: s.pausedMs, activeMs: activeMs(s, at) },
          { ...identityOf(user), seat: seat.name, mac: seat.mac, sessionId: s.id },
        ),
      };
    });
    this.emit(change!);
    return session;
  }

  async createToken(actor: string, t: { name: string; role: Role }): Promise<{ id: string; token: string; role: Role; name: string }> {
    const { token, hash } = newToken();
    const id = randomUUID();
    await this.change(() => {
      this.deps.repo.insertToken({ id, name: t.name, role: t.role, tokenHash: hash, createdAt: this.clock() });
      return { result: id, record: this.admin(actor, 'token.create', id, { name: t.name, role: t.role }) };
    });
    return { id, token, role: t.role, name: t.name };
  }

  async createOperator(actor: string, o: { username: string; password: string; role: Role }): Promise<{ username: string; role: Role }> {
    const passwordHash = await hashPassword(o.password);
    return this.change(() => {
      if (this.deps.repo.operator(o.username)) throw new IdentityError('OPERATOR_EXISTS', `operator ${o.username} exists`);
      this.deps.repo.insertOperator({ username: o.username, role: o.role, passwordHash, createdAt: this.clock() });
      return { result: { username: o.username, role: o.role }, record: this.admin(actor, 'operator.create', o.username, { role: o.role }) };
    });
  }

  /** Records an action that changes nothing in the store (an export, a search) — who looked at what. */
  async recordAction(actor: string, action: string, target: string, detail: unknown): Promise<void> {
    await this.deps.audit.append(this.admin(actor, action, target, detail));
  }
}
