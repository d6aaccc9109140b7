/**
 * The one destination policy for every path out of the gateway (explicit proxy, CONNECT, transparent HTTP, TLS
 * splice, upgraded connections; the nftables ruleset renders the same ranges for forwarded flows).
 *
 * A destination is judged by the address that will be dialled, never by the name: a name is resolved once here,
 * the policy applied to each address it resolves to, and the caller connects to the address returned (a second
 * lookup at connect time could answer differently: DNS rebinding).
 *
 * Refused unless allow-listed: the special-purpose ranges (ranges.ts: loopback, link-local, RFC 1918, RFC 6598,
 * ULA, multicast, reserved) and the LAN subnets. Refused always, whatever the allow-list: the gateway's own
 * addresses on every interface and the unspecified address (a shop's server is never the gateway itself).
 */
import type { LookupFunction } from 'node:net';
import {
  formatIp,
  ipv4Address,
  mappedIpv4,
  networkContains,
  parseIpLiteral,
  parseIpNetwork,
  type IpAddress,
  type IpNetwork,
} from '../../wire/ip-address.ts';
import { embeddedIpv4, specialRange, type RefusalReason } from './ranges.ts';

export type { RefusalReason } from './ranges.ts';

export type Decision =
  | { allowed: true; /** the address to dial, canonical text */ address: string; family: 4 | 6 }
  | { allowed: false; reason: RefusalReason; address: string }
  /** the name resolved to nothing (or the lookup failed): not a refusal, the site cannot be reached */
  | { allowed: false; reason: 'unresolved'; address?: undefined };

export interface DestinationPolicyOptions {
  /** networks (CIDR, IPv4 or IPv6) a seat may reach although they are private: the shop's own servers */
  allow: readonly string[];
  /** the LAN's subnets (DHCP subnet and relayed subnets): terminals talk to each other only on the LAN itself */
  lanSubnets: readonly string[];
}

export interface DestinationPolicyDeps {
  options: DestinationPolicyOptions;
  /** every address of this host, all interfaces (re-read at most every `gatewayAddressTtlMs`) */
  gatewayAddresses: () => Iterable<string>;
  gatewayAddressTtlMs?: number;
  /** name resolution (the gateway's lookup: fixed hosts, then the system resolver) */
  lookup: LookupFunction;
  clock?: () => number;
}

export class DestinationPolicy {
  private readonly allow: IpNetwork[];
  private readonly lan: IpNetwork[];
  private gateway = new Set<bigint>();
  private gatewayReadAt = -Infinity;
  private readonly clock: () => number;

  constructor(private readonly deps: DestinationPolicyDeps) {
    this.allow = deps.options.allow.map((c) => parseIpNetwork(c));
    this.lan = deps.options.lanSubnets.map((c) => parseIpNetwork(c));
    this.clock = deps.clock ?? Date.now;
  }

  /** Whether `a` is one of this host's own addresses (IPv4 also in its embedded IPv6 forms). */
  isGatewayAddress(a: IpAddress): boolean {
    const now = this.clock();
    if (now - this.gatewayReadAt > (this.deps.gatewayAddressTtlMs ?? 5000)) {
      const next = new Set<bigint>();
      for (const text of this.deps.gatewayAddresses()) {
        const ip = parseIpLiteral(text.replace(/%.*$/, ''));
        if (ip) next.add(ip.value);
      }
      this.gateway = next;
      this.gatewayReadAt = now;
    }
    if (this.gateway.has(a.value)) return true;
    const v4 = embeddedIpv4(a);
    return v4 !== undefined && this.gateway.has(ipv4Address(v4).value);
  }

  /** The verdict on one address. */
  checkAddress(a: IpAddress): Decision {
    const address = formatIp(a);
    const family = mappedIpv4(a) === undefined ? 6 : 4;
    const special = specialRange(a);
    if (special === 'unspecified') return { allowed: false, reason: special, address };
    if (this.isGatewayAddress(a)) return { allowed: false, reason: special === 'loopback' ? 'loopback' : 'gateway_address', address };
    const v4 = embeddedIpv4(a);
    const forms = v4 === undefined ? [a] : [a, ipv4Address(v4)];
    if (this.allow.some((n) => forms.some((f) => networkContains(n, f)))) return { allowed: true, address, family };
    if (this.lan.some((n) => forms.some((f) => networkContains(n, f)))) return { allowed: false, reason: 'lan', address };
    if (special) return { allowed: false, reason: special, address };
    return { allowed: true, address, family };
  }

  /**
   * The verdict on a host as a client named it: an IP literal in any form is judged at once (synchronously);
   * a name is resolved (all its addresses) and the first allowed address is the one to dial. If none is allowed,
   * the refusal names the first address's reason.
   */
  decide(host: string): Decision | Promise<Decision> {
    const literal = parseIpLiteral(host);
    if (literal) return this.checkAddress(literal);
    return this.resolveAll(host).then((addresses) => {
      let first: Decision | undefined;
      for (const text of addresses) {
        const ip = parseIpLiteral(text);
        if (!ip) continue;
        const d = this.checkAddress(ip);
        if (d.allowed) return d;
        first ??= d;
      }
      return first ?? { allowed: false, reason: 'unresolved' };
    });
  }

  /** decide(), with a deadline for the lookup: a name that does not resolve within `ms` is 'unresolved'. */
  decideWithin(host: string, ms: number): Decision | Promise<Decision> {
    const d = this.decide(host);
    if (!(d instanceof Promise)) return d;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ allowed: false, reason: 'unresolved' }), ms);
      void d.then((v) => {
        clearTimeout(timer);
        resolve(v);
      });
    });
  }

  /**
   * Whether `host` (as a Host field or SNI named it) can mean the address the client actually dialled: an IP
   * literal must be that address (synchronous answer); a name must resolve to it, among its addresses.
   */
  names(host: string, dialled: IpAddress): boolean | Promise<boolean> {
    const literal = parseIpLiteral(host);
    const target = formatIp(dialled);
    if (literal) return formatIp(literal) === target;
    return this.resolveAll(host).then((addresses) =>
      addresses.some((text) => {
        const ip = parseIpLiteral(text);
        return ip !== undefined && formatIp(ip) === target;
      }),
    );
  }

  private resolveAll(host: string): Promise<string[]> {
    return new Promise((resolve) => {
      try {
        this.deps.lookup(host, { all: true }, (err: NodeJS.ErrnoException | null, addresses: unknown) => {
          if (err || !Array.isArray(addresses)) return resolve([]);
          resolve((addresses as Array<{ address: string }>).map((a) => a.address));
        });
      } catch {
        resolve([]);
      }
    });
  }
}

/** `address:port` as written in records (`[v6]:port` for IPv6, RFC 3986 §3.2.2). */
export function endpointText(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The page a refused destination gets (explicit and transparent HTTP, CONNECT). */
export const REFUSAL_EXPLANATION: Record<RefusalReason, string> = {
  loopback: 'the gateway itself (loopback)',
  unspecified: 'the gateway itself (unspecified address)',
  gateway_address: 'the gateway itself',
  link_local: 'a link-local address',
  lan: 'a computer on this room’s network',
  private: 'a private network',
  shared_address: 'a carrier-grade NAT address',
  unique_local: 'a private IPv6 network',
  multicast: 'a multicast address',
  reserved: 'a reserved address',
};
