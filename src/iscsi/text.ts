import { DecodeError } from '../wire/decode-error.ts';

/**
 * Text key=value pairs (RFC 7143 §6.1): UTF-8, each pair terminated by a NUL, keys up to 63 bytes of
 * [A-Za-z0-9.:\-+@_], values up to 255 bytes except binary CHAP values (up to 8192, §13 and §12.1.3).
 */
export type TextPairs = Array<[key: string, value: string]>;

const KEY_RE = /^[A-Za-z0-9.\-+@_:#]{1,63}$/;
export const MAX_VALUE_BYTES = 8192;

export function decodeText(data: Buffer): TextPairs {
  const out: TextPairs = [];
  let start = 0;
  while (start < data.length) {
    let end = data.indexOf(0, start);
    if (end < 0) end = data.length; // tolerate a missing final NUL (only after a C-bit boundary, joined upstream)
    if (end > start) {
      const item = data.toString('utf8', start, end);
      const eq = item.indexOf('=');
      if (eq <= 0) throw new DecodeError('iscsi-text', start, 'TEXT_NO_EQUALS', 'key=value pair without "="');
      const key = item.slice(0, eq);
      const value = item.slice(eq + 1);
      if (!KEY_RE.test(key)) throw new DecodeError('iscsi-text', start, 'TEXT_BAD_KEY', 'invalid key name');
      if (end - start - eq - 1 > MAX_VALUE_BYTES) throw new DecodeError('iscsi-text', start, 'TEXT_VALUE_TOO_LONG', 'value too long');
      out.push([key, value]);
    }
    start = end + 1;
  }
  return out;
}

export function encodeText(pairs: TextPairs): Buffer {
  return Buffer.from(pairs.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}

/** Numerical values: decimal, or hex with 0x (RFC 7143 §6.1 "numerical-value"). NaN when malformed. */
export function parseNumber(v: string): number {
  if (/^0[xX][0-9a-fA-F]{1,8}$/.test(v)) return parseInt(v.slice(2), 16);
  if (/^[0-9]{1,10}$/.test(v)) return Number(v);
  return NaN;
}

/** Binary values (RFC 7143 §6.1 "binary-value"): 0x hex or 0b base64. Undefined when malformed. */
export function parseBinary(v: string): Buffer | undefined {
  if (/^0[xX]([0-9a-fA-F]{2})+$/.test(v)) return Buffer.from(v.slice(2), 'hex');
  if (/^0[xX][0-9a-fA-F]+$/.test(v)) return Buffer.from('0' + v.slice(2), 'hex'); // odd digit count
  if (/^0[bB][A-Za-z0-9+/]+=*$/.test(v)) return Buffer.from(v.slice(2), 'base64');
  return undefined;
}
