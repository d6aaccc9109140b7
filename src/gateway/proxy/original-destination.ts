import type { Socket } from 'node:net';
import { nativeAddon } from '../../net/iface-socket.ts';
import { parseIpLiteral, type IpAddress } from '../../wire/ip-address.ts';

/** Where a redirected client connection was going: the address and port the client dialled. */
export interface OriginalDestination {
  address: string;
  port: number;
}

/** Reads a client connection's original destination; undefined when it has none (it was not redirected). */
export type OriginalDestinationReader = (sock: Socket) => OriginalDestination | undefined;

interface OriginalDstAddon {
  originalDst(fd: number): OriginalDestination | number;
}

/**
 * The kernel's answer (SO_ORIGINAL_DST on the conntrack entry of the nftables redirect, src/native/original_dst.c).
 * A connection made to the interceptor port directly has an entry too, naming the interceptor itself: the
 * destination policy refuses it as the gateway's own address. No entry at all (conntrack not tracking): undefined.
 */
export const conntrackOriginalDestination: OriginalDestinationReader = (sock) => {
  const fd = (sock as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  const r = (nativeAddon() as unknown as OriginalDstAddon).originalDst(fd);
  return typeof r === 'number' ? undefined : r;
};

/** The address a transparent client connection dialled; null when the kernel has none for it. */
export interface Dialled {
  ip: IpAddress;
  port: number;
}

export function dialledOf(o: { address: string; port: number } | undefined): Dialled | null {
  const ip = o ? parseIpLiteral(o.address) : undefined;
  return ip && o ? { ip, port: o.port } : null;
}
