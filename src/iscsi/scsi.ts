import { SpaceExhaustedError, type BlockDevice } from './block-device.ts';
import { ScsiStatus } from './constants.ts';
import { compareAndWrite, MAX_COMPARE_AND_WRITE_BLOCKS, orWrite, type PlanHelpers } from './atomic-writes.ts';
import { LuState } from './lu-state.ts';
import type { MediumAccess } from './persistent-reservations.ts';
import { reportSupportedOpcodes } from './opcodes.ts';
import { descriptorSense, fixedSense, Senses, type Sense } from './sense.ts';

/**
 * The SCSI block command set we implement (SPC-4 / SBC-3), transport-free. A command becomes a Plan: either
 * an immediate result, a device read the transport streams straight into Data-In PDUs, or an action that
 * needs the initiator's Data-Out first.
 */
export interface ScsiResult {
  status: number;
  sense?: Sense;
  /** Data-In payload (already cut to the CDB's allocation length) */
  data?: Buffer;
}

export type ScsiPlan =
  | { kind: 'result'; result: ScsiResult }
  /** read `length` bytes of the device at `offset` (a block-aligned range already checked) */
  | { kind: 'read'; offset: number; length: number }
  /** needs `dataOutLength` bytes from the initiator, then runs */
  | { kind: 'data-out'; dataOutLength: number; run(data: Buffer): Promise<ScsiResult> }
  | { kind: 'async'; run(): Promise<ScsiResult> };

export const Opcode = {
  TEST_UNIT_READY: 0x00,
  REQUEST_SENSE: 0x03,
  READ_6: 0x08,
  WRITE_6: 0x0a,
  INQUIRY: 0x12,
  MODE_SELECT_6: 0x15,
  RESERVE_6: 0x16,
  RELEASE_6: 0x17,
  MODE_SENSE_6: 0x1a,
  START_STOP_UNIT: 0x1b,
  PREVENT_ALLOW: 0x1e,
  READ_CAPACITY_10: 0x25,
  READ_10: 0x28,
  WRITE_10: 0x2a,
  WRITE_VERIFY_10: 0x2e,
  VERIFY_10: 0x2f,
  PRE_FETCH_10: 0x34,
  SYNCHRONIZE_CACHE_10: 0x35,
  WRITE_SAME_10: 0x41,
  UNMAP: 0x42,
  MODE_SENSE_10: 0x5a,
  PERSISTENT_RESERVE_IN: 0x5e,
  PERSISTENT_RESERVE_OUT: 0x5f,
  READ_16: 0x88,
  COMPARE_AND_WRITE: 0x89,
  WRITE_16: 0x8a,
  ORWRITE_16: 0x8b,
  WRITE_VERIFY_16: 0x8e,
  VERIFY_16: 0x8f,
  PRE_FETCH_16: 0x90,
  SYNCHRONIZE_CACHE_16: 0x91,
  WRITE_SAME_16: 0x93,
  SERVICE_ACTION_IN_16: 0x9e,
  REPORT_LUNS: 0xa0,
  MAINTENANCE_IN: 0xa3,
  READ_12: 0xa8,
  WRITE_12: 0xaa,
  WRITE_VERIFY_12: 0xae,
  VERIFY_12: 0xaf,
} as const;

const SAI_READ_CAPACITY_16 = 0x10;
const SAI_GET_LBA_STATUS = 0x12;
const MI_REPORT_SUPPORTED_OPCODES = 0x0c;

/** Who sends the command and the LU's shared state (reservation, range lock); see lu-state.ts. */
export interface CommandContext {
  lu: LuState;
  /** the I_T nexus: one token per session */
  nexus: string;
  /**
   * the initiator port (`<InitiatorName>,i,0x<ISID>`), which names the nexus for persistent reservations and
   * unit attentions across reconnects; `nexus` when the transport does not say
   */
  port?: string;
  /** the command's Expected Data Transfer Length (RFC 7143 §11.3.4), when the transport knows it */
  edtl?: number;
}

