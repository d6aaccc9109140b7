/**
 * The bootgate nftables table as text for `nft -f -`: pure (config → string), so it is unit-tested without a
 * kernel. One table (family inet) holds everything bootgate does to packets; nothing outside it is touched.
 *
 *   set seats          addresses of seats with an open session, with per-element counters (bytes per seat)
 *   nat prerouting     traffic to the gateway itself (DNS, DHCP, TFTP, HTTP boot, iSCSI, portal, proxy) is left
 *                      alone; seats in @seats: tcp/80 → HTTP interceptor, tcp/443 → TLS interceptor; any other
 *                      seat: tcp/80 → the portal ("please see the cashier")
 *   filter forward     from the LAN only @seats pass, the rest is refused (TCP reset, else ICMP admin-prohibited)
 *                      so a seat's browser fails at once instead of waiting; replies to the LAN only for
 *                      established flows. The destination policy for forwarded flows: @refused_destinations
 *                      (the special-purpose ranges and the LAN subnets, destination/ranges.ts) are refused
 *                      before the seat rule, unless in @allowed_destinations (gateway.allowDestinations)
 *   filter input       (with lanServices) from the LAN only the gateway's terminal-facing services: DHCP,
 *                      proxyDHCP, TFTP, DNS, HTTP boot, iSCSI, the proxy and interceptors, the portal, ICMP;
 *                      the rest of the gateway's own ports (the management API, anything on the host) is refused
 *   nat postrouting    masquerade LAN → WAN
 *
 * The text starts with `table …` + `delete table …` so one `nft -f` transaction replaces the whole table
 * atomically (nft(8) "add table" is idempotent; the delete then the new definition commit together).
 */
import { isIpv4, parseCidr } from '../../wire/ipv4.ts';

export interface GateRulesetConfig {
  /** nftables table name (family inet) */
  table: string;
  /** the terminal LAN interface (a bridge or a NIC) */
  lanInterface: string;
  /** the uplink; without it, masquerade applies to everything leaving by another interface than the LAN */
  wanInterface?: string;
  /** the LAN subnet, e.g. 10.76.1.0/24 */
  lanSubnet: string;
  httpInterceptPort: number;
  tlsInterceptPort: number;
  portalPort: number;
  /** seat addresses with an open session when the table is (re)applied */
  seats: readonly string[];
  /** IPv4 networks (CIDR) forwarded flows from the LAN may not reach (overlaps allowed: the set auto-merges) */
  refusedDestinations?: readonly string[];
  /** IPv4 networks inside those that seats may reach anyway */
  allowedDestinations?: readonly string[];
  /** the gateway's ports terminals may reach; present: everything else on the gateway is refused to the LAN */
  lanServices?: { tcp: readonly number[]; udp: readonly number[] };
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const TABLE = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

/** Rejects anything that is not a plain name/number before it is pasted into nft syntax. */
export function validateGateConfig(c: GateRulesetConfig): void {
  if (!TABLE.test(c.table)) throw new RangeError(`bad nftables table name: ${c.table}`);
  if (!IFNAME.test(c.lanInterface)) throw new RangeError(`bad interface name: ${c.lanInterface}`);
  if (c.wanInterface !== undefined && !IFNAME.test(c.wanInterface)) throw new RangeError(`bad interface name: ${c.wanInterface}`);
  parseCidr(c.lanSubnet);
  for (const p of [c.httpInterceptPort, c.tlsInterceptPort, c.portalPort]) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`bad port: ${p}`);
  }
  for (const s of c.seats) if (!isIpv4(s)) throw new RangeError(`not an IPv4 seat address: ${s}`);
  for (const n of [...(c.refusedDestinations ?? []), ...(c.allowedDestinations ?? [])]) parseCidr(n);
  for (const p of [...(c.lanServices?.tcp ?? []), ...(c.lanServices?.udp ?? [])]) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`bad port: ${p}`);
  }
}

function intervalSet(name: string, networks: readonly string[]): string {
  const elements = networks.length ? `\n\t\telements = { ${[...new Set(networks)].join(', ')} }` : '';
  return `\tset ${name} {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\tauto-merge${elements}\n\t}\n\n`;
}

function inputChain(lan: string, services: { tcp: readonly number[]; udp: readonly number[] }): string {
  const list = (ports: readonly number[]) => `{ ${[...new Set(ports)].sort((a, b) => a - b).join(', ')} }`;
  const udp = services.udp.length ? `\n\t\tiifname ${lan} udp dport ${list(services.udp)} counter accept comment "terminal services (UDP)"` : '';
  const tcp = services.tcp.length ? `\n\t\tiifname ${lan} tcp dport ${list(services.tcp)} counter accept comment "terminal services (TCP)"` : '';
  return `
\tchain input {
\t\ttype filter hook input priority filter; policy accept;
\t\tiifname ${lan} ct state established,related counter accept
\t\tiifname ${lan} meta l4proto { icmp, ipv6-icmp } counter accept comment "ping, IPv6 neighbour and router discovery"${udp}${tcp}
\t\tiifname ${lan} meta l4proto tcp counter reject with tcp reset comment "nothing else of the gateway's own"
\t\tiifname ${lan} counter reject with icmpx type admin-prohibited comment "nothing else of the gateway's own"
\t}
`;
}

