import { DecodeError } from '../wire/decode-error.ts';
import { BHS_LENGTH, IMMEDIATE_BIT, Op } from './constants.ts';

const EMPTY = Buffer.alloc(0);

/**
 * One received iSCSI PDU: the 48-byte Basic Header Segment (RFC 7143 §11.2.1) kept as bytes, plus AHS and
 * data segment. The decoders below read the BHS when a handler needs it, so the framer never parses a header field.
 */
export interface Pdu {
  bhs: Buffer;
  ahs: Buffer;
  data: Buffer;
}

export const pduOpcode = (p: Pdu): number => p.bhs[0]! & 0x3f;
/** Initiator Task Tag, bytes 16..19 of every BHS (RFC 7143 §11.2.1): what a failed data digest refers to. */
export const pduItt = (p: Pdu): number => p.bhs.readUInt32BE(16);

/**
 * Typed views of the initiator PDUs the target reads (RFC 7143 §11). Each decoder checks that the BHS is whole
 * first (the framer only hands on 48-byte headers, so this guards direct callers such as tests and fuzzers) and
 * then reads fixed offsets inside it; byte and bit positions are the RFC's figure. Byte 0 is `. I opcode`
 * (§11.2.1), so `immediate` is its bit 6. LUN fields are 8-byte copies (they outlive the chunk), CDBs are views.
 */
function wholeBhs(b: Buffer, op: number, name: string): Buffer {
  if (b.length < BHS_LENGTH) throw new DecodeError('iscsi', b.length, 'TRUNCATED', `${name} BHS needs ${BHS_LENGTH} bytes, got ${b.length}`);
  if ((b[0]! & 0x3f) !== op) throw new DecodeError('iscsi', 0, 'BAD_OPCODE', `not a ${name} (opcode 0x${(b[0]! & 0x3f).toString(16)})`);
  return b;
}

const immediate = (b: Buffer): boolean => (b[0]! & IMMEDIATE_BIT) !== 0;
const lunField = (b: Buffer): Buffer => Buffer.from(b.subarray(8, 16));

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

export interface RequestFields {
  immediate: boolean;
  itt: number;
  cmdSn: number;
  expStatSn: number;
}

/**
 * The fields every initiator request with a CmdSN carries at the same place (RFC 7143 §11.2.1: I bit in byte 0,
 * Initiator Task Tag at 16; CmdSN at 24 and ExpStatSN at 28 in each request of §11.3–§11.18).
 */
function requestFields(b: Buffer): RequestFields {
  return { immediate: immediate(b), itt: b.readUInt32BE(16), cmdSn: b.readUInt32BE(24), expStatSn: b.readUInt32BE(28) };
}