const good = (data?: Buffer): ScsiPlan => ({ kind: 'result', result: data ? { status: ScsiStatus.GOOD, data } : { status: ScsiStatus.GOOD } });
export const checkCondition = (sense: Sense): ScsiResult => ({ status: ScsiStatus.CHECK_CONDITION, sense });
const fail = (sense: Sense): ScsiPlan => ({ kind: 'result', result: checkCondition(sense) });
const badField = (byte: number): ScsiPlan => fail({ ...Senses.INVALID_FIELD_IN_CDB, fieldPointer: { cdb: true, byte } });
const cut = (b: Buffer, alloc: number): Buffer => (b.length > alloc ? b.subarray(0, alloc) : b);

export interface LunInfo {
  lun: number;
  device: BlockDevice;
}

export interface ScsiLimits {
  /** largest READ/WRITE in blocks (VPD 0xB0 MAXIMUM TRANSFER LENGTH) */
  maxTransferBlocks: number;
  maxUnmapBlocks: number;
  maxUnmapDescriptors: number;
  maxWriteSameBlocks: number;
}

export const DEFAULT_LIMITS: ScsiLimits = {
  maxTransferBlocks: 65536,
  maxUnmapBlocks: 1 << 20,
  maxUnmapDescriptors: 64,
  maxWriteSameBlocks: 1 << 16,
};

const VENDOR = 'BOOTGATE';
const PRODUCT = 'overlay disk';
const REVISION = '0001';