export function renderRuleset(c: GateRulesetConfig): string {
  validateGateConfig(c);
  const t = c.table;
  const lan = JSON.stringify(c.lanInterface);
  const elements = c.seats.length ? `\n\t\telements = { ${[...new Set(c.seats)].join(', ')} }` : '';
  const masq = c.wanInterface
    ? `oifname ${JSON.stringify(c.wanInterface)} ip saddr ${c.lanSubnet} counter masquerade`
    : `oifname != ${lan} ip saddr ${c.lanSubnet} counter masquerade`;
  const refused = c.refusedDestinations?.length ? c.refusedDestinations : undefined;
  // present (maybe empty) whenever destinations are refused, so addresses can be allow-listed live (platform instances)
  const allowed = refused ? (c.allowedDestinations ?? []) : undefined;
  const sets = (refused ? intervalSet('refused_destinations', refused) : '') + (allowed ? intervalSet('allowed_destinations', allowed) : '');
  const policyRules = refused
    ? (allowed ? `\t\tiifname ${lan} ip saddr @seats ip daddr @allowed_destinations counter accept comment "allow-listed destinations"\n` : '') +
      `\t\tiifname ${lan} ip daddr @refused_destinations meta l4proto tcp counter reject with tcp reset comment "destination policy"\n` +
      `\t\tiifname ${lan} ip daddr @refused_destinations counter reject with icmpx type admin-prohibited comment "destination policy"\n`
    : '';
  return `table inet ${t}
delete table inet ${t}
table inet ${t} {
${sets}\tset seats {
\t\ttype ipv4_addr
\t\tcounter${elements}
\t}

\tchain prerouting {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tiifname ${lan} fib daddr type local counter accept comment "services on the gateway: DNS DHCP TFTP HTTP-boot iSCSI portal proxy"
\t\tiifname ${lan} ip saddr @seats tcp dport 80 counter redirect to :${c.httpInterceptPort} comment "seat HTTP to the interceptor"
\t\tiifname ${lan} ip saddr @seats tcp dport 443 counter redirect to :${c.tlsInterceptPort} comment "seat TLS to the SNI interceptor"
\t\tiifname ${lan} ip saddr != @seats tcp dport 80 counter redirect to :${c.portalPort} comment "no session: the portal"
\t}

\tchain forward {
\t\ttype filter hook forward priority filter; policy accept;
${policyRules}\t\tiifname ${lan} ip saddr @seats counter accept comment "seat with an open session"
\t\tiifname ${lan} meta l4proto tcp counter reject with tcp reset comment "no session: TCP refused at once (HTTPS fails fast instead of hanging)"
\t\tiifname ${lan} counter reject with icmpx type admin-prohibited comment "no session"
\t\toifname ${lan} ct state established,related counter accept
\t\toifname ${lan} counter drop comment "nothing new into the LAN"
\t}
${c.lanServices ? inputChain(lan, c.lanServices) : ''}
\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\t${masq}
\t}
}
`;
}

/**
 * `nft -j` command replacing the allow-listed destinations with exactly `networks` (IPv4 addresses or CIDR
 * networks), in one transaction: the set is flushed and refilled, so a removed platform instance leaves it without
 * a deletion punching a hole in an auto-merged interval that also covers a configured network or another instance.
 */
export function allowedDestinationsCommand(table: string, networks: readonly string[]): string {
  if (!TABLE.test(table)) throw new RangeError(`bad nftables table name: ${table}`);
  const elem = [...new Set(networks)].map((n) => {
    parseCidr(n); // throws on anything but an IPv4 network "a.b.c.d/len"
    const [addr, len] = n.split('/') as [string, string];
    return len === '32' ? addr : { prefix: { addr, len: Number(len) } };
  });
  const set = { family: 'inet', table, name: 'allowed_destinations' };
  return JSON.stringify({ nftables: [{ flush: { set } }, ...(elem.length ? [{ add: { element: { ...set, elem } } }] : [])] });
}

/** The JSON command (libnftables-json(5)) that adds or deletes seat addresses. */

export function seatElementCommand(table: string, op: 'add' | 'delete', ips: readonly string[]): string {
  if (!TABLE.test(table)) throw new RangeError(`bad nftables table name: ${table}`);
  for (const s of ips) if (!isIpv4(s)) throw new RangeError(`not an IPv4 seat address: ${s}`);
  return JSON.stringify({ nftables: [{ [op]: { element: { family: 'inet', table, name: 'seats', elem: [...ips] } } }] });
}
