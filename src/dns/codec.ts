import { formatIp, parseIpLiteral } from '../wire/ip-address.ts';
import { DecodeError } from '../wire/decode-error.ts';
import { HEADER_BYTES, RRType } from './constants.ts';
import { P, decodeName, nameToLabels } from './name.ts';
import { BufferWriter } from '../wire/buffer-writer.ts';

/** Header flags (RFC 1035 §4.1.1; AD and CD RFC 4035 §3.2; Z must be zero). */
export interface DnsFlags {
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  ad: boolean;
  cd: boolean;
}

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

/** RDATA, decoded for the types a resolver reads, kept as bytes for every other type (RFC 3597 §4: opaque). */
export type RData =
  | { kind: 'a'; address: string }
  | { kind: 'aaaa'; address: string }
  /** CNAME, NS, PTR (RFC 1035 §3.3.1, §3.3.11, §3.3.12) */
  | { kind: 'name'; target: string }
  | { kind: 'mx'; preference: number; exchange: string }
  /** one or more <character-string>s (RFC 1035 §3.3.14) */
  | { kind: 'txt'; strings: Buffer[] }
  | { kind: 'soa'; mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number }
  | { kind: 'raw'; bytes: Buffer };

export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: RData;
}

/** The OPT pseudo-RR (RFC 6891 §6.1.2, §6.1.3), lifted out of the additional section. */
export interface Edns {
  /** requestor's UDP payload size (the CLASS field) */
  udpSize: number;
  /** upper 8 bits of the 12-bit extended RCODE */
  extendedRcode: number;
  version: number;
  /** the DO bit (RFC 3225) */
  dnssecOk: boolean;
  /** the options, as sent (we interpret none) */
  options: Buffer;
}

export interface DnsMessage {
  id: number;
  flags: DnsFlags;
  /** the 4-bit RCODE of the header; with EDNS the full value is (extendedRcode << 4) | rcode */
  rcode: number;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authority: DnsRecord[];
  additional: DnsRecord[];
  edns?: Edns;
}

