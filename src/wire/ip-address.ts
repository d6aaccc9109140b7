/**
 * IP addresses in every textual form a peer may use to name one, as one value type: a 128-bit number (IPv4 as
 * its IPv4-mapped IPv6 form, RFC 4291 §2.5.5.2), so one range table covers both families.
 *
 * The forms accepted are the union of what the resolvers behind a connection accept, because a proxy that reads
 * `0x7f.1` as a name and hands it to getaddrinfo gets 127.0.0.1 back:
 *   - IPv4 as inet_aton(3) and the WHATWG URL host parser read it: 1 to 4 parts, each decimal, octal (leading 0)
 *     or hex (0x), the last part filling the remaining bytes (`127.1`, `2130706433`, `0177.0.0.01`, `0x7f.0.0.1`),
 *     and a trailing dot (WHATWG);
 *   - IPv6 per RFC 4291 §2.2 (`::` once, an embedded dotted IPv4 tail), with or without brackets (RFC 3986
 *     §3.2.2), case-insensitive. A zone (`%eth0`) is not a literal here: it names a link, never a destination
 *     beyond the gateway, and such a host is resolved (and refused as link-local) like any other name.
 */

export interface IpAddress {
  /** 128-bit value; IPv4 is ::ffff:a.b.c.d */
  readonly value: bigint;
  /** the family the text was written in (an IPv4-mapped IPv6 literal is family 6) */
  readonly family: 4 | 6;
}

const V4_MAPPED = 0xffffn << 32n;
const MASK_32 = 0xffffffffn;
const MASK_128 = (1n << 128n) - 1n;

/** One IPv4 part as inet_aton reads it: 0x… hex, 0… octal, else decimal; undefined if not a number. */
function v4Part(p: string): number | undefined {
  let digits: string;
  let radix: number;
  if (/^0x[0-9a-f]*$/i.test(p)) {
    digits = p.slice(2) || '0'; // WHATWG: "0x" alone is 0
    radix = 16;
  } else if (/^0[0-7]+$/.test(p)) {
    digits = p.slice(1);
    radix = 8;
  } else if (/^(?:0|[1-9]\d*)$/.test(p)) {
    digits = p;
    radix = 10;
  } else return undefined;
  if (digits.length > 12) return undefined; // far above 2^32 in any radix: not an address
  return parseInt(digits, radix);
}

/** IPv4 in any inet_aton / WHATWG form, as a 32-bit number; undefined if the text is not such an address. */
function parseIpv4Loose(text: string): number | undefined {
  let s = text;
  if (s.endsWith('.')) s = s.slice(0, -1); // WHATWG URL: one trailing dot is allowed
  const parts = s.split('.');
  if (parts.length < 1 || parts.length > 4) return undefined;
  const nums: number[] = [];
  for (const p of parts) {
    const n = v4Part(p);
    if (n === undefined) return undefined;
    nums.push(n);
  }
  const last = nums.pop()!;
  for (const n of nums) if (n > 255) return undefined;
  if (last >= 2 ** (8 * (4 - nums.length))) return undefined;
  let v = 0;
  for (const n of nums) v = v * 256 + n;
  return v * 2 ** (8 * (4 - nums.length)) + last;
}

/** Strict dotted quad (the form in an IPv6 literal's tail, RFC 4291 §2.2 form 3). */
function parseDottedQuad(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const n = Number(m[i]);
    if (n > 255 || (m[i]!.length > 1 && m[i]!.startsWith('0'))) return undefined;
    v = v * 256 + n;
  }
  return v;
}

