import { BLKSIZE_MAX, BLKSIZE_MIN, DEFAULT_BLKSIZE, TIMEOUT_MAX, TIMEOUT_MIN, WINDOW_MAX, WINDOW_MIN, type TransferMode } from './constants.ts';

export interface NegotiationLimits {
  /** largest blksize we answer (T7: MTU − 32 = 1468 by default) */
  maxBlksize: number;
  /** largest windowsize we answer */
  maxWindowsize: number;
}

export interface Negotiated {
  blksize: number;
  windowsize: number;
  /** retransmission timeout requested by the client (RFC 2349), if accepted */
  timeoutSeconds: number | undefined;
  /** the options to put in the OACK, in request order; empty → no OACK (RFC 2347 §3, check 16) */
  oack: Map<string, string>;
}

/** A decimal option value: digits only, no sign, no spaces, no hex (strict, so garbage is omitted, not guessed). */
function intValue(v: string): number | undefined {
  if (!/^\d{1,10}$/.test(v)) return undefined;
  return Number(v);
}

/**
 * RFC 2347 option negotiation for an RRQ. Only options we understand and accept appear in the OACK; unknown
 * or invalid ones are left out (RFC 2347 §3: "the server should simply omit the option"), never an error.
 */
export function negotiate(requested: ReadonlyMap<string, string>, limits: NegotiationLimits, fileSize: number, mode: TransferMode): Negotiated {
  const out: Negotiated = { blksize: DEFAULT_BLKSIZE, windowsize: 1, timeoutSeconds: undefined, oack: new Map() };
  for (const [name, value] of requested) {
    const n = intValue(value);
    switch (name) {
      case 'blksize': // RFC 2348: 8..65464; the answer may be smaller than the request, never larger
        if (n === undefined || n < BLKSIZE_MIN || n > BLKSIZE_MAX) break;
        out.blksize = Math.min(n, limits.maxBlksize);
        out.oack.set(name, String(out.blksize));
        break;
      case 'timeout': // RFC 2349: 1..255 seconds, echoed unchanged
        if (n === undefined || n < TIMEOUT_MIN || n > TIMEOUT_MAX) break;
        out.timeoutSeconds = n;
        out.oack.set(name, String(n));
        break;
      case 'tsize': // RFC 2349: RRQ carries 0, the OACK carries the size. tftp-hpa omits it for netascii (size unknown).
        if (n === undefined || mode === 'netascii') break;
        out.oack.set(name, String(fileSize));
        break;
      case 'windowsize': // RFC 7440 §3: 1..65535, answered ≤ request
        if (n === undefined || n < WINDOW_MIN || n > WINDOW_MAX) break;
        out.windowsize = Math.min(n, limits.maxWindowsize);
        out.oack.set(name, String(out.windowsize));
        break;
      default: // unknown option: omitted (check 19)
    }
  }
  return out;
}
