import type { BlockDevice } from './block-device.ts';
import { ScsiStatus } from './constants.ts';
import type { LuState } from './lu-state.ts';
import type { ScsiPlan, ScsiResult } from './scsi.ts';
import { Senses, type Sense } from './sense.ts';

/**
 * The read-modify-write commands: COMPARE AND WRITE (SBC-3 §5.2) and ORWRITE(16) (SBC-3 §5.8). Each holds the
 * LU's range lock from its read to its write, and every plain write takes the same lock, so no other write can
 * land in between.
 */
export const MAX_COMPARE_AND_WRITE_BLOCKS = 255;

/** scsi.ts's helpers: INVALID FIELD IN CDB at a byte, another CHECK CONDITION, a device write's result */
export interface PlanHelpers {
  badField(byte: number): ScsiPlan;
  fail(sense: Sense): ScsiPlan;
  io(fn: () => Promise<void>): Promise<ScsiResult>;
}

/** COMPARE AND WRITE (0x89): Data-Out = n blocks to compare, then n blocks to write (SBC-3 §5.2). */
export function compareAndWrite(cdb: Buffer, d: BlockDevice, lu: LuState, h: PlanHelpers, edtl: number | undefined): ScsiPlan {
  if (cdb[1]! & 0xe0) return h.badField(1); // WRPROTECT: no protection information
  const lba = Number(cdb.readBigUInt64BE(2));
  const blocks = cdb[13]!;
  // VPD 0xB0 MAXIMUM COMPARE AND WRITE LENGTH (SBC-3 §6.6.4): beyond it is INVALID FIELD IN CDB
  if (blocks > MAX_COMPARE_AND_WRITE_BLOCKS) return h.badField(13);
  if (lba + blocks > d.blockCount) return h.fail(Senses.LBA_OUT_OF_RANGE);
  if (d.readOnly) return h.fail(Senses.WRITE_PROTECTED);
  const len = blocks * d.blockSize;
  // The Data-Out must be exactly both halves; a byte-13 that wrapped (256 → 0) or disagrees with the EDTL
  // is a bad NUMBER OF LOGICAL BLOCKS (as LIO: INVALID FIELD IN CDB rather than a silent residual)
  if (edtl !== undefined && edtl !== 2 * len) return h.badField(13);
  if (blocks === 0) return { kind: 'result', result: { status: ScsiStatus.GOOD } }; // §5.2: not an error
  const fua = (cdb[1]! & 0x08) !== 0;
  const offset = lba * d.blockSize;
  return {
    kind: 'data-out',
    dataOutLength: 2 * len,
    run: (data) =>
      lu.locked(lba, blocks, async () => {
        const cur = Buffer.allocUnsafe(len);
        try {
          await d.read(offset, len, cur, 0);
        } catch {
          return { status: ScsiStatus.CHECK_CONDITION, sense: Senses.UNRECOVERED_READ_ERROR };
        }
        for (let i = 0; i < len; i++) {
          // MISCOMPARE / MISCOMPARE DURING VERIFY OPERATION; INFORMATION = offset of the first differing byte
          if (cur[i] !== data[i]) return { status: ScsiStatus.CHECK_CONDITION, sense: { ...Senses.MISCOMPARE_DURING_VERIFY, information: i } };
        }
        return h.io(() => d.write(offset, data.subarray(len, 2 * len), fua));
      }),
  };
}

/** ORWRITE(16) (0x8b): each written block is the OR of its current contents and the Data-Out (SBC-3 §5.8). */
export function orWrite(cdb: Buffer, d: BlockDevice, lu: LuState, h: PlanHelpers, maxBlocks: number): ScsiPlan {
  if (cdb[1]! & 0xe0) return h.badField(1); // ORPROTECT
  const lba = Number(cdb.readBigUInt64BE(2));
  const blocks = cdb.readUInt32BE(10);
  if (lba + blocks > d.blockCount || lba > d.blockCount) return h.fail(Senses.LBA_OUT_OF_RANGE);
  if (blocks > maxBlocks) return h.badField(10);
  if (d.readOnly) return h.fail(Senses.WRITE_PROTECTED);
  if (blocks === 0) return { kind: 'result', result: { status: ScsiStatus.GOOD } };
  const fua = (cdb[1]! & 0x08) !== 0;
  const len = blocks * d.blockSize;
  const offset = lba * d.blockSize;
  return {
    kind: 'data-out',
    dataOutLength: len,
    run: (data) =>
      lu.locked(lba, blocks, async () => {
        const cur = Buffer.allocUnsafe(len);
        try {
          await d.read(offset, len, cur, 0);
        } catch {
          return { status: ScsiStatus.CHECK_CONDITION, sense: Senses.UNRECOVERED_READ_ERROR };
        }
        for (let i = 0; i < len; i++) cur[i]! |= data[i]!;
        return h.io(() => d.write(offset, cur, fua));
      }),
  };
}
