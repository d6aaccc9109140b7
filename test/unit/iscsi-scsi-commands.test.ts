import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LuState } from '../../src/iscsi/lu-state.ts';
import { supportedCommands } from '../../src/iscsi/opcodes.ts';
import { DEFAULT_LIMITS, planCommand, type CommandContext, type ScsiPlan, type ScsiResult } from '../../src/iscsi/scsi.ts';
import { MemoryDevice } from '../helpers/iscsi-memory-device.ts';

/** REPORT SUPPORTED OPERATION CODES, PRE-FETCH, COMPARE AND WRITE, ORWRITE, RESERVE/RELEASE(6), the range lock. */
const cdb = (...b: number[]) => Buffer.from([...b, ...Array(16 - b.length).fill(0)]);
const plan = (c: Buffer, d: MemoryDevice, ctx?: CommandContext): ScsiPlan => planCommand(c, d, [0], DEFAULT_LIMITS, ctx);
function result(p: ScsiPlan): ScsiResult {
  assert.equal(p.kind, 'result');
  return p.kind === 'result' ? p.result : assert.fail();
}
const sense = (r: ScsiResult) => [r.status, r.sense?.key, r.sense?.asc, r.sense?.ascq];
async function runOut(p: ScsiPlan, data: Buffer): Promise<ScsiResult> {
  assert.equal(p.kind, 'data-out');
  if (p.kind !== 'data-out') assert.fail();
  assert.equal(p.dataOutLength, data.length);
  return p.run(data);
}
/** CDB helpers: 16-byte LBA at 2, 32-bit length at 10 */
const c16 = (op: number, lba: number, n: number, b1 = 0) => {
  const b = cdb(op, b1);
  b.writeBigUInt64BE(BigInt(lba), 2);
  b.writeUInt32BE(n, 10);
  return b;
};
const caw = (lba: number, n: number) => {
  const b = cdb(0x89);
  b.writeBigUInt64BE(BigInt(lba), 2);
  b[13] = n;
  return b;
};

