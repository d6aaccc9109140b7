import { DecodeError } from '../wire/decode-error.ts';
import { BHS_LENGTH, FINAL_BIT, IMMEDIATE_BIT, Op } from './constants.ts';

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
 * Typed views of the initiator PDUs the target reads (RFC 7143 §11). Each decoder checks that the BHS is
 * whole first (the framer only hands on 48-byte headers, so this guards direct callers such as tests) and
 * then reads fixed offsets inside it; byte and bit positions are the RFC's figure for that PDU.
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

/** SCSI Command, RFC 7143 §11.3: flags F R W . . ATTR; LUN 8..15, EDTL 20..23, CDB 32..47 (+ extended CDB AHS). */
export interface ScsiCommand {
  read: boolean;
  write: boolean;
  /** the 8-byte LUN field as sent (echoed in R2T), a view */
  lunField: Buffer;
  lun: number;
  itt: number;
  expectedDataTransferLength: number;
  cmdSn: number;
  cdb: Buffer;
  /** immediate data */
  data: Buffer;
}

export function decodeScsiCommand(p: Pdu): ScsiCommand {
  const b = wholeBhs(p, Op.SCSI_CMD, 'SCSI Command');
  let cdb = b.subarray(32, 48);
  if (p.ahs.length >= 4 && p.ahs[2] === 1) {
    // Extended CDB AHS (§11.3.4.1): CDBs over 16 bytes; none of ours are, the opcode tells what it is
    cdb = Buffer.concat([cdb, p.ahs.subarray(4, 4 + p.ahs.readUInt16BE(0) - 1)]);
  }
  return {
    read: (b[1]! & 0x40) !== 0,
    write: (b[1]! & 0x20) !== 0,
    lunField: b.subarray(8, 16),
    lun: decodeLun(b.subarray(8, 16)),
    itt: b.readUInt32BE(16),
    expectedDataTransferLength: b.readUInt32BE(20),
    cmdSn: b.readUInt32BE(24),
    cdb,
    data: p.data,
  };
}

/** SCSI Data-Out, RFC 7143 §11.7: F bit; ITT 16, TTT 20, DataSN 36, Buffer Offset 40. */
export interface DataOut {
  final: boolean;
  itt: number;
  ttt: number;
  dataSn: number;
  bufferOffset: number;
  data: Buffer;
}

export function decodeDataOut(p: Pdu): DataOut {
  const b = wholeBhs(p, Op.DATA_OUT, 'Data-Out');
  return {
    final: (b[1]! & FINAL_BIT) !== 0,
    itt: b.readUInt32BE(16),
    ttt: b.readUInt32BE(20),
    dataSn: b.readUInt32BE(36),
    bufferOffset: b.readUInt32BE(40),
    data: p.data,
  };
}

/** Text Request, RFC 7143 §11.10: F and C bits; LUN 8..15 (echoed), ITT 16, TTT 20. */
export interface TextRequest {
  final: boolean;
  continue: boolean;
  /** a view */
  lunField: Buffer;
  itt: number;
  ttt: number;
  data: Buffer;
}

export function decodeTextRequest(p: Pdu): TextRequest {
  const b = wholeBhs(p, Op.TEXT_REQ, 'Text Request');
  return {
    final: (b[1]! & FINAL_BIT) !== 0,
    continue: (b[1]! & 0x40) !== 0,
    lunField: b.subarray(8, 16),
    itt: b.readUInt32BE(16),
    ttt: b.readUInt32BE(20),
    data: p.data,
  };
}

/** Task Management Function Request, RFC 7143 §11.5: function in byte 1; RTT 20, CmdSN 24, RefCmdSN 32. */
export interface TmfRequest {
  function: number;
  lun: number;
  itt: number;
  referencedTaskTag: number;
  cmdSn: number;
  refCmdSn: number;
}

export function decodeTmfRequest(p: Pdu): TmfRequest {
  const b = wholeBhs(p, Op.TMF_REQ, 'Task Management Request');
  return {
    function: b[1]! & 0x7f,
    lun: decodeLun(b.subarray(8, 16)),
    itt: b.readUInt32BE(16),
    referencedTaskTag: b.readUInt32BE(20),
    cmdSn: b.readUInt32BE(24),
    refCmdSn: b.readUInt32BE(32),
  };
}

/** Logout Request, RFC 7143 §11.14: reason code in byte 1 (0 session, 1 connection, 2 recovery). */
export interface LogoutRequest {
  reason: number;
  itt: number;
}

export function decodeLogoutRequest(p: Pdu): LogoutRequest {
  const b = wholeBhs(p, Op.LOGOUT_REQ, 'Logout Request');
  return { reason: b[1]! & 0x7f, itt: b.readUInt32BE(16) };
}

/** NOP-Out, RFC 7143 §11.18: LUN 8..15 (echoed in the NOP-In), ITT 16 (0xffffffff: no answer wanted). */
export interface NopOut {
  /** a view */
  lunField: Buffer;
  itt: number;
  data: Buffer;
}

export function decodeNopOut(p: Pdu): NopOut {
  const b = wholeBhs(p, Op.NOP_OUT, 'NOP-Out');
  return { lunField: b.subarray(8, 16), itt: b.readUInt32BE(16), data: p.data };
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
