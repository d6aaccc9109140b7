import { DecodeError } from '../wire/decode-error.ts';
import { BHS_LENGTH, IMMEDIATE_BIT, Op } from './constants.ts';

/**
 * One received iSCSI PDU: the 48-byte Basic Header Segment (RFC 7143 §11.2.1) kept as bytes, plus AHS and
 * data segment. Field accessors read the BHS lazily so the framer never copies a header field it does not need.
 */
export interface Pdu {
  bhs: Buffer;
  ahs: Buffer;
  data: Buffer;
}

export const pduOpcode = (p: Pdu): number => p.bhs[0]! & 0x3f;
export const pduImmediate = (p: Pdu): boolean => (p.bhs[0]! & IMMEDIATE_BIT) !== 0;
export const pduItt = (p: Pdu): number => p.bhs.readUInt32BE(16);
/** CmdSN of initiator requests (offset 24); ExpStatSN at 28. */
export const pduCmdSn = (p: Pdu): number => p.bhs.readUInt32BE(24);

/**
 * Typed views of the initiator PDUs the target reads (RFC 7143 §11); so far the Login Request. Each decoder
 * checks that the BHS is whole first (the framer only hands on 48-byte headers, so this guards direct callers
 * such as tests) and then reads fixed offsets inside it; byte and bit positions are the RFC's figure.
 */
function wholeBhs(p: Pdu, op: number, name: string): Buffer {
  const b = p.bhs;
  if (b.length < BHS_LENGTH) throw new DecodeError('iscsi', b.length, 'TRUNCATED', `${name} BHS needs ${BHS_LENGTH} bytes, got ${b.length}`);
  if ((b[0]! & 0x3f) !== op) throw new DecodeError('iscsi', 0, 'BAD_OPCODE', `not a ${name} (opcode 0x${(b[0]! & 0x3f).toString(16)})`);
  return b;
}

/** Login Request, RFC 7143 §11.12: byte 1 = T C . . CSG CSG NSG NSG; ISID 8..13, TSIH 14..15. */
export interface LoginRequest {
  transit: boolean;
  continue: boolean;
  csg: number;
  nsg: number;
  versionMax: number;
  versionMin: number;
  /** 6 bytes, a copy */
  isid: Buffer;
  tsih: number;
  itt: number;
  cid: number;
  cmdSn: number;
  expStatSn: number;
  /** the text segment of this PDU (key=value pairs, possibly cut by the C bit) */
  data: Buffer;
}

export function decodeLoginRequest(p: Pdu): LoginRequest {
  const b = wholeBhs(p, Op.LOGIN_REQ, 'Login Request');
  return {
    transit: (b[1]! & 0x80) !== 0,
    continue: (b[1]! & 0x40) !== 0,
    csg: (b[1]! >> 2) & 3,
    nsg: b[1]! & 3,
    versionMax: b[2]!,
    versionMin: b[3]!,
    isid: Buffer.from(b.subarray(8, 14)),
    tsih: b.readUInt16BE(14),
    itt: b.readUInt32BE(16),
    cid: b.readUInt16BE(20),
    cmdSn: b.readUInt32BE(24),
    expStatSn: b.readUInt32BE(28),
    data: p.data,
  };
}

/** TotalAHSLength (byte 4, in 4-byte words) and DataSegmentLength (bytes 5..7), RFC 7143 §11.2.1.4/5. */
export function bhsLengths(bhs: Buffer): { ahsBytes: number; dataBytes: number } {
  if (bhs.length < BHS_LENGTH) throw new DecodeError('iscsi', bhs.length, 'TRUNCATED', `BHS needs ${BHS_LENGTH} bytes`);
  return { ahsBytes: bhs[4]! * 4, dataBytes: (bhs[5]! << 16) | (bhs[6]! << 8) | bhs[7]! };
}

export const padLength = (n: number): number => (4 - (n & 3)) & 3;

/**
 * LUN field (SAM-5 §4.7): only single-level peripheral (0x00) and flat (0x40) addressing of the first level;
 * anything else maps to an impossible LUN so that commands to it get "LUN not supported".
 */
export function decodeLun(lun: Buffer): number {
  const method = lun[0]! >> 6;
  const id = ((lun[0]! & 0x3f) << 8) | lun[1]!;
  for (let i = 2; i < 8; i++) if (lun[i] !== 0) return -1;
  if (method === 0 || method === 1) return id;
  return -1;
}

export function encodeLun(lun: number): Buffer {
  const b = Buffer.alloc(8);
  if (lun < 256) b[1] = lun;
  else b.writeUInt16BE(0x4000 | lun, 0);
  return b;
}

/** A new target BHS with opcode and flags set; the caller fills the rest. */
export function newBhs(opcode: number, flags: number): Buffer {
  const b = Buffer.alloc(BHS_LENGTH);
  b[0] = opcode;
  b[1] = flags;
  return b;
}

export function setDataLength(bhs: Buffer, n: number): void {
  bhs[5] = (n >>> 16) & 0xff;
  bhs[6] = (n >>> 8) & 0xff;
  bhs[7] = n & 0xff;
}

/** Serial number arithmetic, RFC 1982 with SERIAL_BITS = 32 (RFC 7143 §4.2.2.1). */
export function snLt(a: number, b: number): boolean {
  return a !== b && ((a < b && b - a < 0x80000000) || (a > b && a - b > 0x80000000));
}
export const snLe = (a: number, b: number): boolean => a === b || snLt(a, b);
export const snAdd = (a: number, n: number): number => (a + n) >>> 0;
