import { ipToInt } from '../wire/ipv4.ts';
import { Opt } from './constants.ts';
import type { DhcpPacket } from './codec.ts';

/** Typed views of option values (RFC 2132 encodings). Return undefined when absent or malformed. */
export function optU8(p: DhcpPacket, code: number): number | undefined {
  const b = p.options.get(code);
  return b && b.length === 1 ? b[0] : undefined;
}

export function optU16(p: DhcpPacket, code: number): number | undefined {
  const b = p.options.get(code);
  return b && b.length === 2 ? b.readUInt16BE(0) : undefined;
}

export function optIp(p: DhcpPacket, code: number): number | undefined {
  const b = p.options.get(code);
  return b && b.length === 4 ? b.readUInt32BE(0) : undefined;
}

export function optText(p: DhcpPacket, code: number): string | undefined {
  return p.options.get(code)?.toString('latin1');
}

export function messageTypeOf(p: DhcpPacket): number | undefined {
  return optU8(p, Opt.MESSAGE_TYPE);
}

export const enc = {
  u8: (v: number): Buffer => Buffer.from([v & 0xff]),
  u16: (v: number): Buffer => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    return b;
  },
  u32: (v: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    return b;
  },
  ip: (v: number | string): Buffer => enc.u32(typeof v === 'string' ? ipToInt(v) : v),
  ips: (vs: ReadonlyArray<number | string>): Buffer => Buffer.concat(vs.map((v) => enc.ip(v))),
  text: (s: string): Buffer => Buffer.from(s, 'latin1'),
};

/** Encapsulated sub-options (option 43, 175, 82): code/length pairs with no PAD/END rules beyond 0 and 255. */
export function parseSubOptions(b: Buffer): Map<number, Buffer> | undefined {
  const out = new Map<number, Buffer>();
  let i = 0;
  while (i < b.length) {
    const code = b[i]!;
    if (code === 0) {
      i++;
      continue;
    }
    if (code === 255) break;
    if (i + 1 >= b.length) return undefined;
    const len = b[i + 1]!;
    if (i + 2 + len > b.length) return undefined;
    out.set(code, b.subarray(i + 2, i + 2 + len));
    i += 2 + len;
  }
  return out;
}

export function encodeSubOptions(subs: ReadonlyArray<[number, Buffer]>, terminate = true): Buffer {
  const parts: Buffer[] = [];
  for (const [code, data] of subs) parts.push(Buffer.from([code, data.length]), data);
  if (terminate) parts.push(Buffer.from([255]));
  return Buffer.concat(parts);
}
