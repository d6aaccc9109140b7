import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Op } from '../../src/iscsi/constants.ts';
import { PduFramer } from '../../src/iscsi/framer.ts';
import {
  decodeDataOut,
  decodeLogoutRequest,
  decodeNopOut,
  decodeScsiCommand,
  decodeTaskManagementRequest,
  decodeTextRequest,
} from '../../src/iscsi/pdu.ts';
import { planCommand } from '../../src/iscsi/scsi.ts';
import { IscsiTarget } from '../../src/iscsi/target.ts';
import { decodeText } from '../../src/iscsi/text.ts';
import { DecodeError } from '../../src/wire/decode-error.ts';
import { RawInitiator } from '../helpers/iscsi-initiator.ts';
import { MemoryDevice, singleDiskProvider } from '../helpers/iscsi-memory-device.ts';
import { iscsiTargetConfigSchema } from '../../src/iscsi/config.ts';

const onlyDecodeErrors = (fn: () => void): void => {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
  }
};

describe('iSCSI decoders under random input', () => {
  it('framer: random chunks only ever throw DecodeError', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), fc.boolean(), fc.boolean(), (chunks, hd, dd) => {
        const f = new PduFramer({ maxDataBytes: 8192, headerDigest: hd, dataDigest: dd }, () => undefined);
        onlyDecodeErrors(() => chunks.forEach((c) => f.push(Buffer.from(c))));
      }),
      { numRuns: 2000 },
    );
  });
  it('BHS decoders: random headers and AHS only ever throw DecodeError', () => {
    // byte 0 is forced to each decoder's opcode (when there is one) so the field reads are reached, not just the opcode check
    const decoders: [number, (b: Buffer) => unknown][] = [
      [Op.DATA_OUT, decodeDataOut],
      [Op.NOP_OUT, decodeNopOut],
      [Op.TMF_REQ, decodeTaskManagementRequest],
      [Op.TEXT_REQ, decodeTextRequest],
      [Op.LOGOUT_REQ, decodeLogoutRequest],
    ];
    const withOpcode = (bytes: Uint8Array, op: number): Buffer => {
      const b = Buffer.from(bytes);
      if (b.length) b[0] = (b[0]! & 0xc0) | op;
      return b;
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }), fc.uint8Array({ maxLength: 24 }), (b, ahs) => {
        onlyDecodeErrors(() => decodeScsiCommand(withOpcode(b, Op.SCSI_CMD), Buffer.from(ahs)));
        for (const [op, decode] of decoders) onlyDecodeErrors(() => decode(withOpcode(b, op)));
      }),
      { numRuns: 3000 },
    );
  });
  it('text decoder: random bytes only ever throw DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (b) => onlyDecodeErrors(() => decodeText(Buffer.from(b)))),
      { numRuns: 3000 },
    );
  });
  it('SCSI planner: any 16-byte CDB yields a plan, never an exception', () => {
    const d = new MemoryDevice(256);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (c) => {
        const p = planCommand(Buffer.from(c), d, [0]);
        assert.ok(['result', 'read', 'data-out', 'async'].includes(p.kind));
        if (p.kind === 'read') assert.ok(p.offset + p.length <= d.blockCount * 512);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('live target under random PDUs', () => {
  const IQN = 'iqn.2026-11.io.bootgate:fuzz';
  const { provider } = singleDiskProvider(IQN, new MemoryDevice(128));
  const t = new IscsiTarget({
    config: { ...iscsiTargetConfigSchema.parse({}), listen: '127.0.0.1', port: 0 },
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    provider,
  });
  before(() => t.start());
  after(() => t.stop());
  it('random BHS after a good login: the target answers or drops the connection, and keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 48, maxLength: 48 }), { minLength: 1, maxLength: 5 }), async (bhss) => {
        const c = await RawInitiator.connect(t.port);
        await c.loginNormal('iqn.2000-01.fuzz:i', IQN);
        for (const b of bhss) {
          const bhs = Buffer.from(b);
          bhs[4] = 0; // keep AHS/data short so the PDU completes
          bhs[5] = 0;
          bhs[6] = 0;
          bhs[7] = bhs[7]! & 0x3f;
          c.socket.write(Buffer.concat([bhs, Buffer.alloc((bhs[7]! + 3) & ~3)]));
        }
        await new Promise((r) => setTimeout(r, 20));
        c.close();
      }),
      { numRuns: 60 },
    );
    const ok = await RawInitiator.connect(t.port);
    assert.equal((await ok.loginNormal('iqn.2000-01.fuzz:i', IQN))?.status, 0);
    ok.scsi([0x00]);
    assert.equal((await ok.result())?.status, 0);
    ok.close();
  });
});