export function decodeLoginRequest(p: Pdu): LoginRequest {
  const b = wholeBhs(p.bhs, Op.LOGIN_REQ, 'Login Request');
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

/** SCSI Command, RFC 7143 §11.3: byte 1 = F R W . . ATTR (§11.3.1); LUN 8..15, EDTL 20 (§11.3.4), CDB 32..47. */
export interface ScsiCommand extends RequestFields {
  opcode: typeof Op.SCSI_CMD;
  final: boolean;
  read: boolean;
  write: boolean;
  /** task attribute, SAM: 0 untagged, 1 simple, 2 ordered, 3 head of queue, 4 ACA */
  attribute: number;
  lun: Buffer;
  expectedDataTransferLength: number;
  /** the CDB (§11.3.5): the BHS's 16 bytes (a view), followed by an Extended CDB AHS's bytes if there is one */
  cdb: Buffer;
}

/**
 * The AHS is optional; only the first one is looked at. Extended CDB AHS (§11.2.2.3): AHSLength 0..1, AHSType 2
 * (= 1), a reserved byte 3, then AHSLength - 1 CDB bytes; a length past the AHS is cut at its end.
 */
export function decodeScsiCommand(bhs: Buffer, ahs: Buffer = EMPTY): ScsiCommand {
  const b = wholeBhs(bhs, Op.SCSI_CMD, 'SCSI Command');
  let cdb = b.subarray(32, 48);
  if (ahs.length >= 4 && ahs[2] === 1) cdb = Buffer.concat([cdb, ahs.subarray(4, 4 + ahs.readUInt16BE(0) - 1)]);
  return {
    opcode: Op.SCSI_CMD,
    ...requestFields(b),
    final: (b[1]! & 0x80) !== 0,
    read: (b[1]! & 0x40) !== 0,
    write: (b[1]! & 0x20) !== 0,
    attribute: b[1]! & 0x07,
    lun: lunField(b),
    expectedDataTransferLength: b.readUInt32BE(20),
    cdb,
  };
}

/** SCSI Data-Out, RFC 7143 §11.7: F bit (§11.7.1), LUN and TTT (§11.7.4), DataSN 36 (§11.7.5), Buffer Offset 40 (§11.7.6). */
export interface DataOut {
  opcode: typeof Op.DATA_OUT;
  final: boolean;
  lun: Buffer;
  itt: number;
  /** 0xffffffff for unsolicited data, else the TTT of the R2T it answers */
  ttt: number;
  expStatSn: number;
  dataSn: number;
  bufferOffset: number;
}

export function decodeDataOut(bhs: Buffer): DataOut {
  const b = wholeBhs(bhs, Op.DATA_OUT, 'SCSI Data-Out');
  return {
    opcode: Op.DATA_OUT,
    final: (b[1]! & 0x80) !== 0,
    lun: lunField(b),
    itt: b.readUInt32BE(16),
    ttt: b.readUInt32BE(20),
    expStatSn: b.readUInt32BE(28),
    dataSn: b.readUInt32BE(36),
    bufferOffset: b.readUInt32BE(40),
  };
}

/** NOP-Out, RFC 7143 §11.18: LUN 8..15, ITT (§11.18.1), TTT 20 (§11.18.2), CmdSN 24; the data is the ping data (§11.18.3). */
export interface NopOut extends RequestFields {
  opcode: typeof Op.NOP_OUT;
  lun: Buffer;
  ttt: number;
}

export function decodeNopOut(bhs: Buffer): NopOut {
  const b = wholeBhs(bhs, Op.NOP_OUT, 'NOP-Out');
  return {
    opcode: Op.NOP_OUT,
    ...requestFields(b),
    lun: lunField(b),
    ttt: b.readUInt32BE(20),
  };
}

/**
 * Task Management Function Request, RFC 7143 §11.5: byte 1 = 1 Function (§11.5.1); LUN 8..15 (§11.5.3),
 * Referenced Task Tag 20 (§11.5.4), CmdSN 24, ExpStatSN 28, RefCmdSN 32 (§11.5.5), ExpDataSN 36 (§11.5.6).
 */
export interface TaskManagementRequest extends RequestFields {
  opcode: typeof Op.TMF_REQ;
  function: number;
  lun: Buffer;
  referencedTaskTag: number;
  refCmdSn: number;
  expDataSn: number;
}

export function decodeTaskManagementRequest(bhs: Buffer): TaskManagementRequest {
  const b = wholeBhs(bhs, Op.TMF_REQ, 'Task Management Request');
  return {
    opcode: Op.TMF_REQ,
    ...requestFields(b),
    function: b[1]! & 0x7f,
    lun: lunField(b),
    referencedTaskTag: b.readUInt32BE(20),
    refCmdSn: b.readUInt32BE(32),
    expDataSn: b.readUInt32BE(36),
  };
}

/** Text Request, RFC 7143 §11.10: byte 1 = F C (§11.10.1/§11.10.2); LUN 8..15, ITT 16, TTT 20 (§11.10.4), CmdSN 24. */
export interface TextRequest extends RequestFields {
  opcode: typeof Op.TEXT_REQ;
  final: boolean;
  continue: boolean;
  lun: Buffer;
  ttt: number;
}

export function decodeTextRequest(bhs: Buffer): TextRequest {
  const b = wholeBhs(bhs, Op.TEXT_REQ, 'Text Request');
  return {
    opcode: Op.TEXT_REQ,
    ...requestFields(b),
    final: (b[1]! & 0x80) !== 0,
    continue: (b[1]! & 0x40) !== 0,
    lun: lunField(b),
    ttt: b.readUInt32BE(20),
  };
}

/** Logout Request, RFC 7143 §11.14: byte 1 = 1 ReasonCode (§11.14.1); ITT 16, CID 20..21, CmdSN 24, ExpStatSN 28. */
export interface LogoutRequest extends RequestFields {
  opcode: typeof Op.LOGOUT_REQ;
  /** 0 close the session, 1 close the connection, 2 remove the connection for recovery */
  reasonCode: number;
  cid: number;
}

export function decodeLogoutRequest(bhs: Buffer): LogoutRequest {
  const b = wholeBhs(bhs, Op.LOGOUT_REQ, 'Logout Request');
  return {
    opcode: Op.LOGOUT_REQ,
    ...requestFields(b),
    reasonCode: b[1]! & 0x7f,
    cid: b.readUInt16BE(20),
  };
}

/** The requests that carry a CmdSN and go through the command window (RFC 7143 §3.2.2.1), keyed by opcode. */
export type Command = ScsiCommand | NopOut | TaskManagementRequest | TextRequest | LogoutRequest;

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
