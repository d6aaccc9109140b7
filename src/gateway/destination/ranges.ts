/**
 * The address ranges a seat may not reach through the gateway, each with the stable reason code that refusals
 * carry (audit `detail`, metric label). From the IANA special-purpose registries (RFC 6890) and the list:
 * the gateway itself, link-local, private and shared space, and what is never a destination on the internet.
 *
 * Addresses that embed an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are judged by the embedded
 * address too: `::ffff:127.0.0.1`, `::127.0.0.1` and `64:ff9b::7f00:1` all lead to a loopback.
 */
import { mappedIpv4, parseIpNetwork, networkContains, ipv4Address, type IpAddress, type IpNetwork } from '../../wire/ip-address.ts';

export type RefusalReason =
  'loopback' | 'unspecified' | 'gateway_address' | 'link_local' | 'lan' | 'private' | 'shared_address' | 'unique_local' | 'multicast' | 'reserved';

/** Ranges in match order (the first that contains the address gives the reason). */
const TABLE: ReadonlyArray<readonly [string, RefusalReason, string]> = [
  ['0.0.0.0/8', 'unspecified', 'RFC 1122 §3.2.1.3: "this host on this network"; connect(0.0.0.0) reaches the local host'],
  ['127.0.0.0/8', 'loopback', 'RFC 1122 §3.2.1.3'],
  ['10.0.0.0/8', 'private', 'RFC 1918 §3'],
  ['100.64.0.0/10', 'shared_address', 'RFC 6598: carrier-grade NAT shared space'],
  ['169.254.0.0/16', 'link_local', 'RFC 3927'],
  ['172.16.0.0/12', 'private', 'RFC 1918 §3'],
  ['192.0.0.0/24', 'reserved', 'RFC 6890: IETF protocol assignments'],
  ['192.168.0.0/16', 'private', 'RFC 1918 §3'],
  ['198.18.0.0/15', 'reserved', 'RFC 2544: benchmarking, never on the internet'],
  ['224.0.0.0/4', 'multicast', 'RFC 5771'],
  ['240.0.0.0/4', 'reserved', 'RFC 1112 §4: reserved, and 255.255.255.255 limited broadcast'],
  ['::/128', 'unspecified', 'RFC 4291 §2.5.2'],
  ['::1/128', 'loopback', 'RFC 4291 §2.5.3'],
  ['fe80::/10', 'link_local', 'RFC 4291 §2.5.6'],
  ['fec0::/10', 'reserved', 'RFC 3879: deprecated site-local'],
  ['fc00::/7', 'unique_local', 'RFC 4193'],
  ['ff00::/8', 'multicast', 'RFC 4291 §2.7'],
  ['64:ff9b:1::/48', 'private', 'RFC 8215: local-use NAT64'],
  ['100::/64', 'reserved', 'RFC 6666: discard-only'],
];

const RANGES: ReadonlyArray<{ net: IpNetwork; reason: RefusalReason }> = TABLE.map(([cidr, reason]) => ({ net: parseIpNetwork(cidr), reason }));

const IPV4_COMPATIBLE = parseIpNetwork('::/96'); // RFC 4291 §2.5.5.1 (deprecated, still routed by some stacks)
const NAT64 = parseIpNetwork('64:ff9b::/96'); // RFC 6052 §2.1
const SIX_TO_FOUR = parseIpNetwork('2002::/16'); // RFC 3056 §2

/** The IPv4 address an IPv6 address leads to (mapped, compatible, NAT64, 6to4), if any; IPv4 itself as is. */
export function embeddedIpv4(a: IpAddress): number | undefined {
  const mapped = mappedIpv4(a);
  if (mapped !== undefined) return mapped;
  if (a.value > 1n && networkContains(IPV4_COMPATIBLE, a)) return Number(a.value & 0xffffffffn);
  if (networkContains(NAT64, a)) return Number(a.value & 0xffffffffn);
  if (networkContains(SIX_TO_FOUR, a)) return Number((a.value >> 80n) & 0xffffffffn);
  return undefined;
}

/** The special-purpose range an address (or the IPv4 address it embeds) falls in, or undefined for a public one. */
export function specialRange(a: IpAddress): RefusalReason | undefined {
  for (const r of RANGES) if (networkContains(r.net, a)) return r.reason;
  const v4 = embeddedIpv4(a);
  if (v4 !== undefined && mappedIpv4(a) === undefined) return specialRange(ipv4Address(v4));
  return undefined;
}

/** The IPv4 networks of the table, for the nftables ruleset (forwarded flows meet the same policy as the proxies). */
export function refusedIpv4Networks(): string[] {
  return TABLE.filter(([cidr]) => cidr.includes('.')).map(([cidr]) => cidr);
}
