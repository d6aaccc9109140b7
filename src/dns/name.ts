import { DecodeError } from '../wire/decode-error.ts';
import { MAX_LABEL_OCTETS, MAX_NAME_OCTETS } from './constants.ts';

export const P = 'dns';

/**
 * Domain names as text in RFC 1035 §5.1 presentation form, without the final dot ('' is the root): a label byte
 * that is '.', '\' or outside 0x21..0x7e is written \DDD (or \. and \\), so any wire name decodes to a string and
 * encodes back to the same octets.
 */
function escapeLabel(buf: Buffer, start: number, len: number): string {
  let s = '';
  for (let i = start; i < start + len; i++) {
    const c = buf[i]!;
    if (c === 0x2e || c === 0x5c) s += `\\${String.fromCharCode(c)}`;
    else if (c > 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += `\\${c.toString().padStart(3, '0')}`;
  }
  return s;
}

/**
 * Reads a possibly compressed name at `offset` (RFC 1035 §4.1.4). Returns the name and the offset just after it in
 * the original position. Protection: a pointer must point strictly before the label that holds it and each further
 * pointer strictly before the previous target, so a chain can neither loop nor jump forward; label types 01/10
 * (RFC 6891 §5 / RFC 2673, obsolete) are refused; the uncompressed name stays within 255 octets (§2.3.4).
 */
export function decodeName(buf: Buffer, offset: number, end = buf.length): { name: string; next: number } {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  let octets = 1; // the root label's length byte
  let floor = offset; // every pointer target must lie below this
  for (;;) {
    if (pos >= end) throw new DecodeError(P, pos, 'TRUNCATED', 'name runs past the end of the message');
    const len = buf[pos]!;
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= end) throw new DecodeError(P, pos, 'TRUNCATED', 'compression pointer needs 2 bytes');
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (target >= floor) throw new DecodeError(P, pos, 'BAD_POINTER', `pointer to ${target} does not point backwards (below ${floor})`);
      if (next < 0) next = pos + 2;
      floor = target;
      pos = target;
      continue;
    }
    if (kind !== 0) throw new DecodeError(P, pos, 'BAD_LABEL_TYPE', `label type 0x${kind.toString(16)} is not supported`);
    if (len === 0) {
      if (next < 0) next = pos + 1;
      return { name: labels.join('.'), next };
    }
    if (pos + 1 + len > end) throw new DecodeError(P, pos, 'TRUNCATED', `label of ${len} bytes runs past the end`);
    octets += len + 1;
    if (octets > MAX_NAME_OCTETS) throw new DecodeError(P, pos, 'NAME_TOO_LONG', `name exceeds ${MAX_NAME_OCTETS} octets`);
    labels.push(escapeLabel(buf, pos + 1, len));
    pos += 1 + len;
  }
}

/** Splits presentation text into wire labels (the inverse of escapeLabel). Throws RangeError on a bad name. */
export function nameToLabels(name: string): Buffer[] {
  if (name === '' || name === '.') return [];
  const text = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
  const labels: Buffer[] = [];
  let cur: number[] = [];
  let total = 1;
  const flush = (): void => {
    if (cur.length === 0) throw new RangeError(`empty label in ${JSON.stringify(name)}`);
    if (cur.length > MAX_LABEL_OCTETS) throw new RangeError(`label longer than ${MAX_LABEL_OCTETS} octets in ${JSON.stringify(name)}`);
    total += cur.length + 1;
    labels.push(Buffer.from(cur));
    cur = [];
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x2e) flush();
    else if (ch === 0x5c) {
      const d = /^\d{3}/.exec(text.slice(i + 1, i + 4));
      if (d) {
        const v = Number(d[0]);
        if (v > 255) throw new RangeError(`escape \\${d[0]} is not an octet`);
        cur.push(v);
        i += 3;
      } else if (i + 1 < text.length) cur.push(text.charCodeAt(++i) & 0xff);
      else throw new RangeError('name ends in a lone backslash');
    } else if (ch > 0xff) throw new RangeError(`character U+${ch.toString(16)} in a name (use \\DDD escapes)`);
    else cur.push(ch);
  }
  flush();
  if (total > MAX_NAME_OCTETS) throw new RangeError(`name exceeds ${MAX_NAME_OCTETS} octets`);
  return labels;
}

/** Case-insensitive comparison form (RFC 4343: only ASCII letters fold; escapes carry other octets). */
export function canonicalName(name: string): string {
  return name.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** Whether `name` is `zone` or below it (both canonical). */
export function isSubdomain(name: string, zone: string): boolean {
  if (zone === '' || name === zone) return true;
  const cut = name.length - zone.length - 1;
  // the dot before the zone must be a label separator, not an escaped "\." inside a label
  return cut > 0 && name.endsWith(zone) && name[cut] === '.' && name[cut - 1] !== '\\';
}
