import { DecodeError } from '../wire/decode-error.ts';
import { BHS_LENGTH, FINAL_BIT, IMMEDIATE_BIT } from './constants.ts';

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
export const pduFinal = (p: Pdu): boolean => (p.bhs[1]! & FINAL_BIT) !== 0;
export const pduItt = (p: Pdu): number => p.bhs.readUInt32BE(16);
export const pduLun = (p: Pdu): Buffer => p.bhs.subarray(8, 16);
/** CmdSN of initiator requests (offset 24); ExpStatSN at 28. */
export const pduCmdSn = (p: Pdu): number => p.bhs.readUInt32BE(24);
export const pduExpStatSn = (p: Pdu): number => p.bhs.readUInt32BE(28);

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