/** Plans one CDB for a LUN; `device` undefined means the LUN does not exist (SPC-4 §4.6.3 / PQ=3). */
export function planCommand(
  cdb: Buffer,
  device: BlockDevice | undefined,
  luns: number[],
  limits: ScsiLimits = DEFAULT_LIMITS,
  ctx: CommandContext = { lu: new LuState(), nexus: '' },
): ScsiPlan {
  const op = cdb[0]!;
  if (op === Opcode.INQUIRY) return inquiry(cdb, device);
  if (op === Opcode.REPORT_LUNS) return reportLuns(cdb, luns);
  if (op === Opcode.REQUEST_SENSE) return requestSense(cdb, ctx.lu.pr.takeUnitAttention(ctx.port ?? ctx.nexus));
  if (op === Opcode.MAINTENANCE_IN) {
    if ((cdb[1]! & 0x1f) !== MI_REPORT_SUPPORTED_OPCODES) return badField(1);
    const r = reportSupportedOpcodes(cdb, device);
    return 'ok' in r ? good(cut(r.ok, cdb.readUInt32BE(6))) : badField(r.badFieldByte);
  }
  if (!device) return fail(Senses.LUN_NOT_SUPPORTED);
  const d = device;
  const lu = ctx.lu;
  const port = ctx.port ?? ctx.nexus;
  // SAM-5 §5.14: a pending UNIT ATTENTION (here only the persistent-reservation ones) is this command's status
  const attention = lu.pr.takeUnitAttention(port);
  if (attention) return fail(attention);
  // SPC-2 §5.5.1: while another I_T nexus holds a RESERVE(6) reservation, everything but INQUIRY, REPORT LUNS,
  // REQUEST SENSE, REPORT SUPPORTED OPERATION CODES (above) and RELEASE (a no-op) gets RESERVATION CONFLICT.
  if (lu.reservedBy !== undefined && lu.reservedBy !== ctx.nexus && op !== Opcode.RELEASE_6) {
    return conflict();
  }
  if (op === Opcode.PERSISTENT_RESERVE_IN) return lu.pr.in(cdb);
  if (op === Opcode.PERSISTENT_RESERVE_OUT) return lu.pr.out(cdb, port);
  if (lu.pr.reserved) {
    // SPC-4 §5.13.3 with CRH=0: RESERVE(6)/RELEASE(6) conflict with a persistent reservation
    if (op === Opcode.RESERVE_6 || op === Opcode.RELEASE_6) return conflict();
    if (!lu.pr.allows(port, mediumAccess(op))) return conflict();
  }
  const helpers: PlanHelpers = { badField, fail, io: ioResult };
  switch (op) {
    case Opcode.RESERVE_6:
      // SPC-2 §7.21: only whole-LU reservations (LONGID/extent bits are obsolete and must be zero)
      if (cdb[1]! & 0x1f) return badField(1);
      lu.reservedBy = ctx.nexus;
      return good();
    case Opcode.RELEASE_6:
      // SPC-2 §7.19: releasing a reservation held by another nexus, or none, is GOOD and does nothing
      if (cdb[1]! & 0x1f) return badField(1);
      if (lu.reservedBy === ctx.nexus) lu.reservedBy = undefined;
      return good();
    case Opcode.PRE_FETCH_10:
    case Opcode.PRE_FETCH_16: {
      // SBC-3 §5.9/§5.10: GOOD = accepted without claiming the blocks now sit in a cache (CONDITION MET would);
      // our disks are files the page cache already serves, so there is nothing more to do
      const [lba, n] =
        op === Opcode.PRE_FETCH_10 ? [cdb.readUInt32BE(2), cdb.readUInt16BE(7)] : [Number(cdb.readBigUInt64BE(2)), cdb.readUInt32BE(10)];
      if (lba + n > d.blockCount || lba > d.blockCount) return fail(Senses.LBA_OUT_OF_RANGE);
      return good();
    }
    case Opcode.COMPARE_AND_WRITE:
      return compareAndWrite(cdb, d, lu, helpers, ctx.edtl);
    case Opcode.ORWRITE_16:
      return orWrite(cdb, d, lu, helpers, limits.maxTransferBlocks);
    case Opcode.WRITE_6:
    case Opcode.WRITE_10:
    case Opcode.WRITE_12:
    case Opcode.WRITE_16:
    case Opcode.WRITE_VERIFY_10:
    case Opcode.WRITE_VERIFY_12:
    case Opcode.WRITE_VERIFY_16:
      return rw(cdb, d, true, limits, lu);
    case Opcode.TEST_UNIT_READY:
    case Opcode.START_STOP_UNIT:
    case Opcode.PREVENT_ALLOW:
      return good();
    case Opcode.READ_CAPACITY_10: {
      const b = Buffer.alloc(8);
      const last = d.blockCount - 1;
      b.writeUInt32BE(last > 0xfffffffe ? 0xffffffff : last, 0); // SBC-3 §5.15: use (16) beyond 32 bits
      b.writeUInt32BE(d.blockSize, 4);
      return good(b);
    }
    case Opcode.SERVICE_ACTION_IN_16: {
      if ((cdb[1]! & 0x1f) === SAI_GET_LBA_STATUS) return getLbaStatus(cdb, d);
      if ((cdb[1]! & 0x1f) !== SAI_READ_CAPACITY_16) return badField(1);
      const b = Buffer.alloc(32);
      b.writeBigUInt64BE(BigInt(d.blockCount - 1), 0);
      b.writeUInt32BE(d.blockSize, 8);
      if (d.supportsUnmap) b[14] = 0x80; // LBPME (SBC-3 §5.16.2); LBPRZ=0: unmapped blocks read as the image
      return good(cut(b, cdb.readUInt32BE(10)));
    }
    case Opcode.READ_6:
    case Opcode.READ_10:
    case Opcode.READ_12:
    case Opcode.READ_16:
      return rw(cdb, d, false, limits, lu);
    case Opcode.VERIFY_10:
    case Opcode.VERIFY_12:
    case Opcode.VERIFY_16:
      return verify(cdb, d);
    case Opcode.SYNCHRONIZE_CACHE_10:
    case Opcode.SYNCHRONIZE_CACHE_16: {
      const [lba, n] =
        op === Opcode.SYNCHRONIZE_CACHE_10 ? [cdb.readUInt32BE(2), cdb.readUInt16BE(7)] : [Number(cdb.readBigUInt64BE(2)), cdb.readUInt32BE(10)];
      if (lba + n > d.blockCount) return fail(Senses.LBA_OUT_OF_RANGE);
      return { kind: 'async', run: async () => ioResult(() => d.flush()) };
    }
    case Opcode.MODE_SENSE_6:
    case Opcode.MODE_SENSE_10:
      return modeSense(cdb, d);
    case Opcode.WRITE_SAME_10:
    case Opcode.WRITE_SAME_16:
      return writeSame(cdb, d, limits, lu);
    case Opcode.UNMAP:
      return unmap(cdb, d, limits, lu);
    default:
      return fail(Senses.INVALID_OPCODE);
  }
}

