import { BufferReader } from '../wire/buffer-reader.ts';
import { BufferWriter } from '../wire/buffer-writer.ts';
import { DecodeError } from '../wire/decode-error.ts';
import {
  FILE_LENGTH,
  FILE_OFFSET,
  HEADER_LENGTH,
  IP_UDP_OVERHEAD,
  MAGIC_COOKIE,
  MAX_INPUT_LENGTH,
  MIN_BOOTP_LENGTH,
  MIN_MESSAGE_SIZE,
  Opt,
  OPTIONS_OFFSET,
  SNAME_LENGTH,
  SNAME_OFFSET,
} from './constants.ts';

const PROTOCOL = 'dhcp';

/**
 * One DHCP/BOOTP message. Options keep the order of their first appearance; repeated instances of an option
 * are already concatenated (RFC 3396 §7), unknown options are kept as raw bytes so they round-trip.
 * sname/file hold only their text when they were not used for options (overload, option 52).
 */
export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  /** the 16-byte chaddr field as sent; `hlen` bytes of it are the hardware address */
  chaddr: Buffer;
  sname: string;
  file: string;
  options: Map<number, Buffer>;
}

/** Reads NUL-terminated ASCII from a fixed field. */
function fieldText(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('latin1');
}

/**
 * Parses one options area into `into`, concatenating repeated options (RFC 3396 §7).
 * Stops at END; an area that ends without END is accepted (many clients omit it in sname/file).
 */
function parseOptionArea(buf: Buffer, start: number, end: number, into: Map<number, Buffer>, area: string): void {
  const r = new BufferReader(buf, PROTOCOL, start, end);
  while (r.remaining > 0) {
    const code = r.u8(`${area} option code`);
    if (code === Opt.PAD) continue;
    if (code === Opt.END) return;
    const at = r.offset - 1;
    if (r.remaining < 1) r.fail('TRUNCATED', `option ${code} in ${area} has no length`, at);
    const len = r.u8(`option ${code} length`);
    if (len > r.remaining) r.fail('TRUNCATED', `option ${code} in ${area} claims ${len} bytes, ${r.remaining} left`, at);
    const data = r.bytes(len, `option ${code}`);
    const prev = into.get(code);
    into.set(code, prev ? Buffer.concat([prev, data]) : Buffer.from(data));
  }
}

/** Decodes a BOOTP/DHCP message (RFC 2131 §2). Throws DecodeError on anything malformed. */
export function decodeDhcp(buf: Buffer): DhcpPacket {
  if (buf.length > MAX_INPUT_LENGTH) {
    throw new DecodeError(PROTOCOL, MAX_INPUT_LENGTH, 'OVERSIZED', `${buf.length} bytes exceeds ${MAX_INPUT_LENGTH}`);
  }
  const r = new BufferReader(buf, PROTOCOL);
  // 236 bytes of fixed header + 4 bytes of magic cookie must be present before any option.
  r.need(OPTIONS_OFFSET, 'fixed header and magic cookie');
  const op = r.u8();
  const htype = r.u8();
  const hlen = r.u8();
  if (hlen > 16) r.fail('BAD_HLEN', `hlen ${hlen} exceeds the 16-byte chaddr field`, 2);
  const hops = r.u8();
  const xid = r.u32();
  const secs = r.u16();
  const flags = r.u16();
  const ciaddr = r.u32();
  const yiaddr = r.u32();
  const siaddr = r.u32();
  const giaddr = r.u32();
  const chaddr = Buffer.from(r.bytes(16, 'chaddr'));
  const snameRaw = r.bytes(SNAME_LENGTH, 'sname');
  const fileRaw = r.bytes(FILE_LENGTH, 'file');
  const cookie = r.u32('magic cookie');
  if (cookie !== MAGIC_COOKIE) r.fail('BAD_COOKIE', `magic cookie 0x${cookie.toString(16)} is not 0x63825363`, HEADER_LENGTH);
  if (op !== 1 && op !== 2) r.fail('BAD_OP', `op ${op} is neither BOOTREQUEST nor BOOTREPLY`, 0);

  const options = new Map<number, Buffer>();
  parseOptionArea(buf, OPTIONS_OFFSET, buf.length, options, 'options');
  // RFC 2131 §4.1 / RFC 3396 §7: overload names sname and/or file as extra option space, read file first.
  // Only the option 52 from the options field counts: one inside file/sname cannot start another round.
  let sname = fieldText(snameRaw);
  let file = fieldText(fileRaw);
  const overload = options.get(Opt.OVERLOAD);
  if (overload) {
    if (overload.length !== 1 || overload[0]! < 1 || overload[0]! > 3) {
      throw new DecodeError(PROTOCOL, OPTIONS_OFFSET, 'BAD_OVERLOAD', `option 52 must be one byte 1..3, got ${overload.toString('hex')}`);
    }
    const mode = overload[0]!;
    if (mode & 1) {
      parseOptionArea(buf, FILE_OFFSET, FILE_OFFSET + FILE_LENGTH, options, 'file');
      file = '';
    }
    if (mode & 2) {
      parseOptionArea(buf, SNAME_OFFSET, SNAME_OFFSET + SNAME_LENGTH, options, 'sname');
      sname = '';
    }
    options.set(Opt.OVERLOAD, overload);
  }
  return { op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr, sname, file, options };
}

