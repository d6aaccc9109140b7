import { BufferWriter } from '../wire/buffer-writer.ts';

/** ICMPv6 types (RFC 4861 §4.1, §4.2). */
export const ICMP6_ROUTER_SOLICIT = 133;
export const ICMP6_ROUTER_ADVERT = 134;

export interface RouterAdvertisement {
  /** 0 = this router is not a default router (RFC 4861 §4.2); bootgate only wants hosts to finish autoconf */
  routerLifetimeSeconds: number;
  /** 16-byte link-layer address of the sending interface, for the Source Link-Layer Address option */
  sourceMac?: Buffer;
  /** an on-link prefix for SLAAC (Prefix Information option, RFC 4861 §4.6.2), e.g. a ULA /64 */
  prefix?: { address: Buffer; length: number; validSeconds: number; preferredSeconds: number };
  mtu?: number;
}

/**
 * Encodes a Router Advertisement (RFC 4861 §4.2). The checksum is left zero: the kernel computes it for raw
 * ICMPv6 sockets (RFC 3542 §3.1). M and O flags are clear: no DHCPv6, so iPXE's autoconf ends at this RA.
 */
export function encodeRouterAdvertisement(ra: RouterAdvertisement): Buffer {
  const w = new BufferWriter(64);
  w.u8(ICMP6_ROUTER_ADVERT).u8(0).u16(0); // type, code, checksum
  w.u8(64); // cur hop limit
  w.u8(0); // M=0, O=0
  w.u16(ra.routerLifetimeSeconds);
  w.u32(0); // reachable time: unspecified
  w.u32(0); // retrans timer: unspecified
  if (ra.sourceMac) w.u8(1).u8(1).bytes(ra.sourceMac); // option 1, length in 8-octet units
  if (ra.mtu !== undefined) w.u8(5).u8(1).u16(0).u32(ra.mtu);
  if (ra.prefix) {
    if (ra.prefix.address.length !== 16) throw new RangeError('prefix address must be 16 bytes');
    w.u8(3).u8(4).u8(ra.prefix.length);
    w.u8(0xc0); // L (on-link) and A (autonomous address configuration)
    w.u32(ra.prefix.validSeconds).u32(ra.prefix.preferredSeconds).u32(0);
    w.bytes(ra.prefix.address);
  }
  return w.finish();
}

/** Parses "fd00:b007::/64" into 16 bytes + length; only what SLAAC needs (a /64). */
export function parseIpv6Prefix(s: string): { address: Buffer; length: number } {
  const m = /^([0-9a-fA-F:]+)\/(\d{1,3})$/.exec(s);
  if (!m) throw new RangeError(`not an IPv6 prefix: ${s}`);
  const length = Number(m[2]);
  if (length !== 64) throw new RangeError(`SLAAC needs a /64 prefix: ${s}`);
  const [head, tail, extra] = m[1]!.split('::');
  if (extra !== undefined) throw new RangeError(`not an IPv6 prefix: ${s}`);
  const groups = (x: string | undefined): number[] =>
    x
      ? x.split(':').map((g) => {
          if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw new RangeError(`not an IPv6 prefix: ${s}`);
          return parseInt(g, 16);
        })
      : [];
  const h = groups(head);
  const t = groups(tail);
  if (tail === undefined && h.length !== 8) throw new RangeError(`not an IPv6 prefix: ${s}`);
  if (h.length + t.length > 8) throw new RangeError(`not an IPv6 prefix: ${s}`);
  const all = [...h, ...Array(8 - h.length - t.length).fill(0), ...t];
  const address = Buffer.alloc(16);
  all.forEach((g, i) => address.writeUInt16BE(g, i * 2));
  if (address.subarray(8).some((b) => b !== 0)) throw new RangeError(`host bits set in prefix: ${s}`);
  return { address, length };
}
