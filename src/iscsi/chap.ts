import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ChapCredentials } from './block-device.ts';
import { parseBinary, type TextPairs } from './text.ts';

/**
 * CHAP for iSCSI login (RFC 7143 §12.1.3, RFC 1994): MD5 only (CHAP_A=5). One-way: the initiator proves it
 * knows `secret`; mutual: it also sends CHAP_I/CHAP_C and we answer with the target secret. A challenge equal
 * to ours (reflection) closes the connection; challenges longer than 1024 bytes are refused (LIO's limit,
 * RFC 3720 §11.1.4).
 */
export const CHAP_MD5 = 5;
export const CHAP_CHALLENGE_BYTES = 16;
export const CHAP_MAX_CHALLENGE_BYTES = 1024;

export function chapResponse(id: number, secret: string | Buffer, challenge: Buffer): Buffer {
  return createHash('md5')
    .update(Buffer.from([id & 0xff]))
    .update(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret)
    .update(challenge)
    .digest();
}

export type ChapStep =
  | { kind: 'continue'; answer: TextPairs }
  | { kind: 'done'; answer: TextPairs }
  | { kind: 'fail'; reason: 'bad-algorithm' | 'bad-response' | 'bad-user' | 'missing' | 'challenge-too-long' | 'mutual-not-configured' | 'malformed' }
  /** reflected challenge: close the connection without a response */
  | { kind: 'close'; reason: 'reflected-challenge' };

/** The target side of one CHAP exchange. */
export class ChapAuthenticator {
  private state: 'await-algorithm' | 'await-response' | 'done' = 'await-algorithm';
  private id = 0;
  private challenge: Buffer = Buffer.alloc(0);

  constructor(
    private readonly creds: ChapCredentials,
    private readonly random: (n: number) => Buffer = randomBytes,
  ) {}

  get finished(): boolean {
    return this.state === 'done';
  }

  step(keys: Map<string, string>): ChapStep {
    if (this.state === 'await-algorithm') {
      const a = keys.get('CHAP_A');
      if (a === undefined) return { kind: 'continue', answer: [] };
      if (!a.split(',').includes(String(CHAP_MD5))) return { kind: 'fail', reason: 'bad-algorithm' };
      this.id = this.random(1)[0]!;
      this.challenge = this.random(CHAP_CHALLENGE_BYTES);
      this.state = 'await-response';
      return {
        kind: 'continue',
        answer: [
          ['CHAP_A', String(CHAP_MD5)],
          ['CHAP_I', String(this.id)],
          ['CHAP_C', '0x' + this.challenge.toString('hex')],
        ],
      };
    }
    if (this.state === 'done') return { kind: 'done', answer: [] };
    const n = keys.get('CHAP_N');
    const r = keys.get('CHAP_R');
    if (n === undefined || r === undefined) return { kind: 'fail', reason: 'missing' };
    const resp = parseBinary(r);
    if (!resp) return { kind: 'fail', reason: 'malformed' };
    // Mutual CHAP: check the initiator's challenge before anything else (RFC 7143 §12.1.3 reflection rule).
    const ci = keys.get('CHAP_I');
    const cc = keys.get('CHAP_C');
    let theirChallenge: Buffer | undefined;
    if (ci !== undefined || cc !== undefined) {
      if (ci === undefined || cc === undefined) return { kind: 'fail', reason: 'missing' };
      theirChallenge = parseBinary(cc);
      const theirId = Number(ci);
      if (!theirChallenge || !/^[0-9]{1,3}$/.test(ci) || theirId > 255) return { kind: 'fail', reason: 'malformed' };
      if (theirChallenge.length > CHAP_MAX_CHALLENGE_BYTES) return { kind: 'fail', reason: 'challenge-too-long' };
      if (theirChallenge.equals(this.challenge)) return { kind: 'close', reason: 'reflected-challenge' };
    }
    if (n !== this.creds.user) return { kind: 'fail', reason: 'bad-user' };
    const expected = chapResponse(this.id, this.creds.secret, this.challenge);
    if (resp.length !== expected.length || !timingSafeEqual(resp, expected)) return { kind: 'fail', reason: 'bad-response' };
    this.state = 'done';
    if (!theirChallenge) return { kind: 'done', answer: [] };
    if (!this.creds.targetSecret || !this.creds.targetUser) return { kind: 'fail', reason: 'mutual-not-configured' };
    const ours = chapResponse(Number(ci), this.creds.targetSecret, theirChallenge);
    return {
      kind: 'done',
      answer: [
        ['CHAP_N', this.creds.targetUser],
        ['CHAP_R', '0x' + ours.toString('hex')],
      ],
    };
  }
}
