import { encodeDhcp, type DhcpPacket } from '../../src/dhcp/codec.ts';
import { BROADCAST_FLAG, Opt } from '../../src/dhcp/constants.ts';
import { ipToInt } from '../../src/wire/ipv4.ts';
import { macBytes, parseMac } from '../../src/terminal/mac.ts';

export interface ClientPacketSpec {
  type: number;
  mac: string;
  xid?: number;
  broadcast?: boolean;
  ciaddr?: string;
  giaddr?: string;
  /** extra options in order; numbers are option codes */
  options?: Array<[number, Buffer]>;
}

/** A client message built field by field, for tests that need a precise request (real captures live in fixtures/). */
export function clientPacket(s: ClientPacketSpec): Buffer {
  const chaddr = Buffer.alloc(16);
  macBytes(parseMac(s.mac)).copy(chaddr);
  const options = new Map<number, Buffer>([[Opt.MESSAGE_TYPE, Buffer.from([s.type])]]);
  for (const [code, data] of s.options ?? []) options.set(code, data);
  const p: DhcpPacket = {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: s.xid ?? 0x12345678,
    secs: 0,
    flags: s.broadcast ? BROADCAST_FLAG : 0,
    ciaddr: s.ciaddr ? ipToInt(s.ciaddr) : 0,
    yiaddr: 0,
    siaddr: 0,
    giaddr: s.giaddr ? ipToInt(s.giaddr) : 0,
    chaddr,
    sname: '',
    file: '',
    options,
  };
  return encodeDhcp(p).bytes;
}

export const ip = (s: string): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(ipToInt(s));
  return b;
};
export const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 255]);
export const text = (s: string): Buffer => Buffer.from(s, 'latin1');