const conflict = (): ScsiPlan => ({ kind: 'result', result: { status: ScsiStatus.RESERVATION_CONFLICT } });

/** How a command touches the medium under a persistent reservation (SPC-4 §5.13.1 table 66, SBC-3 table 13). */
function mediumAccess(op: number): MediumAccess {
  switch (op) {
    case Opcode.TEST_UNIT_READY:
    case Opcode.READ_CAPACITY_10:
    case Opcode.SERVICE_ACTION_IN_16:
      return 'none';
    case Opcode.READ_6:
    case Opcode.READ_10:
    case Opcode.READ_12:
    case Opcode.READ_16:
    case Opcode.VERIFY_10:
    case Opcode.VERIFY_12:
    case Opcode.VERIFY_16:
    case Opcode.MODE_SENSE_6:
    case Opcode.MODE_SENSE_10:
    case Opcode.PRE_FETCH_10:
    case Opcode.PRE_FETCH_16:
      return 'read';
    default:
      // writes, WRITE SAME, UNMAP, COMPARE AND WRITE, ORWRITE, SYNCHRONIZE CACHE, MODE SELECT, START STOP UNIT
      return 'write';
  }
}

async function ioResult(fn: () => Promise<void>): Promise<ScsiResult> {
  try {
    await fn();
    return { status: ScsiStatus.GOOD };
  } catch (err) {
    if (err instanceof SpaceExhaustedError) return checkCondition(Senses.SPACE_ALLOCATION_FAILED);
    return checkCondition(Senses.WRITE_ERROR);
  }
}

/** LBA and transfer length fields per CDB size (SBC-3 §5). */
function lbaAndLength(cdb: Buffer): { lba: number; blocks: number } {
  switch (cdb[0]! >> 5) {
    case 0: {
      // 6-byte CDB: 21-bit LBA, length 0 means 256 (SBC-3 §5.9)
      const n = cdb[4]!;
      return { lba: ((cdb[1]! & 0x1f) << 16) | cdb.readUInt16BE(2), blocks: n === 0 ? 256 : n };
    }
    case 1:
    case 2:
      return { lba: cdb.readUInt32BE(2), blocks: cdb.readUInt16BE(7) };
    case 5:
      return { lba: cdb.readUInt32BE(2), blocks: cdb.readUInt32BE(6) };
    default:
      return { lba: Number(cdb.readBigUInt64BE(2)), blocks: cdb.readUInt32BE(10) };
  }
}

function rw(cdb: Buffer, d: BlockDevice, write: boolean, limits: ScsiLimits, lu: LuState): ScsiPlan {
  const six = cdb[0]! >> 5 === 0;
  // RDPROTECT/WRPROTECT (bits 7..5 of byte 1): we have no protection information (SBC-3 §5.10)
  if (!six && cdb[1]! & 0xe0) return badField(1);
  const { lba, blocks } = lbaAndLength(cdb);
  if (lba + blocks > d.blockCount || lba > d.blockCount) return fail(Senses.LBA_OUT_OF_RANGE);
  if (blocks > limits.maxTransferBlocks) return badField(six ? 4 : 7);
  if (write && d.readOnly) return fail(Senses.WRITE_PROTECTED);
  if (blocks === 0) return good();
  const offset = lba * d.blockSize;
  const length = blocks * d.blockSize;
  if (!write) return { kind: 'read', offset, length };
  const fua = !six && (cdb[1]! & 0x08) !== 0;
  // the range lock: a COMPARE AND WRITE or ORWRITE on these blocks never sees this write land halfway
  return { kind: 'data-out', dataOutLength: length, run: (data) => lu.locked(lba, blocks, () => ioResult(() => d.write(offset, data, fua))) };
}

