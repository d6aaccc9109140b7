import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BlockDevice } from '../../src/iscsi/block-device.ts';
import { planCommand, type ScsiPlan } from '../../src/iscsi/scsi.ts';
import { MemoryDevice } from '../helpers/iscsi-memory-device.ts';

const rw = new MemoryDevice(1024, false, 'rw');
const ro = new MemoryDevice(1024, true, 'ro');
/** A 3 TiB disk: only the geometry matters here. */
const huge: BlockDevice = {
  ...rw,
  blockCount: (3 * 2 ** 40) / 512,
  blockSize: 512,
  readOnly: false,
  supportsUnmap: true,
  naa: rw.naa,
  serial: 's',
  read: rw.read,
  write: rw.write,
  flush: rw.flush,
  unmap: rw.unmap,
};

const cdb = (...b: number[]) => Buffer.from([...b, ...Array(16 - b.length).fill(0)]);
function result(p: ScsiPlan) {
  assert.equal(p.kind, 'result');
  return p.kind === 'result' ? p.result : assert.fail();
}
const senseOf = (p: ScsiPlan) => {
  const r = result(p);
  assert.equal(r.status, 2);
  return [r.sense!.key, r.sense!.asc, r.sense!.ascq];
};

describe('SCSI command set (SPC-4/SBC-3) and sense data (PROTOCOLS.md §5 I8-I11, checks 32-34)', () => {
  it('unknown opcode → 05/20; bad VPD page → 05/24; LBA out of range → 05/21', () => {
    assert.deepEqual(senseOf(planCommand(cdb(0xd9), rw, [0])), [5, 0x20, 0]);
    assert.deepEqual(senseOf(planCommand(cdb(0x12, 1, 0x99, 0, 255), rw, [0])), [5, 0x24, 0]);
    assert.deepEqual(senseOf(planCommand(cdb(0x28, 0, 0, 0, 0x03, 0xff, 0, 0, 2), rw, [0])), [5, 0x21, 0]);
    assert.deepEqual(result(planCommand(cdb(0x28, 0, 0, 0, 0, 0, 0, 0, 0), rw, [0])).status, 0, 'zero-length READ(10)');
  });
  it('missing LUN: INQUIRY PQ=3/type 0x1F, anything else 05/25', () => {
    const inq = result(planCommand(cdb(0x12, 0, 0, 0, 36), undefined, [0]));
    assert.equal(inq.data![0], 0x7f);
    assert.deepEqual(senseOf(planCommand(cdb(0x00), undefined, [0])), [5, 0x25, 0]);
  });
  it('read-only LUN: WRITE → 07/27, MODE SENSE has the WP bit', () => {
    assert.deepEqual(senseOf(planCommand(cdb(0x2a, 0, 0, 0, 0, 0, 0, 0, 1), ro, [0])), [7, 0x27, 0]);
    assert.equal(result(planCommand(cdb(0x1a, 0, 0x3f, 0, 255), ro, [0])).data![2]! & 0x80, 0x80);
    assert.equal(result(planCommand(cdb(0x5a, 0, 0x3f, 0, 0, 0, 0, 0, 255), ro, [0])).data![3]! & 0x80, 0x80);
    assert.equal(result(planCommand(cdb(0x1a, 0, 0x3f, 0, 255), rw, [0])).data![2]! & 0x80, 0);
  });
  it('check 32: a >2 TiB LUN → READ CAPACITY(10) says 0xFFFFFFFF and (16) has the real size', () => {
    assert.equal(result(planCommand(cdb(0x25), huge, [0])).data!.readUInt32BE(0), 0xffffffff);
    const rc16 = result(planCommand(cdb(0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32), huge, [0])).data!;
    assert.equal(rc16.readBigUInt64BE(0), BigInt(huge.blockCount - 1));
    assert.equal(rc16[14]! & 0x80, 0x80, 'LBPME with working UNMAP');
  });
  it('VPD 0x00 sorted, 0x83 NAA unique per disk, 0xB0 length 0x3C, 0xB2 LBPU with UNMAP', () => {
    const p00 = result(planCommand(cdb(0x12, 1, 0x00, 0, 255), rw, [0])).data!;
    const pages = [...p00.subarray(4)];
    assert.deepEqual(
      pages,
      [...pages].sort((a, b) => a - b),
    );
    const naa = (d: BlockDevice) => result(planCommand(cdb(0x12, 1, 0x83, 0, 255), d, [0])).data!.subarray(8, 16);
    assert.notDeepEqual(naa(rw), naa(ro));
    assert.equal(result(planCommand(cdb(0x12, 1, 0xb0, 0, 255), rw, [0])).data!.readUInt16BE(2), 0x3c);
    assert.equal(result(planCommand(cdb(0x12, 1, 0xb2, 0, 255), rw, [0])).data![5]! & 0x80, 0x80);
  });
  it('REPORT LUNS lists LUN 0; allocation length < 16 → 05/24', () => {
    const r = result(planCommand(cdb(0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16), rw, [0])).data!;
    assert.equal(r.readUInt32BE(0), 8);
    assert.deepEqual(senseOf(planCommand(cdb(0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 8), rw, [0])), [5, 0x24, 0]);
  });
  it('READ/WRITE 6/10/12/16 decode the same range', () => {
    const plans = [
      cdb(0x08, 0, 0, 8, 2),
      cdb(0x28, 0, 0, 0, 0, 8, 0, 0, 2),
      cdb(0xa8, 0, 0, 0, 0, 8, 0, 0, 0, 2),
      cdb(0x88, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 2),
    ].map((c) => planCommand(c, rw, [0]));
    for (const p of plans) assert.deepEqual(p, { kind: 'read', offset: 8 * 512, length: 1024 });
    const w = planCommand(cdb(0x8a, 0x08, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 2), rw, [0]);
    assert.equal(w.kind, 'data-out');
    assert.equal(w.kind === 'data-out' && w.dataOutLength, 1024);
    assert.deepEqual(senseOf(planCommand(cdb(0x28, 0x20, 0, 0, 0, 0, 0, 0, 1), rw, [0])), [5, 0x24, 0], 'RDPROTECT');
  });
  it('UNMAP, WRITE SAME, VERIFY (byte compare → 0E/1D miscompare)', async () => {
    const u = planCommand(cdb(0x42, 0, 0, 0, 0, 0, 0, 0, 24), rw, [0]);
    assert.equal(u.kind, 'data-out');
    rw.bytes.fill(9, 0, 1024);
    const params = Buffer.alloc(24);
    params.writeUInt16BE(22, 0);
    params.writeUInt16BE(16, 2);
    params.writeBigUInt64BE(0n, 8);
    params.writeUInt32BE(2, 16);
    assert.equal((await (u.kind === 'data-out' ? u.run(params) : assert.fail())).status, 0);
    assert.deepEqual(rw.bytes.subarray(0, 1024), Buffer.alloc(1024));
    const v = planCommand(cdb(0x2f, 0x02, 0, 0, 0, 0, 0, 0, 1), rw, [0]);
    const res = await (v.kind === 'data-out' ? v.run(Buffer.alloc(512, 1)) : assert.fail());
    assert.deepEqual([res.status, res.sense?.key, res.sense?.asc], [2, 0xe, 0x1d]);
    const ws = planCommand(cdb(0x41, 0, 0, 0, 0, 4, 0, 0, 3), rw, [0]);
    await (ws.kind === 'data-out' ? ws.run(Buffer.alloc(512, 0x77)) : assert.fail());
    assert.deepEqual(rw.bytes.subarray(4 * 512, 7 * 512), Buffer.alloc(1536, 0x77));
  });
});