describe('SCSI commands beyond the basics (SPC-4 §6.35, SBC-3 §5.2/§5.8/§5.9, SPC-2 §7.21)', () => {
  it('REPORT SUPPORTED OPERATION CODES: every listed opcode is implemented; all / one / one with SA / bad option', () => {
    const d = new MemoryDevice(64);
    for (const c of supportedCommands(d)) {
      const b = cdb(...c.usage);
      if (c.op === 0xa3) b[2] = 0;
      const p = planCommand(b, d, [0]);
      if (p.kind === 'result') assert.notDeepEqual(sense(p.result).slice(1), [5, 0x20, 0], `opcode ${c.op.toString(16)}`);
    }
    const all = result(plan(cdb(0xa3, 0x0c, 0x00, 0, 0, 0, 0, 0, 0xff, 0xff), d)).data!;
    assert.equal(all.readUInt32BE(0), all.length - 4);
    assert.equal((all.length - 4) % 8, 0);
    const ops = [];
    for (let i = 4; i < all.length; i += 8) ops.push(all[i]);
    assert.ok(ops.includes(0x89) && ops.includes(0x28) && ops.includes(0xa3));
    const rctd = result(plan(cdb(0xa3, 0x0c, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff), d)).data!;
    assert.equal((rctd.length - 4) % 20, 0, 'RCTD: 8 + 12-byte timeouts descriptor each');
    assert.equal(rctd[4 + 5]! & 0x02, 0x02, 'CTDP');
    const one = result(plan(cdb(0xa3, 0x0c, 0x01, 0x28, 0, 0, 0, 0, 0xff, 0xff), d)).data!;
    assert.equal(one[1]! & 0x07, 3, 'supported');
    assert.equal(one.readUInt16BE(2), 10);
    assert.equal(one[4], 0x28);
    assert.equal(one[5]! & 0x18, 0x18, 'DPO/FUA in the usage data (MODE SENSE says DPOFUA)');
    const none = result(plan(cdb(0xa3, 0x0c, 0x01, 0xd9, 0, 0, 0, 0, 0xff, 0xff), d)).data!;
    assert.equal(none[1]! & 0x07, 1, 'not supported');
    assert.deepEqual(sense(result(plan(cdb(0xa3, 0x0c, 0x01, 0x9e, 0, 0x10, 0, 0, 0xff, 0xff), d))), [2, 5, 0x24, 0], 'option 1 on an SA opcode');
    assert.equal(result(plan(cdb(0xa3, 0x0c, 0x02, 0x9e, 0, 0x10, 0, 0, 0xff, 0xff), d)).data![1]! & 7, 3);
    assert.deepEqual(sense(result(plan(cdb(0xa3, 0x0c, 0x02, 0x28, 0, 0, 0, 0, 0xff, 0xff), d))), [2, 5, 0x24, 0], 'option 2 without SA');
    assert.deepEqual(sense(result(plan(cdb(0xa3, 0x0c, 0x05), d))), [2, 5, 0x24, 0]);
    assert.equal(result(plan(cdb(0xa3, 0x0c, 0x00, 0, 0, 0, 0, 0, 0, 8), d)).data!.length, 8, 'allocation length cuts');
  });

  it('PRE-FETCH(10/16): GOOD inside the medium, LBA OUT OF RANGE beyond it', () => {
    const d = new MemoryDevice(64);
    assert.equal(result(plan(cdb(0x34, 0, 0, 0, 0, 0, 0, 0, 64), d)).status, 0);
    assert.deepEqual(sense(result(plan(cdb(0x34, 0, 0, 0, 0, 1, 0, 0, 64), d))), [2, 5, 0x21, 0]);
    assert.equal(result(plan(c16(0x90, 63, 1, 0x02), d)).status, 0);
    assert.deepEqual(sense(result(plan(c16(0x90, 64, 1), d))), [2, 5, 0x21, 0]);
  });

  it('COMPARE AND WRITE: writes on a match; MISCOMPARE with the offset; bad length; read-only', async () => {
    const d = new MemoryDevice(64);
    d.bytes.fill(0x41, 512, 1024);
    const ok = Buffer.concat([Buffer.alloc(512, 0x41), Buffer.alloc(512, 0x42)]);
    assert.equal((await runOut(plan(caw(1, 1), d), ok)).status, 0);
    assert.ok(d.bytes.subarray(512, 1024).equals(Buffer.alloc(512, 0x42)));
    const bad = Buffer.concat([Buffer.alloc(512, 0x42), Buffer.alloc(512, 0x43)]);
    bad[100] = 0;
    const r = await runOut(plan(caw(1, 1), d), bad);
    assert.deepEqual(sense(r), [2, 0x0e, 0x1d, 0]);
    assert.equal(r.sense!.information, 100);
    assert.ok(d.bytes.subarray(512, 1024).equals(Buffer.alloc(512, 0x42)), 'nothing written on a miscompare');
    assert.deepEqual(sense(result(plan(caw(64, 1), d))), [2, 5, 0x21, 0]);
    const ctx = { lu: new LuState(), nexus: 'a', edtl: 2 * 256 * 512 };
    assert.deepEqual(sense(result(plan(caw(0, 0), d, ctx))), [2, 5, 0x24, 0], '256 blocks wrapped to 0: EDTL disagrees');
    assert.equal(result(plan(caw(0, 0), d, { ...ctx, edtl: 0 })).status, 0);
    assert.deepEqual(sense(result(plan(caw(0, 1), new MemoryDevice(8, true)))), [2, 7, 0x27, 0]);
  });

  it('ORWRITE(16): ORs the data into the blocks', async () => {
    const d = new MemoryDevice(64);
    d.bytes.fill(0x0f, 0, 512);
    assert.equal((await runOut(plan(c16(0x8b, 0, 1), d), Buffer.alloc(512, 0xf0))).status, 0);
    assert.ok(d.bytes.subarray(0, 512).equals(Buffer.alloc(512, 0xff)));
    assert.equal(result(plan(c16(0x8b, 0, 0), d)).status, 0);
    assert.deepEqual(sense(result(plan(c16(0x8b, 63, 2), d))), [2, 5, 0x21, 0]);
    assert.deepEqual(sense(result(plan(c16(0x8b, 0, 1, 0x20), d))), [2, 5, 0x24, 0], 'ORPROTECT');
  });

  it('RESERVE(6)/RELEASE(6): other nexus gets RESERVATION CONFLICT except INQUIRY and RELEASE; nexus loss and reset free it', () => {
    const d = new MemoryDevice(64);
    const lu = new LuState();
    const a = { lu, nexus: 'a' };
    const b = { lu, nexus: 'b' };
    assert.equal(result(plan(cdb(0x16), d, a)).status, 0);
    assert.equal(result(plan(cdb(0x16), d, a)).status, 0, 'holder may reserve again');
    assert.equal(result(plan(cdb(0x16), d, b)).status, 0x18);
    assert.equal(result(plan(cdb(0x1a, 0, 0x3f, 0, 0xff), d, b)).status, 0x18, 'MODE SENSE conflicts');
    assert.equal(result(plan(cdb(0x12, 0, 0, 0, 0xff), d, b)).status, 0, 'INQUIRY is allowed');
    assert.equal(result(plan(cdb(0x17), d, b)).status, 0, 'RELEASE from another nexus: GOOD, no effect');
    assert.equal(lu.reservedBy, 'a');
    assert.equal(result(plan(cdb(0x1a, 0, 0x3f, 0, 0xff), d, a)).status, 0);
    lu.nexusLost('a');
    assert.equal(result(plan(cdb(0x16), d, b)).status, 0);
    lu.reset();
    assert.equal(lu.reservedBy, undefined);
  });

  it('the range lock: a write waits for an overlapping COMPARE AND WRITE, a disjoint one does not', async () => {
    const lu = new LuState();
    const order: string[] = [];
    const release = await lu.lock(10, 4);
    const overlapping = lu.locked(12, 1, async () => void order.push('overlap'));
    const disjoint = lu.locked(14, 2, async () => void order.push('disjoint'));
    await disjoint;
    order.push('release');
    release();
    await overlapping;
    assert.deepEqual(order, ['disjoint', 'release', 'overlap']);
  });
  it('WRITE SAME with zero blocks writes to the end of the medium (WSNZ=0), within MAXIMUM WRITE SAME LENGTH', async () => {
    const d = new MemoryDevice(64);
    const vpd = result(plan(cdb(0x12, 0x01, 0xb0, 0, 0xff), d)).data!;
    assert.equal(vpd[4]! & 0x01, 0, 'WSNZ=0');
    const ws16 = (lba: number, n: number) => c16(0x93, lba, n);
    assert.equal(await runOut(plan(ws16(60, 0), d), Buffer.alloc(512, 0x7e)).then((r) => r.status), 0);
    assert.ok(
      d.bytes.subarray(60 * 512).every((x) => x === 0x7e),
      'LBA 60 to the end written',
    );
    assert.ok(!d.bytes.subarray(0, 60 * 512).includes(0x7e), 'nothing before the LBA');
    assert.deepEqual(sense(result(plan(ws16(64, 0), d))).slice(1), [5, 0x21, 0], 'zero blocks at the end: LBA out of range');
    const big = new MemoryDevice(DEFAULT_LIMITS.maxWriteSameBlocks + 8);
    assert.deepEqual(sense(result(plan(ws16(0, 0), big))).slice(1), [5, 0x24, 0], 'more than the maximum length');
    assert.equal(plan(ws16(8, 0), big).kind, 'data-out', 'exactly the maximum length');
  });

  it('GET LBA STATUS: one MAPPED descriptor from the LBA to the end; past the end is LBA OUT OF RANGE', () => {
    const d = new MemoryDevice(64);
    const g = (lba: number, alloc = 24) => {
      const b = cdb(0x9e, 0x12);
      b.writeBigUInt64BE(BigInt.asUintN(64, BigInt(lba)), 2);
      b.writeUInt32BE(alloc, 10);
      return plan(b, d);
    };
    const r = result(g(10)).data!;
    assert.equal(r.readUInt32BE(0), 20);
    assert.equal(Number(r.readBigUInt64BE(8)), 10);
    assert.equal(r.readUInt32BE(16), 54);
    assert.equal(r[20]! & 0x0f, 0, 'mapped');
    assert.equal(result(g(0, 8)).data!.length, 8, 'cut to the allocation length');
    for (const lba of [64, 65, -1]) assert.deepEqual(sense(result(g(lba))).slice(1), [5, 0x21, 0], `LBA ${lba}`);
  });
});