function verify(cdb: Buffer, d: BlockDevice): ScsiPlan {
  if (cdb[1]! & 0xe0) return badField(1);
  const { lba, blocks } = lbaAndLength(cdb);
  if (lba + blocks > d.blockCount) return fail(Senses.LBA_OUT_OF_RANGE);
  const bytchk = (cdb[1]! >> 1) & 3;
  if (bytchk === 0 || blocks === 0) return good();
  if (bytchk !== 1 && bytchk !== 3) return badField(1);
  const want = bytchk === 3 ? d.blockSize : blocks * d.blockSize;
  return {
    kind: 'data-out',
    dataOutLength: want,
    run: async (data) => {
      const cur = Buffer.allocUnsafe(blocks * d.blockSize);
      await d.read(lba * d.blockSize, cur.length, cur, 0);
      for (let i = 0; i < cur.length; i++) {
        const expect = bytchk === 3 ? data[i % d.blockSize] : data[i];
        if (cur[i] !== expect) return checkCondition({ ...Senses.MISCOMPARE_DURING_VERIFY, information: i });
      }
      return { status: ScsiStatus.GOOD };
    },
  };
}

function writeSame(cdb: Buffer, d: BlockDevice, limits: ScsiLimits, lu: LuState): ScsiPlan {
  const ten = cdb[0] === Opcode.WRITE_SAME_10;
  const flags = cdb[1]!;
  if (flags & 0xe0) return badField(1);
  if (flags & 0x10) return badField(1); // ANCHOR: VPD 0xB2 ANC_SUP=0
  const unmapBit = (flags & 0x08) !== 0;
  const ndob = !ten && (flags & 0x01) !== 0;
  const lba = ten ? cdb.readUInt32BE(2) : Number(cdb.readBigUInt64BE(2));
  const asked = ten ? cdb.readUInt16BE(7) : cdb.readUInt32BE(10);
  if (d.readOnly) return fail(Senses.WRITE_PROTECTED);
  if (lba + asked > d.blockCount || lba >= d.blockCount) return fail(Senses.LBA_OUT_OF_RANGE);
  // SBC-3 §5.45 with VPD 0xB0 WSNZ=0: zero blocks means "from LBA to the end of the medium", which must then
  // fit in the MAXIMUM WRITE SAME LENGTH like any other request
  const blocks = asked === 0 ? d.blockCount - lba : asked;
  if (blocks > limits.maxWriteSameBlocks) return badField(ten ? 7 : 10);
  if (unmapBit && !d.supportsUnmap) return badField(1);
  const offset = lba * d.blockSize;
  const length = blocks * d.blockSize;
  if (unmapBit && ndob) return { kind: 'async', run: () => lu.locked(lba, blocks, () => ioResult(() => d.unmap(offset, length))) };
  if (ndob) return { kind: 'async', run: () => lu.locked(lba, blocks, () => ioResult(() => d.write(offset, Buffer.alloc(length), false))) };
  return {
    kind: 'data-out',
    dataOutLength: d.blockSize,
    run: async (block) => {
      // SBC-3 §5.45: with UNMAP set the target may unmap when the block is all zeros (LBPRZ=0: we must write)
      const chunkBlocks = Math.min(blocks, 256);
      const chunk = Buffer.allocUnsafe(chunkBlocks * d.blockSize);
      for (let i = 0; i < chunkBlocks; i++) block.copy(chunk, i * d.blockSize);
      return lu.locked(lba, blocks, () =>
        ioResult(async () => {
          for (let b = 0; b < blocks; b += chunkBlocks) {
            const n = Math.min(chunkBlocks, blocks - b);
            await d.write(offset + b * d.blockSize, chunk.subarray(0, n * d.blockSize), false);
          }
        }),
      );
    },
  };
}

