import { BufferReader } from '../wire/buffer-reader.ts';
import { BufferWriter } from '../wire/buffer-writer.ts';
import { Op } from './constants.ts';

const P = 'tftp';

/** RRQ/WRQ (RFC 1350 §5, options RFC 2347 §2): names lower-cased, values as sent, request order kept. */
export interface TftpRequest {
  op: typeof Op.RRQ | typeof Op.WRQ;
  filename: string;
  /** lower-cased (RFC 1350: "any combination of upper and lower case") */
  mode: string;
  /** option name (lower-cased, RFC 2347 §2: case-insensitive) → value; a repeated name keeps the first value */
  options: Map<string, string>;
}
export interface TftpData {
  op: typeof Op.DATA;
  block: number;
  data: Buffer;
}
export interface TftpAck {
  op: typeof Op.ACK;
  block: number;
}
export interface TftpError {
  op: typeof Op.ERROR;
  code: number;
  message: string;
}
export interface TftpOack {
  op: typeof Op.OACK;
  options: Map<string, string>;
}
export type TftpPacket = TftpRequest | TftpData | TftpAck | TftpError | TftpOack;

/** The longest RRQ we accept: a request must fit one datagram anyway and clients send < 512 bytes. */
export const MAX_REQUEST_BYTES = 1024;

/** A NUL-terminated netascii string (RFC 1350 §5). Text is latin1 so every byte maps to one char and back. */
function cstring(r: BufferReader, buf: Buffer, what: string): string {
  const start = r.offset;
  const nul = buf.indexOf(0, start);
  if (nul < 0 || nul >= r.end) r.fail('UNTERMINATED_STRING', `${what} has no NUL terminator`, start);
  const s = r.bytes(nul - start, what).toString('latin1');
  r.skip(1, `${what} terminator`);
  return s;
}

function decodeOptions(r: BufferReader, buf: Buffer): Map<string, string> {
  const options = new Map<string, string>();
  while (r.remaining > 0) {
    const at = r.offset;
    const name = cstring(r, buf, 'option name').toLowerCase();
    if (name.length === 0) r.fail('EMPTY_OPTION_NAME', 'option name is empty', at);
    if (r.remaining === 0) r.fail('OPTION_WITHOUT_VALUE', `option ${name} has no value`, r.offset);
    const value = cstring(r, buf, `option ${name} value`);
    if (!options.has(name)) options.set(name, value);
  }
  return options;
}

/** Decodes one datagram; throws DecodeError (protocol 'tftp') with a stable code on anything malformed. */
export function decodeTftp(buf: Buffer): TftpPacket {
  const r = new BufferReader(buf, P);
  const op = r.u16('opcode');
  switch (op) {
    case Op.RRQ:
    case Op.WRQ: {
      if (buf.length > MAX_REQUEST_BYTES) r.fail('REQUEST_TOO_LONG', `${buf.length} bytes > ${MAX_REQUEST_BYTES}`, 0);
      const filename = cstring(r, buf, 'filename');
      if (filename.length === 0) r.fail('EMPTY_FILENAME', 'filename is empty', 2);
      const mode = cstring(r, buf, 'mode').toLowerCase();
      if (mode.length === 0) r.fail('EMPTY_MODE', 'mode is empty', 3 + filename.length);
      return { op, filename, mode, options: decodeOptions(r, buf) };
    }
    case Op.DATA: {
      const block = r.u16('block');
      return { op, block, data: r.bytes(r.remaining, 'data') };
    }
    case Op.ACK: {
      const block = r.u16('block');
      // trailing bytes after an ACK are tolerated (some stacks pad to a minimum frame); they carry nothing
      return { op, block };
    }
    case Op.ERROR: {
      const code = r.u16('error code');
      // some clients omit the message terminator; accept a missing NUL at the very end
      const rest = r.bytes(r.remaining, 'message');
      const nul = rest.indexOf(0);
      return { op, code, message: (nul >= 0 ? rest.subarray(0, nul) : rest).toString('latin1') };
    }
    case Op.OACK:
      return { op, options: decodeOptions(r, buf) };
    default:
      return r.fail('BAD_OPCODE', `opcode ${op}`, 0);
  }
}

function putString(w: BufferWriter, s: string): void {
  w.bytes(Buffer.from(s, 'latin1')).u8(0);
}

export function encodeTftp(p: TftpPacket): Buffer {
  switch (p.op) {
    case Op.RRQ:
    case Op.WRQ: {
      const w = new BufferWriter(64).u16(p.op);
      putString(w, p.filename);
      putString(w, p.mode);
      for (const [k, v] of p.options) putString(putName(w, k), v);
      return w.finish();
    }
    case Op.DATA:
      return encodeData(p.block, p.data);
    case Op.ACK:
      return new BufferWriter(4).u16(Op.ACK).u16(p.block).finish();
    case Op.ERROR: {
      const w = new BufferWriter(64).u16(Op.ERROR).u16(p.code);
      putString(w, p.message);
      return w.finish();
    }
    case Op.OACK: {
      const w = new BufferWriter(64).u16(Op.OACK);
      for (const [k, v] of p.options) putString(putName(w, k), v);
      return w.finish();
    }
  }
}

function putName(w: BufferWriter, k: string): BufferWriter {
  putString(w, k);
  return w;
}

/** DATA on the hot path: one allocation, one copy. `block` is taken modulo 2^16 (RFC 1350 has no rollover rule; T4). */
export function encodeData(block: number, data: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(4 + data.length);
  b.writeUInt16BE(Op.DATA, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  b.set(data, 4);
  return b;
}

export function encodeError(code: number, message: string): Buffer {
  return encodeTftp({ op: Op.ERROR, code, message });
}
