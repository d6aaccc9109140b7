/**
 * A tiny reader of classic pcap files (what `tcpdump -w` writes), enough for the Wake-on-LAN capture test: the
 * records of an Ethernet capture, each decoded as Ethernet II / IPv4 / UDP when it is one.
 *
 * File layout (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html):
 *   global header, 24 bytes: magic (4) · version major, minor (2 + 2) · reserved (4 + 4) · snaplen (4) · link type (4)
 *     magic 0xA1B2C3D4 = microsecond timestamps, 0xA1B23C4D = nanosecond; read in either byte order
 *   per record, 16 bytes: seconds (4) · micro- or nanoseconds (4) · captured length (4) · original length (4), then the
 *   captured bytes
 * Every length is checked against what is left in the file before it is used.
 */

export interface PcapRecord {
  /** capture time in microseconds since the epoch (ordering only: tests make no timing assertions) */
  atUs: number;
  data: Buffer;
}

export interface UdpFrame {
  atUs: number;
  ethDst: string;
  ethSrc: string;
  ipSrc: string;
  ipDst: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;
const LINKTYPE_ETHERNET = 1;

export function readPcap(file: Buffer): { linkType: number; records: PcapRecord[] } {
  if (file.length < GLOBAL_HEADER) throw new Error(`pcap: ${file.length} bytes, shorter than the 24-byte global header`);
  const magicBe = file.readUInt32BE(0);
  const magicLe = file.readUInt32LE(0);
  const known = [0xa1b2c3d4, 0xa1b23c4d];
  const le = known.includes(magicLe);
  if (!le && !known.includes(magicBe)) throw new Error(`pcap: bad magic 0x${magicBe.toString(16)}`);
  const u32 = (off: number): number => (le ? file.readUInt32LE(off) : file.readUInt32BE(off));
  const nanos = (le ? magicLe : magicBe) === 0xa1b23c4d;
  const linkType = u32(20) & 0x0fffffff; // the top bits may carry FCS information
  const records: PcapRecord[] = [];
  let off = GLOBAL_HEADER;
  while (off < file.length) {
    if (file.length - off < RECORD_HEADER) throw new Error(`pcap: ${file.length - off} bytes at ${off}, short of a 16-byte record header`);
    const sec = u32(off);
    const frac = u32(off + 4);
    const incl = u32(off + 8);
    off += RECORD_HEADER;
    if (incl > file.length - off) throw new Error(`pcap: record at ${off} says ${incl} bytes, ${file.length - off} left`);
    records.push({ atUs: sec * 1e6 + (nanos ? Math.floor(frac / 1000) : frac), data: file.subarray(off, off + incl) });
    off += incl;
  }
  return { linkType, records };
}

const macText = (b: Buffer): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');

/** Ethernet II (14 bytes) → IPv4 (IHL × 4, ≥ 20) → UDP (8): the frame, or undefined if it is not IPv4/UDP or is cut short. */
export function udpFrame(r: PcapRecord, linkType = LINKTYPE_ETHERNET): UdpFrame | undefined {
  if (linkType !== LINKTYPE_ETHERNET) throw new Error(`pcap: link type ${linkType}, not Ethernet`);
  const d = r.data;
  if (d.length < 14 || d.readUInt16BE(12) !== 0x0800) return undefined;
  const ip = d.subarray(14);
  if (ip.length < 20 || ip[0]! >> 4 !== 4) return undefined;
  const ihl = (ip[0]! & 0x0f) * 4;
  const total = ip.readUInt16BE(2);
  if (ihl < 20 || total < ihl + 8 || total > ip.length || ip[9] !== 17) return undefined;
  const udp = ip.subarray(ihl, total);
  const udpLen = udp.readUInt16BE(4);
  if (udpLen < 8 || udpLen > udp.length) return undefined;
  return {
    atUs: r.atUs,
    ethDst: macText(d.subarray(0, 6)),
    ethSrc: macText(d.subarray(6, 12)),
    ipSrc: [...ip.subarray(12, 16)].join('.'),
    ipDst: [...ip.subarray(16, 20)].join('.'),
    srcPort: udp.readUInt16BE(0),
    dstPort: udp.readUInt16BE(2),
    payload: Buffer.from(udp.subarray(8, udpLen)),
  };
}