function unmap(cdb: Buffer, d: BlockDevice, limits: ScsiLimits, lu: LuState): ScsiPlan {
  if (cdb[1]! & 0x01) return badField(1); // ANCHOR: not supported (VPD 0xB2 ANC_SUP=0)
  if (!d.supportsUnmap) return d.readOnly ? fail(Senses.WRITE_PROTECTED) : fail(Senses.INVALID_OPCODE);
  const paramLen = cdb.readUInt16BE(7);
  if (paramLen === 0) return good(); // SBC-3 §5.28: not an error
  if (paramLen < 8) return fail(Senses.PARAMETER_LIST_LENGTH_ERROR);
  return {
    kind: 'data-out',
    dataOutLength: paramLen,
    run: async (p) => {
      if (p.length < 8) return checkCondition(Senses.PARAMETER_LIST_LENGTH_ERROR);
      const descLen = p.readUInt16BE(2);
      if (descLen + 8 > p.length) return checkCondition(Senses.PARAMETER_LIST_LENGTH_ERROR);
      const count = Math.floor(descLen / 16);
      if (count > limits.maxUnmapDescriptors) return checkCondition(Senses.INVALID_FIELD_IN_PARAMETER_LIST);
      const ranges: Array<[number, number]> = [];
      for (let i = 0; i < count; i++) {
        const at = 8 + i * 16;
        const lba = Number(p.readBigUInt64BE(at));
        const n = p.readUInt32BE(at + 8);
        if (lba + n > d.blockCount) return checkCondition(Senses.LBA_OUT_OF_RANGE);
        if (n > limits.maxUnmapBlocks) return checkCondition(Senses.INVALID_FIELD_IN_PARAMETER_LIST);
        if (n) ranges.push([lba * d.blockSize, n * d.blockSize]);
      }
      return ioResult(async () => {
        for (const [o, l] of ranges) await lu.locked(o / d.blockSize, l / d.blockSize, () => d.unmap(o, l));
      });
    },
  };
}

/**
 * GET LBA STATUS (SBC-3 §5.7), required with LBPME=1. Every LBA of an overlay disk is mapped: a block the
 * terminal never wrote (or unmapped) reads from the image's storage, one it wrote from the overlay's, so the
 * answer is one MAPPED descriptor from the starting LBA to the end of the medium.
 */
function getLbaStatus(cdb: Buffer, d: BlockDevice): ScsiPlan {
  const start = cdb.readBigUInt64BE(2);
  const alloc = cdb.readUInt32BE(10);
  if (start >= BigInt(d.blockCount)) return fail(Senses.LBA_OUT_OF_RANGE);
  const b = Buffer.alloc(24);
  b.writeUInt32BE(b.length - 4, 0); // PARAMETER DATA LENGTH
  b.writeBigUInt64BE(start, 8);
  b.writeUInt32BE(Math.min(0xffffffff, d.blockCount - Number(start)), 16);
  b[20] = 0; // PROVISIONING STATUS 0h: mapped
  return good(cut(b, alloc));
}

function requestSense(cdb: Buffer, attention: Sense | undefined): ScsiPlan {
  // No deferred errors are kept (autosense delivers every error with its command): a pending UNIT ATTENTION
  // (SPC-4 §6.39: reported and cleared by REQUEST SENSE), else NO SENSE.
  const desc = (cdb[1]! & 0x01) !== 0;
  const sense: Sense = attention ?? { key: 0, asc: 0, ascq: 0 };
  return good(cut(desc ? descriptorSense(sense) : fixedSense(sense), cdb[4]!));
}

function reportLuns(cdb: Buffer, luns: number[]): ScsiPlan {
  const select = cdb[2]!;
  if (select > 2 && !(select >= 0x10 && select <= 0x12)) return badField(2);
  const alloc = cdb.readUInt32BE(6);
  if (alloc < 16) return badField(6); // SPC-4 §6.33
  const list = select === 0x01 || select === 0x11 ? [] : luns;
  const b = Buffer.alloc(8 + 8 * list.length);
  b.writeUInt32BE(8 * list.length, 0);
  list.forEach((l, i) => (l < 256 ? (b[8 + i * 8 + 1] = l) : b.writeUInt16BE(0x4000 | l, 8 + i * 8)));
  return good(cut(b, alloc));
}

