import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BHS_LENGTH, Op } from '../../src/iscsi/constants.ts';
import {
  decodeDataOut,
  decodeLoginRequest,
  decodeLogoutRequest,
  decodeNopOut,
  decodeScsiCommand,
  decodeTaskManagementRequest,
  decodeTextRequest,
} from '../../src/iscsi/pdu.ts';
import { DecodeError } from '../../src/wire/decode-error.ts';

/** The BHS decoders of the initiator PDUs (RFC 7143 §11), on annotated byte fixtures, short buffers and random headers. */

/** A 48-byte BHS from twelve 4-byte rows written as hex, one row per line of the RFC's figure. */
const bhs = (...rows: string[]): Buffer => {
  const b = Buffer.from(rows.join('').replace(/\s+/g, ''), 'hex');
  assert.equal(b.length, BHS_LENGTH, 'fixture is 12 rows of 4 bytes');
  return b;
};

const LUN0 = Buffer.alloc(8);

/** every BHS decoder, with the opcode it wants */
const decoders: [string, number, (b: Buffer) => unknown][] = [
  ['SCSI Command', Op.SCSI_CMD, (b) => decodeScsiCommand(b)],
  ['SCSI Data-Out', Op.DATA_OUT, decodeDataOut],
  ['NOP-Out', Op.NOP_OUT, decodeNopOut],
  ['Task Management Request', Op.TMF_REQ, decodeTaskManagementRequest],
  ['Text Request', Op.TEXT_REQ, decodeTextRequest],
  ['Logout Request', Op.LOGOUT_REQ, decodeLogoutRequest],
  ['Login Request', Op.LOGIN_REQ, (b) => decodeLoginRequest({ bhs: b, ahs: Buffer.alloc(0), data: Buffer.alloc(0) })],
];

const decodeErrorWith =
  (code: string, offset: number) =>
  (e: unknown): boolean =>
    e instanceof DecodeError && e.code === code && e.offset === offset;