/** Splits one option into TLVs of at most 255 data bytes (RFC 3396 §6). */
function encodeOption(code: number, data: Buffer): Buffer {
  if (data.length <= 255) return Buffer.concat([Buffer.from([code, data.length]), data]);
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += 255) {
    const chunk = data.subarray(i, i + 255);
    parts.push(Buffer.from([code, chunk.length]), chunk);
  }
  return Buffer.concat(parts);
}

export interface EncodeOptions {
  /** the client's option 57 (bytes including IP+UDP headers); below 576 counts as 576 (RFC 2132 §9.10) */
  maxMessageSize?: number;
  /** never produce a message longer than this, whatever option 57 says (EDK2 HTTP boot: 1472) */
  hardLimit?: number;
}

export interface EncodeResult {
  bytes: Buffer;
  /** options that did not fit anywhere and were left out */
  dropped: number[];
}

/**
 * Encodes a message. Options are written in map order, except option 82, which goes last in the options field
 * (RFC 3046 §2.2) or is dropped if it does not fit. When the options field is too small for the client's size
 * limit, sname and file are used as overflow (option 52), if the message does not already use them.
 */
export function encodeDhcp(p: DhcpPacket, opts: EncodeOptions = {}): EncodeResult {
  const clientMax = Math.max(opts.maxMessageSize ?? MIN_MESSAGE_SIZE, MIN_MESSAGE_SIZE);
  const maxLength = Math.min(clientMax - IP_UDP_OVERHEAD, opts.hardLimit ?? Infinity, 65507);
  const optionsRoom = maxLength - OPTIONS_OFFSET;

  const relay = p.options.get(Opt.RELAY_AGENT_INFO);
  const tlvs: Array<[number, Buffer]> = [];
  for (const [code, data] of p.options) {
    if (code === Opt.RELAY_AGENT_INFO || code === Opt.OVERLOAD || code === Opt.PAD || code === Opt.END) continue;
    tlvs.push([code, encodeOption(code, data)]);
  }
  const relayTlv = relay ? encodeOption(Opt.RELAY_AGENT_INFO, relay) : undefined;

  const dropped: number[] = [];
  const main: Buffer[] = [];
  const fileArea: Buffer[] = [];
  const snameArea: Buffer[] = [];
  const total = tlvs.reduce((n, [, t]) => n + t.length, 0) + (relayTlv?.length ?? 0) + 1;
  let overloadMode = 0;
  if (total <= optionsRoom) {
    for (const [, t] of tlvs) main.push(t);
    if (relayTlv) main.push(relayTlv);
  } else {
    const fileFree = p.file === '';
    const snameFree = p.sname === '';
    // Room in each area, keeping 1 byte for END (and 3 for option 52 in the options field).
    let mainRoom = optionsRoom - 1 - (fileFree || snameFree ? 3 : 0);
    let fileRoom = fileFree ? FILE_LENGTH - 1 : 0;
    let snameRoom = snameFree ? SNAME_LENGTH - 1 : 0;
    // Option 82 has first claim on the options field: it may not move to sname/file (RFC 3046 §2.2).
    if (relayTlv && relayTlv.length <= mainRoom) mainRoom -= relayTlv.length;
    else if (relayTlv) dropped.push(Opt.RELAY_AGENT_INFO);
    for (const [code, t] of tlvs) {
      if (t.length <= mainRoom) {
        main.push(t);
        mainRoom -= t.length;
      } else if (t.length <= fileRoom) {
        fileArea.push(t);
        fileRoom -= t.length;
        overloadMode |= 1;
      } else if (t.length <= snameRoom) {
        snameArea.push(t);
        snameRoom -= t.length;
        overloadMode |= 2;
      } else {
        dropped.push(code);
      }
    }
    if (relayTlv && !dropped.includes(Opt.RELAY_AGENT_INFO)) main.push(relayTlv);
    if (overloadMode) main.unshift(Buffer.from([Opt.OVERLOAD, 1, overloadMode]));
  }

  const w = new BufferWriter(Math.max(MIN_BOOTP_LENGTH, 548));
  w.u8(p.op).u8(p.htype).u8(p.hlen).u8(p.hops).u32(p.xid).u16(p.secs).u16(p.flags);
  w.u32(p.ciaddr).u32(p.yiaddr).u32(p.siaddr).u32(p.giaddr);
  w.fixed(p.chaddr, 16);
  w.fixed(overloadMode & 2 ? areaBytes(snameArea, SNAME_LENGTH) : Buffer.from(p.sname, 'latin1'), SNAME_LENGTH);
  w.fixed(overloadMode & 1 ? areaBytes(fileArea, FILE_LENGTH) : Buffer.from(p.file, 'latin1'), FILE_LENGTH);
  w.u32(MAGIC_COOKIE);
  for (const t of main) w.bytes(t);
  w.u8(Opt.END);
  while (w.length < MIN_BOOTP_LENGTH) w.u8(Opt.PAD);
  return { bytes: w.finish(), dropped };
}

/** An overflow area: its options, END, then PAD to the field width (RFC 2131 §4.1). */
function areaBytes(tlvs: Buffer[], width: number): Buffer {
  const b = Buffer.alloc(width, Opt.PAD);
  let at = 0;
  for (const t of tlvs) {
    t.copy(b, at);
    at += t.length;
  }
  b[at] = Opt.END;
  return b;
}
