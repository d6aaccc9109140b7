import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/**
 * The heartbeat an instance POSTs to `/api/v1/platforms/<id>/heartbeat` with `Authorization: Bearer <token>`.
 * Unknown keys are refused: a typo in an agent should show, not be silently ignored.
 */
export const heartbeatBodySchema = z.strictObject({
  activeSessions: z.int().min(0).max(10_000_000),
  cpu: z.number().min(0).max(1),
  memory: z.number().min(0).max(1),
  bandwidthBps: z.number().min(0).optional(),
  /** agent-style drain: 'drain' takes the instance out of new decisions until it reports 'ready' again */
  state: z.enum(['ready', 'drain']).optional(),
});
export type HeartbeatBody = z.output<typeof heartbeatBodySchema>;

/** A new per-instance heartbeat token (32 random bytes) and the SHA-256 stored for it; the token is never stored. */
export function newInstanceToken(): { token: string; hash: string } {
  const token = `bgp_${randomBytes(32).toString('base64url')}`;
  return { token, hash: instanceTokenHash(token) };
}

export function instanceTokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Compares a presented token with a stored hash in constant time (both sides are 32-byte digests). */
export function instanceTokenMatches(presented: string, storedHash: string | null): boolean {
  if (storedHash === null || !/^[0-9a-f]{64}$/.test(storedHash)) return false;
  return timingSafeEqual(createHash('sha256').update(presented, 'utf8').digest(), Buffer.from(storedHash, 'hex'));
}

/** The token of an `Authorization: Bearer <token>` header value, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return m?.[1];
}
