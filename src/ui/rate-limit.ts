/**
 * Failed-login limiting (OWASP ASVS 2.2.1): at most `maxFailures` failures per key in a sliding window; a key
 * over it is refused until its oldest failure leaves the window. Keys are a user name and a source address,
 * each with its own limit, so guessing one account from many addresses and many accounts from one address are
 * both held back. In memory: a restart forgets the counts (sessions, not failures, are what must persist).
 */
export interface LimitRule {
  maxFailures: number;
  windowMs: number;
}

/** Bounds the memory an attacker cycling through names can make the limiter hold. */
const MAX_KEYS = 10_000;

export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();
  private readonly clock: () => number;

  constructor(
    private readonly rules: { user: LimitRule; address: LimitRule },
    clock?: () => number,
  ) {
    this.clock = clock ?? Date.now;
  }

  /** 0 when a login for this user from this address may be tried, else the seconds until one may. */
  retryAfterSeconds(username: string, address: string): number {
    const now = this.clock();
    const wait = Math.max(this.waitMs(`u:${username}`, this.rules.user, now), this.waitMs(`a:${address}`, this.rules.address, now));
    return wait > 0 ? Math.ceil(wait / 1000) : 0;
  }

  fail(username: string, address: string): void {
    const now = this.clock();
    this.push(`u:${username}`, this.rules.user, now);
    this.push(`a:${address}`, this.rules.address, now);
  }

  /** A successful login clears the user's count (not the address's: one good password does not unlock guessing others). */
  succeed(username: string): void {
    this.failures.delete(`u:${username}`);
  }

  private recent(key: string, rule: LimitRule, now: number): number[] {
    const list = this.failures.get(key);
    if (!list) return [];
    while (list.length > 0 && list[0]! <= now - rule.windowMs) list.shift();
    if (list.length === 0) this.failures.delete(key);
    return list;
  }

  private waitMs(key: string, rule: LimitRule, now: number): number {
    const list = this.recent(key, rule, now);
    if (list.length < rule.maxFailures) return 0;
    // refused until enough failures age out that one more is allowed
    return list[list.length - rule.maxFailures]! + rule.windowMs - now;
  }

  private push(key: string, rule: LimitRule, now: number): void {
    const list = this.recent(key, rule, now);
    list.push(now);
    if (list.length > rule.maxFailures) list.splice(0, list.length - rule.maxFailures);
    this.failures.delete(key); // re-insert: Map order is least recently failed first
    this.failures.set(key, list);
    if (this.failures.size > MAX_KEYS) this.failures.delete(this.failures.keys().next().value!);
  }
}