export interface DnsHeader {
  id: number;
  flags: DnsFlags;
  rcode: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

/** The fixed 12-byte header (RFC 1035 §4.1.1). A shorter buffer is a TRUNCATED DecodeError. */
export function decodeHeader(buf: Buffer): DnsHeader {
  if (buf.length < HEADER_BYTES) throw new DecodeError(P, 0, 'TRUNCATED', `header needs ${HEADER_BYTES} bytes, got ${buf.length}`);
  const f = buf.readUInt16BE(2);
  return {
    id: buf.readUInt16BE(0),
    flags: {
      qr: (f & 0x8000) !== 0,
      opcode: (f >> 11) & 0xf,
      aa: (f & 0x0400) !== 0,
      tc: (f & 0x0200) !== 0,
      rd: (f & 0x0100) !== 0,
      ra: (f & 0x0080) !== 0,
      ad: (f & 0x0020) !== 0,
      cd: (f & 0x0010) !== 0,
    },
    rcode: f & 0xf,
    qdcount: buf.readUInt16BE(4),
    ancount: buf.readUInt16BE(6),
    nscount: buf.readUInt16BE(8),
    arcount: buf.readUInt16BE(10),
  };
}

function need(buf: Buffer, pos: number, n: number, end: number, what: string): void {
  if (pos + n > end) throw new DecodeError(P, pos, 'TRUNCATED', `${what} needs ${n} bytes, ${Math.max(0, end - pos)} left`);
}

/** RDATA of one RR between [start, end) (RFC 1035 §3.3); names inside may point back into the message. */
function decodeRData(buf: Buffer, type: number, start: number, end: number): RData {
  const nameAt = (pos: number, what: string): { name: string; next: number } => {
    const n = decodeName(buf, pos, end);
    if (n.next > end) throw new DecodeError(P, pos, 'TRUNCATED', `${what} runs past RDLENGTH`);
    return n;
  };
  const exact = (pos: number, what: string): void => {
    if (pos !== end) throw new DecodeError(P, pos, 'RDATA_LENGTH', `${what}: ${end - pos} bytes left over in RDATA`);
  };
  const len = end - start;
  switch (type) {
    case RRType.A: // RFC 1035 §3.4.1
      if (len !== 4) throw new DecodeError(P, start, 'RDATA_LENGTH', `A needs 4 bytes, RDLENGTH ${len}`);
      return { kind: 'a', address: `${buf[start]}.${buf[start + 1]}.${buf[start + 2]}.${buf[start + 3]}` };
    case RRType.AAAA: {
      // RFC 3596 §2.2
      if (len !== 16) throw new DecodeError(P, start, 'RDATA_LENGTH', `AAAA needs 16 bytes, RDLENGTH ${len}`);
      let v = 0n;
      for (let i = 0; i < 16; i++) v = (v << 8n) | BigInt(buf[start + i]!);
      return { kind: 'aaaa', address: formatIp({ family: 6, value: v }) };
    }
    case RRType.CNAME:
    case RRType.NS:
    case RRType.PTR: {
      const n = nameAt(start, 'target');
      exact(n.next, 'name');
      return { kind: 'name', target: n.name };
    }
    case RRType.MX: {
      // RFC 1035 §3.3.9
      need(buf, start, 2, end, 'MX preference');
      const n = nameAt(start + 2, 'MX exchange');
      exact(n.next, 'MX');
      return { kind: 'mx', preference: buf.readUInt16BE(start), exchange: n.name };
    }
    case RRType.TXT: {
      if (len === 0) throw new DecodeError(P, start, 'RDATA_LENGTH', 'TXT needs at least one character-string');
      const strings: Buffer[] = [];
      let pos = start;
      while (pos < end) {
        const l = buf[pos]!;
        need(buf, pos + 1, l, end, 'TXT character-string');
        strings.push(Buffer.from(buf.subarray(pos + 1, pos + 1 + l)));
        pos += 1 + l;
      }
      return { kind: 'txt', strings };
    }
    case RRType.SOA: {
      // RFC 1035 §3.3.13
      const m = nameAt(start, 'SOA MNAME');
      const r = nameAt(m.next, 'SOA RNAME');
      need(buf, r.next, 20, end, 'SOA counters');
      exact(r.next + 20, 'SOA');
      const u = (i: number): number => buf.readUInt32BE(r.next + 4 * i);
      return { kind: 'soa', mname: m.name, rname: r.name, serial: u(0), refresh: u(1), retry: u(2), expire: u(3), minimum: u(4) };
    }
    default:
      return { kind: 'raw', bytes: Buffer.from(buf.subarray(start, end)) };
  }
}

/**
 * Decodes one DNS message (RFC 1035 §4.1). Every count is checked against the bytes that remain; the only
 * exception thrown is DecodeError. Bytes after the last counted RR are ignored (as BIND and Unbound do).
 */
export function decodeMessage(buf: Buffer): DnsMessage {
  const h = decodeHeader(buf);
  const end = buf.length;
  let pos = HEADER_BYTES;
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < h.qdcount; i++) {
    const n = decodeName(buf, pos, end);
    need(buf, n.next, 4, end, 'question type and class');
    questions.push({ name: n.name, type: buf.readUInt16BE(n.next), class: buf.readUInt16BE(n.next + 2) });
    pos = n.next + 4;
  }
  const section = (count: number): DnsRecord[] => {
    const out: DnsRecord[] = [];
    for (let i = 0; i < count; i++) {
      const at = pos;
      const n = decodeName(buf, pos, end);
      need(buf, n.next, 10, end, 'RR fixed fields'); // TYPE CLASS TTL RDLENGTH, RFC 1035 §4.1.3
      const type = buf.readUInt16BE(n.next);
      const cls = buf.readUInt16BE(n.next + 2);
      const ttl = buf.readUInt32BE(n.next + 4);
      const rdlen = buf.readUInt16BE(n.next + 8);
      const start = n.next + 10;
      need(buf, start, rdlen, end, 'RDATA');
      if (type === RRType.OPT && n.name !== '') throw new DecodeError(P, at, 'BAD_OPT', 'OPT owner name must be the root');
      const data: RData =
        type === RRType.OPT ? { kind: 'raw', bytes: Buffer.from(buf.subarray(start, start + rdlen)) } : decodeRData(buf, type, start, start + rdlen);
      out.push({ name: n.name, type, class: cls, ttl, data });
      pos = start + rdlen;
    }
    return out;
  };
  const answers = section(h.ancount);
  const authority = section(h.nscount);
  for (const rr of [...answers, ...authority])
    if (rr.type === RRType.OPT) throw new DecodeError(P, HEADER_BYTES, 'BAD_OPT', 'OPT outside the additional section');
  const additionalStart = pos;
  const rawAdditional = section(h.arcount);
  let edns: Edns | undefined;
  const additional: DnsRecord[] = [];
  for (const rr of rawAdditional) {
    if (rr.type !== RRType.OPT) {
      additional.push(rr);
      continue;
    }
    // RFC 6891 §6.1.1: more than one OPT RR is FORMERR
    if (edns) throw new DecodeError(P, additionalStart, 'BAD_OPT', 'more than one OPT RR');
    edns = {
      udpSize: rr.class,
      extendedRcode: rr.ttl >>> 24,
      version: (rr.ttl >>> 16) & 0xff,
      dnssecOk: (rr.ttl & 0x8000) !== 0,
      options: (rr.data as { bytes: Buffer }).bytes,
    };
  }
  return { id: h.id, flags: h.flags, rcode: h.rcode, questions, answers, authority, additional, ...(edns ? { edns } : {}) };
}

