import type { Mac } from './mac.ts';

/**
 * A socket's peer address as the rest of the appliance keys it: dual-stack sockets report IPv4 peers as
 * IPv4-mapped IPv6 (`::ffff:10.0.0.5`, RFC 4291 §2.5.5.2); leases, seats and audit records use `10.0.0.5`.
 * Other IPv6 addresses pass through unchanged.
 */
export function clientAddress(remoteAddress: string | undefined): string {
  const a = remoteAddress ?? '';
  return a.toLowerCase().startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/**
 * Where each terminal is now: the lookups between leases and MACs that the DHCP server answers, provided by the
 * composition root to every module that needs them (the boot timeline, the seat directory, iSCSI isolation,
 * the gateway's gate). Only bound, unexpired leases count.
 */
export interface TerminalLocator {
  /** the MAC holding a bound lease on this IPv4 address */
  macForIp(ip: string): Mac | undefined;
  /** the IPv4 address this MAC holds a bound lease for */
  ipForMac(mac: Mac): string | undefined;
}

/** A locator that knows no terminal (DHCP off; the addresses come from elsewhere). */
export const NO_TERMINALS: TerminalLocator = { macForIp: () => undefined, ipForMac: () => undefined };