/** IPv6 text (RFC 4291 §2.2), brackets already removed; undefined if not an IPv6 address. */
export function parseIpv6(text: string): bigint | undefined {
  if (text.length < 2 || text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  let s = text;
  if (s.includes('.')) {
    // form 3: the last 32 bits as a dotted quad; rewritten as two hex groups
    const lastColon = s.lastIndexOf(':');
    const v4 = parseDottedQuad(s.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    s = `${s.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const group = (g: string): number | undefined => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : undefined);
  const read = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      const n = group(g);
      if (n === undefined) return undefined;
      out.push(n);
    }
    return out;
  };
  const head = read(halves[0]!);
  const rest = halves.length === 2 ? read(halves[1]!) : [];
  if (!head || !rest) return undefined;
  const given = head.length + rest.length;
  let groups: number[];
  if (halves.length === 2) {
    if (given > 7) return undefined; // "::" stands for at least one group
    groups = [...head, ...new Array<number>(8 - given).fill(0), ...rest];
  } else {
    if (given !== 8) return undefined;
    groups = head;
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  return v;
}

/** An IP literal in any accepted form, or undefined when the text is a name (or nothing valid). */
export function parseIpLiteral(text: string): IpAddress | undefined {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (s.includes(':')) {
    const v = parseIpv6(s);
    return v === undefined ? undefined : { value: v, family: 6 };
  }
  const v4 = parseIpv4Loose(s);
  return v4 === undefined ? undefined : { value: V4_MAPPED | BigInt(v4), family: 4 };
}

export function ipv4Address(v4: number): IpAddress {
  return { value: V4_MAPPED | BigInt(v4 >>> 0), family: 4 };
}

/** The IPv4 address inside an IPv4-mapped value, else undefined. */
export function mappedIpv4(a: IpAddress): number | undefined {
  return a.value >> 32n === 0xffffn ? Number(a.value & MASK_32) : undefined;
}

/** Canonical text: dotted quad for IPv4 (and IPv4-mapped), RFC 5952 for IPv6. */
export function formatIp(a: IpAddress): string {
  const v4 = mappedIpv4(a);
  if (v4 !== undefined) return `${v4 >>> 24}.${(v4 >>> 16) & 255}.${(v4 >>> 8) & 255}.${v4 & 255}`;
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((a.value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952 §4.2.3: the longest run of two or more zero groups (the first if tied) becomes "::"
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** A network in CIDR form, IPv4 (`10.0.0.0/8`, held as its mapped /104) or IPv6 (`fc00::/7`). */
export interface IpNetwork {
  readonly base: bigint;
  /** prefix length in the 128-bit space */
  readonly prefix: number;
  readonly text: string;
}

/** Parses `a.b.c.d/n` or `x::/n` (strict forms, host bits must be zero); throws RangeError with the reason. */
export function parseIpNetwork(text: string): IpNetwork {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!m) throw new RangeError(`not a network in CIDR form: ${text}`);
  const bits = Number(m[2]);
  let base: bigint;
  let prefix: number;
  if (m[1]!.includes(':')) {
    const v = parseIpv6(m[1]!);
    if (v === undefined) throw new RangeError(`not an IPv6 network: ${text}`);
    if (bits > 128) throw new RangeError(`prefix out of range: ${text}`);
    base = v;
    prefix = bits;
  } else {
    const v4 = parseDottedQuad(m[1]!);
    if (v4 === undefined) throw new RangeError(`not an IPv4 network: ${text}`);
    if (bits > 32) throw new RangeError(`prefix out of range: ${text}`);
    base = V4_MAPPED | BigInt(v4);
    prefix = 96 + bits;
  }
  if ((base & ~networkMask(prefix) & MASK_128) !== 0n) throw new RangeError(`host bits set in network: ${text}`);
  return { base, prefix, text };
}

function networkMask(prefix: number): bigint {
  return prefix === 0 ? 0n : (MASK_128 << BigInt(128 - prefix)) & MASK_128;
}

export function networkContains(n: IpNetwork, a: IpAddress | bigint): boolean {
  const v = typeof a === 'bigint' ? a : a.value;
  return (v & networkMask(n.prefix)) === n.base;
}

/** Whether two networks share any address (one contains the other's base). */
export function networksOverlap(a: IpNetwork, b: IpNetwork): boolean {
  return a.prefix <= b.prefix ? networkContains(a, b.base) : networkContains(b, a.base);
}