/**
 * Writes names with compression (RFC 1035 §4.1.4): every suffix written at an offset < 0x4000 can be pointed to.
 * Suffixes match byte for byte, not case-insensitively, so every name keeps the spelling it was given.
 */
class NameWriter {
  private readonly offsets = new Map<string, number>();
  constructor(private readonly w: BufferWriter) {}

  write(name: string, compress = true): void {
    const labels = nameToLabels(name);
    for (let i = 0; i < labels.length; i++) {
      // length-prefixed labels: unambiguous even when a label holds a dot or a NUL
      const key = labels
        .slice(i)
        .map((l) => `${l.length}:${l.toString('latin1')}`)
        .join('');
      const at = this.offsets.get(key);
      if (compress && at !== undefined) {
        this.w.u16(0xc000 | at);
        return;
      }
      if (this.w.length < 0x4000) this.offsets.set(key, this.w.length);
      this.w.u8(labels[i]!.length).bytes(labels[i]!);
    }
    this.w.u8(0);
  }
}

function flagsWord(f: DnsFlags, rcode: number): number {
  return (
    (f.qr ? 0x8000 : 0) |
    ((f.opcode & 0xf) << 11) |
    (f.aa ? 0x0400 : 0) |
    (f.tc ? 0x0200 : 0) |
    (f.rd ? 0x0100 : 0) |
    (f.ra ? 0x0080 : 0) |
    (f.ad ? 0x0020 : 0) |
    (f.cd ? 0x0010 : 0) |
    (rcode & 0xf)
  );
}

function writeAddress(w: BufferWriter, text: string, family: 4 | 6): void {
  const a = parseIpLiteral(text);
  if (!a || a.family !== family) throw new RangeError(`${text} is not an IPv${family} address`);
  const n = family === 4 ? 4 : 16;
  for (let i = n - 1; i >= 0; i--) w.u8(Number((a.value >> BigInt(8 * i)) & 0xffn));
}

function writeRecord(w: BufferWriter, names: NameWriter, rr: DnsRecord): void {
  names.write(rr.name);
  w.u16(rr.type).u16(rr.class).u32(rr.ttl);
  const lenAt = w.length;
  w.u16(0);
  const d = rr.data;
  switch (d.kind) {
    case 'a':
      writeAddress(w, d.address, 4);
      break;
    case 'aaaa':
      writeAddress(w, d.address, 6);
      break;
    case 'name':
      names.write(d.target);
      break;
    case 'mx':
      w.u16(d.preference);
      names.write(d.exchange);
      break;
    case 'txt':
      for (const s of d.strings) {
        if (s.length > 255) throw new RangeError('TXT character-string longer than 255 bytes');
        w.u8(s.length).bytes(s);
      }
      break;
    case 'soa':
      names.write(d.mname);
      names.write(d.rname);
      w.u32(d.serial).u32(d.refresh).u32(d.retry).u32(d.expire).u32(d.minimum);
      break;
    case 'raw':
      w.bytes(d.bytes);
      break;
  }
  const rdlen = w.length - lenAt - 2;
  if (rdlen > 0xffff) throw new RangeError('RDATA longer than 65535 bytes');
  w.patchU16(lenAt, rdlen);
}

/** Encodes a message; names compressed. Throws RangeError for values that cannot be put on the wire. */
export function encodeMessage(m: DnsMessage): Buffer {
  const w = new BufferWriter(512);
  const names = new NameWriter(w);
  const extended = m.rcode >> 4;
  w.u16(m.id).u16(flagsWord(m.flags, m.rcode));
  w.u16(m.questions.length)
    .u16(m.answers.length)
    .u16(m.authority.length)
    .u16(m.additional.length + (m.edns ? 1 : 0));
  for (const q of m.questions) {
    names.write(q.name);
    w.u16(q.type).u16(q.class);
  }
  for (const rr of m.answers) writeRecord(w, names, rr);
  for (const rr of m.authority) writeRecord(w, names, rr);
  for (const rr of m.additional) writeRecord(w, names, rr);
  if (m.edns) {
    // RFC 6891 §6.1.2: root owner, CLASS = UDP payload size, TTL = extended RCODE | version | DO | Z
    const e = m.edns;
    w.u8(0).u16(RRType.OPT).u16(e.udpSize);
    w.u8(extended || e.extendedRcode)
      .u8(e.version)
      .u16(e.dnssecOk ? 0x8000 : 0);
    w.u16(e.options.length).bytes(e.options);
  }
  return w.finish();
}
