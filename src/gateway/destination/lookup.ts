import { lookup as dnsLookup } from 'node:dns';
import type { LookupFunction } from 'node:net';

/**
 * Name resolution for the gateway's upstream connections: fixed name → IPv4 answers first (labs and tests; the
 * operator's `gateway.hosts`), then the system resolver. Used only by the destination policy, which resolves each
 * name once and hands the proxies the address to dial.
 */
export function fixedHostsLookup(hosts: ReadonlyMap<string, string> | Readonly<Record<string, string>>): LookupFunction {
  const map = hosts instanceof Map ? hosts : new Map(Object.entries(hosts).map(([k, v]) => [k.toLowerCase(), v]));
  return ((hostname: string, options: unknown, cb: (...a: unknown[]) => void) => {
    const fixed = map.get(hostname.toLowerCase().replace(/\.$/, ''));
    if (!fixed) return dnsLookup(hostname, options as object, cb as never);
    if ((options as { all?: boolean }).all) process.nextTick(cb, null, [{ address: fixed, family: 4 }]);
    else process.nextTick(cb, null, fixed, 4);
  }) as LookupFunction;
}
