/**
 * Billing arithmetic, in integer minor units only (cents, pence, …): no floats anywhere. A session is charged per
 * started minute at its seat group's hourly rate; the product is rounded up to the next minor unit.
 */
const MINUTE_MS = 60_000n;

/** Started minutes between open and close (unix ms): 0 ms → 0, 1 ms … 60 000 ms → 1, 60 001 ms → 2. */
export function startedMinutes(openedAt: number, closedAt: number): number {
  if (!Number.isSafeInteger(openedAt) || !Number.isSafeInteger(closedAt)) throw new RangeError('times must be integer milliseconds');
  const ms = BigInt(Math.max(0, closedAt - openedAt));
  return Number((ms + MINUTE_MS - 1n) / MINUTE_MS);
}

/**
 * The charged time of a session at `at` (unix ms): open to `at` less the pauses — the ended ones (`pausedMs`) and
 * the one under way (`pausedAt` to `at`). Never negative.
 */
export function activeMs(s: { openedAt: number; pausedMs: number; pausedAt: number | null }, at: number): number {
  const end = Math.max(at, s.openedAt);
  const current = s.pausedAt === null ? 0 : Math.max(0, end - s.pausedAt);
  return Math.max(0, end - s.openedAt - s.pausedMs - current);
}

/** Started minutes and the charge of a session if it closed at `at`: paused time is not charged. */
export function billAt(
  s: { openedAt: number; pausedMs: number; pausedAt: number | null; rateMinorPerHour: number },
  at: number,
): { minutes: number; chargeMinor: number } {
  const minutes = startedMinutes(0, activeMs(s, at));
  return { minutes, chargeMinor: chargeMinor(minutes, s.rateMinorPerHour) };
}

/** ceil(minutes × ratePerHour / 60) in minor units. */
export function chargeMinor(minutes: number, rateMinorPerHour: number): number {
  if (!Number.isSafeInteger(minutes) || minutes < 0) throw new RangeError('minutes must be a non-negative integer');
  if (!Number.isSafeInteger(rateMinorPerHour) || rateMinorPerHour < 0) throw new RangeError('rate must be a non-negative integer of minor units');
  const product = BigInt(minutes) * BigInt(rateMinorPerHour);
  const charge = (product + 59n) / 60n;
  if (charge > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('charge overflows');
  return Number(charge);
}

export type Payment = 'member' | 'desk';

/**
 * Who pays: an explicit choice is honoured (member needs an account with enough balance); without one, a member
 * whose balance covers the charge pays from it, everyone else pays at the desk.
 */
export function choosePayment(
  requested: Payment | undefined,
  account: { member: boolean; balanceMinor: number },
  charge: number,
): { payment: Payment } | { error: 'NOT_A_MEMBER' | 'INSUFFICIENT_BALANCE' } {
  if (requested === 'desk') return { payment: 'desk' };
  if (requested === 'member') {
    if (!account.member) return { error: 'NOT_A_MEMBER' };
    if (account.balanceMinor < charge) return { error: 'INSUFFICIENT_BALANCE' };
    return { payment: 'member' };
  }
  return account.member && account.balanceMinor >= charge ? { payment: 'member' } : { payment: 'desk' };
}
