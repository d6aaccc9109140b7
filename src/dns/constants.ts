/** DNS numbers the resolver names (RFC 1035 §3.2, §4.1.1; RFC 3596; RFC 6891). */

/** RR TYPE / QTYPE values (RFC 1035 §3.2.2, §3.2.3; AAAA RFC 3596 §2.1; OPT RFC 6891 §6.1.1). */
export const RRType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  DS: 43,
  RRSIG: 46,
  DNSKEY: 48,
  HTTPS: 65,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

/** CLASS values (RFC 1035 §3.2.4); CH and HS exist only to be refused. */
export const RRClass = { IN: 1, CH: 3, HS: 4, ANY: 255 } as const;

/** OPCODE (RFC 1035 §4.1.1). Only QUERY is served; everything else is NOTIMP. */
export const Opcode = { QUERY: 0, IQUERY: 1, STATUS: 2, NOTIFY: 4, UPDATE: 5 } as const;

/** RCODE (RFC 1035 §4.1.1; BADVERS is an extended RCODE, RFC 6891 §6.1.3). */
export const Rcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;

const TYPE_NAMES = new Map<number, string>(Object.entries(RRType).map(([k, v]) => [v, k]));
const RCODE_NAMES = new Map<number, string>(Object.entries(Rcode).map(([k, v]) => [v, k]));

/** "A", "AAAA", … or RFC 3597 §5's TYPEnnn for the rest. */
export function typeName(t: number): string {
  return TYPE_NAMES.get(t) ?? `TYPE${t}`;
}

/** A bounded metric label: the named types, else "other" (a client must not mint label values). */
export function typeLabel(t: number): string {
  return TYPE_NAMES.get(t) ?? 'other';
}

export function rcodeName(r: number): string {
  return RCODE_NAMES.get(r) ?? `RCODE${r}`;
}

/** RFC 1035 §2.3.4 */
export const MAX_NAME_OCTETS = 255;
export const MAX_LABEL_OCTETS = 63;
/** RFC 1035 §4.2.1: a UDP message without EDNS is at most 512 octets. */
export const CLASSIC_UDP_BYTES = 512;
/** RFC 1035 §4.1.1 */
export const HEADER_BYTES = 12;