/** INQUIRY (SPC-4 §6.6): standard data and VPD pages 0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2. */
function inquiry(cdb: Buffer, d: BlockDevice | undefined): ScsiPlan {
  const evpd = (cdb[1]! & 0x01) !== 0;
  if (cdb[1]! & 0xfe) return badField(1); // CMDDT (obsolete) and reserved bits
  const page = cdb[2]!;
  const alloc = cdb.readUInt16BE(3);
  if (!evpd) {
    if (page !== 0) return badField(2);
    const b = Buffer.alloc(66);
    b[0] = d ? 0x00 : 0x7f; // PQ=3 / type 0x1F for a LUN that does not exist
    b[2] = 0x06; // SPC-4
    b[3] = 0x12; // HISUP | response data format 2
    b[4] = b.length - 5;
    b[7] = 0x02; // CMDQUE
    b.write(VENDOR.padEnd(8), 8, 'ascii');
    b.write(PRODUCT.padEnd(16), 16, 'ascii');
    b.write(REVISION.padEnd(4), 32, 'ascii');
    // version descriptors: SAM-5 0x00A0, iSCSI 0x0960, SPC-4 0x0460, SBC-3 0x04C0
    [0x00a0, 0x0960, 0x0460, 0x04c0].forEach((v, i) => b.writeUInt16BE(v, 58 + i * 2));
    return good(cut(b, alloc));
  }
  if (!d) return fail(Senses.LUN_NOT_SUPPORTED);
  const pq = 0x00;
  const vpd = (code: number, body: Buffer): ScsiPlan => {
    const b = Buffer.alloc(4 + body.length);
    b[0] = pq;
    b[1] = code;
    b.writeUInt16BE(body.length, 2);
    body.copy(b, 4);
    return good(cut(b, alloc));
  };
  switch (page) {
    case 0x00:
      return vpd(0x00, Buffer.from([0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]));
    case 0x80:
      return vpd(0x80, Buffer.from(d.serial, 'ascii'));
    case 0x83: {
      const naa = Buffer.concat([Buffer.from([0x01, 0x03, 0x00, 0x08]), d.naa.subarray(0, 8)]); // binary, LU, NAA
      const t10id = Buffer.from(`${VENDOR}${d.serial}`, 'ascii');
      const t10 = Buffer.concat([Buffer.from([0x02, 0x01, 0x00, t10id.length]), t10id]); // ASCII, LU, T10 vendor ID
      return vpd(0x83, Buffer.concat([naa, t10]));
    }
    case 0xb0: {
      const b = Buffer.alloc(0x3c);
      // WSNZ=0: WRITE SAME with zero blocks writes to the end of the medium (SBC-3 §6.6.4)
      b[1] = MAX_COMPARE_AND_WRITE_BLOCKS; // MAXIMUM COMPARE AND WRITE LENGTH (SBC-3 §6.6.4)
      b.writeUInt16BE(1, 2); // optimal transfer length granularity
      b.writeUInt32BE(DEFAULT_LIMITS.maxTransferBlocks, 4);
      b.writeUInt32BE(Math.min(2048, DEFAULT_LIMITS.maxTransferBlocks), 8);
      if (d.supportsUnmap) {
        b.writeUInt32BE(DEFAULT_LIMITS.maxUnmapBlocks, 16);
        b.writeUInt32BE(DEFAULT_LIMITS.maxUnmapDescriptors, 20);
        b.writeUInt32BE(Math.max(1, 4096 / d.blockSize), 24); // optimal unmap granularity: the overlay granule
      }
      b.writeBigUInt64BE(BigInt(DEFAULT_LIMITS.maxWriteSameBlocks), 32);
      return vpd(0xb0, b);
    }
    case 0xb1: {
      const b = Buffer.alloc(0x3c);
      b.writeUInt16BE(1, 0); // non-rotating medium
      return vpd(0xb1, b);
    }
    case 0xb2: {
      const b = Buffer.alloc(4);
      // LBPU, LBPWS, LBPWS10 only when UNMAP works (SBC-3 §6.6.4); provisioning type 2 = thin
      if (d.supportsUnmap) {
        b[1] = 0xe0;
        b[2] = 0x02;
      }
      return vpd(0xb2, b);
    }
    default:
      return badField(2);
  }
}

