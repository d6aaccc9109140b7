import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Op, RejectReason, RESERVED_TAG, ScsiStatus } from '../../src/iscsi/constants.ts';
import type { DataOut } from '../../src/iscsi/pdu.ts';
import type { ScsiResult } from '../../src/iscsi/scsi.ts';
import { Senses } from '../../src/iscsi/sense.ts';
import { WriteData, type WriteParams, type WriteTask } from '../../src/iscsi/write-data.ts';

/** The Data-Out/R2T path without sockets: a recording port stands in for the connection. */

interface R2t {
  itt: number;
  ttt: number;
  r2tSn: number;
  offset: number;
  length: number;
}

interface Finished {
  task: WriteTask;
  result: ScsiResult;
  wanted?: number;
}

const PARAMS: WriteParams = { initialR2T: true, firstBurstLength: 65536, maxBurstLength: 4096, maxOutstandingR2T: 1 };

/** A WriteData with a fake connection: R2Ts decoded as sent, finished tasks, drop reasons, bytes counted. */
function harness(params: WriteParams = PARAMS) {
  const r2ts: R2t[] = [];
  const finished: Finished[] = [];
  const drops: string[] = [];
  const writes: Buffer[] = [];
  let written = 0;
  let tag = 100;
  let onFinish: (() => void) | undefined;
  const live = new Map<number, WriteTask>();
  const wd = new WriteData<WriteTask>({
    params: () => params,
    nextTag: () => tag++,
    sendR2t: (bhs) => {
      assert.equal(bhs[0], Op.R2T);
      r2ts.push({
        itt: bhs.readUInt32BE(16),
        ttt: bhs.readUInt32BE(20),
        r2tSn: bhs.readUInt32BE(36),
        offset: bhs.readUInt32BE(40),
        length: bhs.readUInt32BE(44),
      });
    },
    finish: (task, result, wanted) => {
      live.delete(task.itt);
      finished.push({ task, result, wanted });
      onFinish?.();
    },
    dropped: (reason) => drops.push(reason),
    written: (n) => (written += n),
    log: { error: () => undefined },
  });
  const run = async (data: Buffer): Promise<ScsiResult> => {
    writes.push(Buffer.from(data));
    return { status: ScsiStatus.GOOD };
  };
  return {
    wd,
    r2ts,
    finished,
    drops,
    writes,
    get written() {
      return written;
    },
    /** a live task as the connection keeps it */
    task(itt: number, edtl: number): WriteTask {
      const t: WriteTask = { itt, lunField: Buffer.alloc(8), edtl, aborted: false };
      live.set(itt, t);
      return t;
    },
    /** a Data-Out as the connection hands it on: the task its ITT names, if still live */
    dataOut(itt: number, ttt: number, dataSn: number, bufferOffset: number, data: Buffer, final = true): number | undefined {
      const d: DataOut = { opcode: Op.DATA_OUT, final, lun: Buffer.alloc(8), itt, ttt, expStatSn: 0, dataSn, bufferOffset };
      return wd.receive(live.get(itt), d, data);
    },
    /** resolves when the next task finishes (completion awaits the device) */
    nextFinish: () => new Promise<void>((resolve) => (onFinish = resolve)),
    run,
  };
}

const pattern = (n: number, seed = 1): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