describe('iSCSI BHS decoders (RFC 7143 §11)', () => {
  it('SCSI Command (§11.3): flags, attribute, LUN, EDTL, CmdSN, CDB', () => {
    const b = bhs(
      '01 a1 0000', // . . 0x01 | F . W . . ATTR=1 (simple) | reserved
      '00 000000', // TotalAHSLength 0, DataSegmentLength 0
      '0000000000000000', // LUN 0
      '00000010', // ITT 0x10
      '00001000', // EDTL 4096
      '00000007', // CmdSN 7
      '00000003', // ExpStatSN 3
      '2a00 00000020 00 0008 00 000000000000', // CDB: WRITE(10) LBA 0x20, 8 blocks, padded to 16 bytes
    );
    const c = decodeScsiCommand(b);
    assert.equal(c.opcode, Op.SCSI_CMD);
    assert.equal(c.immediate, false);
    assert.equal(c.final, true);
    assert.equal(c.read, false);
    assert.equal(c.write, true);
    assert.equal(c.attribute, 1);
    assert.deepEqual(c.lun, LUN0);
    assert.equal(c.itt, 0x10);
    assert.equal(c.expectedDataTransferLength, 4096);
    assert.equal(c.cmdSn, 7);
    assert.equal(c.expStatSn, 3);
    assert.equal(c.cdb.length, 16);
    assert.equal(c.cdb[0], 0x2a);
  });

  it('SCSI Command: an Extended CDB AHS (§11.2.2.3) is appended to the CDB; other AHS types are not', () => {
    const b = Buffer.alloc(BHS_LENGTH);
    b[0] = 0x40 | Op.SCSI_CMD; // immediate
    b.fill(0xcc, 32, 48);
    // AHSLength 5 (reserved byte + 4 CDB bytes), AHSType 1, reserved, CDB bytes 16..19, padding to 8 bytes
    const ahs = Buffer.from('0005 01 00 11223344 000000 00'.replace(/\s+/g, ''), 'hex');
    const c = decodeScsiCommand(b, ahs);
    assert.equal(c.immediate, true);
    assert.deepEqual(c.cdb, Buffer.concat([Buffer.alloc(16, 0xcc), Buffer.from('11223344', 'hex')]));
    const bidi = Buffer.from(ahs);
    bidi[2] = 2; // Bidirectional Read EDTL AHS (§11.2.2.4): not a CDB
    assert.equal(decodeScsiCommand(b, bidi).cdb.length, 16);
    // an AHSLength past the end of the AHS is cut at its end, never read beyond it
    const long = Buffer.from(ahs);
    long.writeUInt16BE(0xffff, 0);
    assert.equal(decodeScsiCommand(b, long).cdb.length, 16 + ahs.length - 4);
  });

  it('SCSI Data-Out (§11.7): F bit, TTT, DataSN, Buffer Offset', () => {
    const d = decodeDataOut(
      bhs(
        '05 80 0000', // . . 0x05 | F | reserved
        '00 000200', // TotalAHSLength 0, DataSegmentLength 512
        '0001000000000000', // LUN 1 (single level)
        '00000010', // ITT
        '00000042', // TTT 0x42 (answers an R2T)
        '00000000', // reserved
        '00000003', // ExpStatSN
        '00000000', // reserved
        '00000002', // DataSN 2
        '00000400', // Buffer Offset 1024
        '00000000', // reserved
      ),
    );
    assert.deepEqual(
      { ...d, lun: d.lun.toString('hex') },
      { opcode: Op.DATA_OUT, final: true, lun: '0001000000000000', itt: 0x10, ttt: 0x42, expStatSn: 3, dataSn: 2, bufferOffset: 1024 },
    );
  });

  it('NOP-Out (§11.18): ITT, TTT, CmdSN; immediate bit', () => {
    const n = decodeNopOut(
      bhs(
        '40 80 0000', // . I 0x00 | F
        '00 000000',
        '0000000000000000', // LUN
        'ffffffff', // ITT reserved: not a ping request
        '00000009', // TTT: answers our NOP-In 9
        '00000005', // CmdSN
        '00000002', // ExpStatSN
        '00000000 00000000 00000000 00000000', // reserved
      ),
    );
    assert.deepEqual(
      { ...n, lun: n.lun.toString('hex') },
      { opcode: Op.NOP_OUT, immediate: true, lun: '0000000000000000', itt: 0xffffffff, ttt: 9, cmdSn: 5, expStatSn: 2 },
    );
  });

  it('Task Management Request (§11.5): function, referenced task tag, RefCmdSN, ExpDataSN', () => {
    const t = decodeTaskManagementRequest(
      bhs(
        '42 81 0000', // . I 0x02 | 1 Function=1 (ABORT TASK)
        '00 000000',
        '0000000000000000', // LUN 0
        '00000020', // ITT
        '00000010', // Referenced Task Tag
        '00000008', // CmdSN
        '00000004', // ExpStatSN
        '00000007', // RefCmdSN
        '00000001', // ExpDataSN
        '00000000 00000000', // reserved
      ),
    );
    assert.deepEqual(
      { ...t, lun: t.lun.toString('hex') },
      {
        opcode: Op.TMF_REQ,
        immediate: true,
        function: 1,
        lun: '0000000000000000',
        itt: 0x20,
        referencedTaskTag: 0x10,
        cmdSn: 8,
        expStatSn: 4,
        refCmdSn: 7,
        expDataSn: 1,
      },
    );
  });

  it('Text Request (§11.10): F and C bits, TTT', () => {
    const t = decodeTextRequest(
      bhs(
        '04 40 0000', // . . 0x04 | . C (continues in the next PDU)
        '00 000010', // DataSegmentLength 16
        '0000000000000000',
        '00000030', // ITT
        'ffffffff', // TTT reserved: a new exchange
        '00000009', // CmdSN
        '00000005', // ExpStatSN
        '00000000 00000000 00000000 00000000', // reserved
      ),
    );
    assert.deepEqual(
      { ...t, lun: t.lun.toString('hex') },
      {
        opcode: Op.TEXT_REQ,
        immediate: false,
        final: false,
        continue: true,
        lun: '0000000000000000',
        itt: 0x30,
        ttt: 0xffffffff,
        cmdSn: 9,
        expStatSn: 5,
      },
    );
  });

  it('Logout Request (§11.14): reason code, CID', () => {
    const l = decodeLogoutRequest(
      bhs(
        '46 81 0000', // . I 0x06 | 1 ReasonCode=1 (close the connection)
        '00 000000',
        '0000000000000000', // reserved
        '00000040', // ITT
        '0001 0000', // CID 1, reserved
        '0000000a', // CmdSN
        '00000006', // ExpStatSN
        '00000000 00000000 00000000 00000000', // reserved
      ),
    );
    assert.deepEqual(l, { opcode: Op.LOGOUT_REQ, immediate: true, reasonCode: 1, itt: 0x40, cid: 1, cmdSn: 10, expStatSn: 6 });
  });

  it('LUN fields are copies: they stay valid when the received chunk is reused', () => {
    const b = Buffer.alloc(BHS_LENGTH);
    b[0] = Op.NOP_OUT;
    b[9] = 3;
    const n = decodeNopOut(b);
    b.fill(0xee);
    assert.equal(n.lun[1], 3);
  });

  for (const [name, op, decode] of decoders) {
    it(`${name}: a short BHS throws DecodeError TRUNCATED at its length; another opcode BAD_OPCODE at 0`, () => {
      for (let n = 0; n < BHS_LENGTH; n++) {
        const b = Buffer.alloc(n);
        if (n) b[0] = op;
        assert.throws(() => decode(b), decodeErrorWith('TRUNCATED', n), `${n} bytes`);
      }
      const other = Buffer.alloc(BHS_LENGTH);
      other[0] = op === Op.NOP_OUT ? Op.SCSI_CMD : Op.NOP_OUT;
      assert.throws(() => decode(other), decodeErrorWith('BAD_OPCODE', 0));
    });
  }

  it('any 48 bytes with the right opcode decode; the fields are the big-endian words at their offsets', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: BHS_LENGTH, maxLength: 64 }), fc.boolean(), (bytes, imm) => {
        const b = Buffer.from(bytes);
        b[0] = (imm ? 0x40 : 0) | Op.SCSI_CMD;
        const c = decodeScsiCommand(b);
        assert.equal(c.immediate, imm);
        assert.equal(c.expectedDataTransferLength, b.readUInt32BE(20));
        assert.deepEqual(c.cdb, b.subarray(32, 48));
        b[0] = Op.DATA_OUT;
        const d = decodeDataOut(b);
        assert.equal(d.ttt, b.readUInt32BE(20));
        assert.equal(d.dataSn, b.readUInt32BE(36));
        assert.equal(d.bufferOffset, b.readUInt32BE(40));
        b[0] = Op.TMF_REQ;
        const t = decodeTaskManagementRequest(b);
        assert.equal(t.function, b[1]! & 0x7f);
        assert.equal(t.refCmdSn, b.readUInt32BE(32));
        b[0] = Op.LOGOUT_REQ;
        assert.equal(decodeLogoutRequest(b).cid, b.readUInt16BE(20));
      }),
      { numRuns: 1000 },
    );
  });
});