/** MODE SENSE(6)/(10) (SPC-4 §6.11/§6.12): caching (0x08), control (0x0A), all pages (0x3F). */
function modeSense(cdb: Buffer, d: BlockDevice): ScsiPlan {
  const six = cdb[0] === Opcode.MODE_SENSE_6;
  const dbd = (cdb[1]! & 0x08) !== 0;
  const llbaa = !six && (cdb[1]! & 0x10) !== 0;
  const pc = cdb[2]! >> 6;
  const pageCode = cdb[2]! & 0x3f;
  const subpage = cdb[3]!;
  const alloc = six ? cdb[4]! : cdb.readUInt16BE(7);
  if (pc === 3) return fail(Senses.SAVING_PARAMETERS_NOT_SUPPORTED);
  const changeable = pc === 1;
  const caching = (): Buffer => {
    const p = Buffer.alloc(20);
    p[0] = 0x08;
    p[1] = 0x12;
    if (!changeable) p[2] = 0x04; // WCE: writes are cached until SYNCHRONIZE CACHE / FUA
    return p;
  };
  const control = (): Buffer => {
    const p = Buffer.alloc(12);
    p[0] = 0x0a;
    p[1] = 0x0a;
    if (!changeable) {
      p[3] = 0x10; // QUEUE ALGORITHM MODIFIER 1: unrestricted reordering
      p.writeUInt16BE(0xffff, 8); // BUSY TIMEOUT PERIOD: unlimited
    }
    return p;
  };
  const informational = (): Buffer => {
    const p = Buffer.alloc(12);
    p[0] = 0x1c;
    p[1] = 0x0a;
    return p;
  };
  let pages: Buffer[];
  if (subpage !== 0 && !(subpage === 0xff && pageCode === 0x3f)) return badField(3);
  switch (pageCode) {
    case 0x08:
      pages = [caching()];
      break;
    case 0x0a:
      pages = [control()];
      break;
    case 0x1c:
      pages = [informational()];
      break;
    case 0x3f:
      pages = [caching(), control(), informational()];
      break;
    default:
      return badField(2);
  }
  const body = Buffer.concat(pages);
  let desc = Buffer.alloc(0);
  if (!dbd) {
    if (llbaa) {
      desc = Buffer.alloc(16);
      desc.writeBigUInt64BE(BigInt(d.blockCount), 0);
      desc.writeUInt32BE(d.blockSize, 12);
    } else {
      desc = Buffer.alloc(8);
      desc.writeUInt32BE(d.blockCount > 0xffffffff ? 0xffffffff : d.blockCount, 0);
      desc.writeUInt32BE(d.blockSize & 0xffffff, 4);
    }
  }
  // device-specific parameter: WP (0x80) on read-only LUNs, DPOFUA (0x10) since we honour FUA (SBC-3 §6.4.1)
  const dsp = (d.readOnly ? 0x80 : 0) | 0x10;
  let hdr: Buffer;
  if (six) {
    hdr = Buffer.alloc(4);
    hdr[0] = 3 + desc.length + body.length;
    hdr[2] = dsp;
    hdr[3] = desc.length;
  } else {
    hdr = Buffer.alloc(8);
    hdr.writeUInt16BE(6 + desc.length + body.length, 0);
    hdr[3] = dsp;
    if (llbaa && desc.length) hdr[4] = 0x01;
    hdr.writeUInt16BE(desc.length, 6);
  }
  return good(cut(Buffer.concat([hdr, desc, body]), alloc));
}