describe('iSCSI write data: immediate, unsolicited and R2T-solicited Data-Out (RFC 7143 §4.2.4, §11.7, §11.8)', () => {
  it('immediate data that covers the whole write completes at once, no R2T', async () => {
    const h = harness();
    const done = h.nextFinish();
    const data = pattern(1024);
    h.wd.start(h.task(1, 1024), 1024, h.run, data);
    await done;
    assert.deepEqual(h.r2ts, []);
    assert.deepEqual(h.writes, [data]);
    assert.equal(h.finished[0]!.result.status, ScsiStatus.GOOD);
    assert.equal(h.finished[0]!.wanted, 1024);
    assert.equal(h.written, 1024);
  });

  it('InitialR2T=Yes: one R2T per MaxBurstLength, MaxOutstandingR2T at a time, R2TSN counting up', async () => {
    const h = harness();
    const data = pattern(10000);
    const t = h.task(7, data.length);
    h.wd.start(t, data.length, h.run, Buffer.alloc(0));
    assert.deepEqual(h.r2ts, [{ itt: 7, ttt: 100, r2tSn: 0, offset: 0, length: 4096 }]);
    assert.equal(h.dataOut(7, 100, 0, 0, data.subarray(0, 2048), false), undefined);
    assert.equal(h.dataOut(7, 100, 1, 2048, data.subarray(2048, 4096)), undefined);
    assert.deepEqual(h.r2ts[1], { itt: 7, ttt: 101, r2tSn: 1, offset: 4096, length: 4096 });
    h.dataOut(7, 101, 0, 4096, data.subarray(4096, 8192));
    assert.deepEqual(h.r2ts[2], { itt: 7, ttt: 102, r2tSn: 2, offset: 8192, length: 10000 - 8192 });
    const done = h.nextFinish();
    h.dataOut(7, 102, 0, 8192, data.subarray(8192));
    await done;
    assert.deepEqual(h.writes, [data]);
    assert.equal(h.r2ts.length, 3);
    assert.deepEqual(h.drops, []);
  });

  it('InitialR2T=No: immediate + unsolicited Data-Out up to FirstBurstLength, R2Ts for the rest sent at once', async () => {
    const h = harness({ initialR2T: false, firstBurstLength: 2048, maxBurstLength: 1024, maxOutstandingR2T: 4 });
    const data = pattern(4096);
    h.wd.start(h.task(2, 4096), 4096, h.run, data.subarray(0, 512));
    assert.deepEqual(
      h.r2ts.map((r) => [r.offset, r.length]),
      [
        [2048, 1024],
        [3072, 1024],
      ],
    );
    h.dataOut(2, RESERVED_TAG, 0, 512, data.subarray(512, 2048));
    h.dataOut(2, 101, 0, 3072, data.subarray(3072));
    const done = h.nextFinish();
    h.dataOut(2, 100, 0, 2048, data.subarray(2048, 3072));
    await done;
    assert.deepEqual(h.writes, [data]);
  });

  it('a wrong DataSN fails the command with DATA PHASE ERROR; later Data-Out for that R2T is dropped', async () => {
    const h = harness();
    h.wd.start(h.task(3, 8192), 8192, h.run, Buffer.alloc(0));
    assert.equal(h.dataOut(3, 100, 1, 0, pattern(512)), undefined);
    assert.deepEqual(h.drops, ['DATASN']);
    assert.deepEqual(h.finished[0]!.result, { status: ScsiStatus.CHECK_CONDITION, sense: Senses.DATA_PHASE_ERROR });
    assert.equal(h.dataOut(3, 100, 0, 0, pattern(512)), undefined);
    assert.deepEqual(h.drops, ['DATASN', 'DATA_OUT_NO_TASK']);
    assert.deepEqual(h.writes, []);
  });

  it('a wrong offset, a burst past the R2T, or F before the burst is whole fail the command', () => {
    for (const [send, reason] of [
      [(h: ReturnType<typeof harness>) => h.dataOut(4, 100, 0, 512, pattern(512)), 'DATASN'],
      [(h: ReturnType<typeof harness>) => h.dataOut(4, 100, 0, 0, pattern(4097)), 'DATASN'],
      [(h: ReturnType<typeof harness>) => h.dataOut(4, 100, 0, 0, pattern(512), true), 'SHORT_BURST'],
      [(h: ReturnType<typeof harness>) => h.dataOut(4, RESERVED_TAG, 0, 0, pattern(512)), 'UNSOLICITED_SEQUENCE'],
    ] as const) {
      const h = harness();
      h.wd.start(h.task(4, 8192), 8192, h.run, Buffer.alloc(0));
      assert.equal(send(h), undefined);
      assert.deepEqual(h.drops, [reason]);
      assert.equal(h.finished[0]!.result.status, ScsiStatus.CHECK_CONDITION);
    }
  });

  it('a TTT the live task never issued is a Reject (invalid PDU field); so is one of a task that ended otherwise', () => {
    const h = harness();
    const t = h.task(5, 8192);
    h.wd.start(t, 8192, h.run, Buffer.alloc(0));
    assert.equal(h.dataOut(5, 999, 0, 0, pattern(512)), RejectReason.INVALID_PDU_FIELD);
    // the connection ended the task (e.g. a data digest error): its R2T's TTT is still known
    assert.equal(h.wd.receive(undefined, dataOutOf(5, 100), pattern(512)), RejectReason.INVALID_PDU_FIELD);
    // an unknown TTT or unsolicited data without a task: dropped silently
    assert.equal(h.wd.receive(undefined, dataOutOf(5, 555), pattern(512)), undefined);
    assert.equal(h.wd.receive(undefined, dataOutOf(5, RESERVED_TAG), pattern(512)), undefined);
    assert.deepEqual(h.drops, ['DATA_OUT_NO_TASK', 'DATA_OUT_NO_TASK']);
  });

  it('forget (abort) and clear (connection closed): Data-Out for those R2Ts is dropped, not rejected', () => {
    const h = harness();
    const t = h.task(6, 8192);
    h.wd.start(t, 8192, h.run, Buffer.alloc(0));
    h.wd.forget(t);
    assert.equal(h.wd.receive(undefined, dataOutOf(6, 100), pattern(512)), undefined);
    const u = h.task(7, 8192);
    h.wd.start(u, 8192, h.run, Buffer.alloc(0));
    h.wd.clear();
    assert.equal(h.wd.receive(undefined, dataOutOf(7, 101), pattern(512)), undefined);
    assert.deepEqual(h.drops, ['DATA_OUT_NO_TASK', 'DATA_OUT_NO_TASK']);
  });

  it('EDTL below the CDB length: whole blocks are written; a partial block is INVALID FIELD IN COMMAND IU', async () => {
    const h = harness();
    let done = h.nextFinish();
    h.wd.start(h.task(8, 1024), 2048, h.run, pattern(1024));
    await done;
    assert.equal(h.writes[0]!.length, 1024);
    assert.equal(h.finished[0]!.wanted, 2048);
    done = h.nextFinish();
    h.wd.start(h.task(9, 1000), 2048, h.run, pattern(1000));
    await done;
    assert.deepEqual(h.finished[1]!.result, { status: ScsiStatus.CHECK_CONDITION, sense: Senses.INVALID_FIELD_IN_COMMAND_IU });
    assert.equal(h.writes.length, 1);
    // EDTL above it: only what the CDB wants goes to the device
    done = h.nextFinish();
    h.wd.start(h.task(10, 2048), 1024, h.run, pattern(2048));
    await done;
    assert.equal(h.writes[1]!.length, 1024);
  });

  it('a device error becomes WRITE ERROR', async () => {
    const h = harness();
    const done = h.nextFinish();
    h.wd.start(h.task(11, 512), 512, () => Promise.reject(new Error('disk gone')), pattern(512));
    await done;
    assert.deepEqual(h.finished[0]!.result, { status: ScsiStatus.CHECK_CONDITION, sense: Senses.WRITE_ERROR });
  });

  it('any parameters, any PDU size: an in-order initiator gets exactly its bytes written', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          initialR2T: fc.boolean(),
          firstBurstLength: fc.integer({ min: 512, max: 8192 }),
          maxBurstLength: fc.integer({ min: 512, max: 8192 }),
          maxOutstandingR2T: fc.integer({ min: 1, max: 4 }),
        }),
        fc.integer({ min: 1, max: 20000 }),
        fc.integer({ min: 0, max: 8192 }),
        fc.integer({ min: 1, max: 3000 }),
        async (params, edtl, immediateWanted, pduBytes) => {
          const h = harness(params);
          const data = pattern(edtl, edtl);
          const immediate = Math.min(immediateWanted, edtl, params.firstBurstLength);
          const done = h.nextFinish();
          h.wd.start(h.task(1, edtl), edtl, h.run, data.subarray(0, immediate));
          // unsolicited data first, then each R2T as it comes, in PDUs of pduBytes
          const unsolicitedEnd = params.initialR2T ? immediate : Math.min(params.firstBurstLength, edtl);
          for (let off = immediate, sn = 0; off < unsolicitedEnd; off += pduBytes, sn++)
            h.dataOut(1, RESERVED_TAG, sn, off, data.subarray(off, Math.min(off + pduBytes, unsolicitedEnd)));
          for (let i = 0; i < h.r2ts.length; i++) {
            const r = h.r2ts[i]!;
            const end = r.offset + r.length;
            for (let off = r.offset, sn = 0; off < end; off += pduBytes, sn++)
              h.dataOut(1, r.ttt, sn, off, data.subarray(off, Math.min(off + pduBytes, end)), off + pduBytes >= end);
          }
          await done;
          assert.deepEqual(h.drops, []);
          assert.deepEqual(h.writes, [data]);
          assert.equal(h.written, edtl);
          assert.ok(h.r2ts.every((r) => r.length <= params.maxBurstLength));
          assert.deepEqual(
            h.r2ts.map((r) => r.r2tSn),
            h.r2ts.map((_, i) => i),
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});

function dataOutOf(itt: number, ttt: number): DataOut {
  return { opcode: Op.DATA_OUT, final: true, lun: Buffer.alloc(8), itt, ttt, expStatSn: 0, dataSn: 0, bufferOffset: 0 };
}
