/** IPv4 addresses as unsigned 32-bit numbers: cheap to compare, index and do subnet arithmetic on. */
export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new RangeError(`not an IPv4 address: ${ip}`);
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) throw new RangeError(`not an IPv4 address: ${ip}`);
    const n = Number(p);
    if (n > 255) throw new RangeError(`not an IPv4 address: ${ip}`);
    v = v * 256 + n;
  }
  return v >>> 0;
}

export function intToIp(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

export function isIpv4(s: string): boolean {
  try {
    ipToInt(s);
    return true;
  } catch {
    return false;
  }
}

export function ipFromBytes(b: Buffer, offset = 0): string {
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

export interface Cidr {
  network: number;
  prefix: number;
  mask: number;
}

export function parseCidr(s: string): Cidr {
  const m = /^(.+)\/(\d{1,2})$/.exec(s);
  if (!m) throw new RangeError(`not a CIDR subnet: ${s}`);
  const prefix = Number(m[2]);
  if (prefix > 32) throw new RangeError(`prefix out of range: ${s}`);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const addr = ipToInt(m[1]!);
  if ((addr & mask) >>> 0 !== addr) throw new RangeError(`host bits set in subnet: ${s}`);
  return { network: addr, prefix, mask };
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return (ip & c.mask) >>> 0 === c.network;
}

export function broadcastOf(c: Cidr): number {
  return (c.network | (~c.mask >>> 0)) >>> 0;
}
