import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeTftp, encodeTftp, type TftpPacket } from '../../src/tftp/codec.ts';
import { Op } from '../../src/tftp/constants.ts';
import { normalizeTftpPath } from '../../src/tftp/path.ts';
import { DecodeError } from '../../src/wire/decode-error.ts';

const RUNS = 5000;

/** Strings the codec can carry: no NUL (the terminator), latin1 so each char is one byte. */
const cstr = (min = 0): fc.Arbitrary<string> =>
  fc.string({ unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)), minLength: min, maxLength: 40 });

const packet: fc.Arbitrary<TftpPacket> = fc
  .oneof(
    fc.record({
      op: fc.constantFrom(Op.RRQ, Op.WRQ),
      filename: cstr(1),
      mode: cstr(1).map((m) => m.toLowerCase()),
      options: fc
        .uniqueArray(
          fc.tuple(
            cstr(1).map((k) => k.toLowerCase()),
            cstr(),
          ),
          { selector: ([k]) => k, maxLength: 6 },
        )
        .map((a) => new Map(a)),
    }),
    fc.record({
      op: fc.constant(Op.DATA),
      block: fc.integer({ min: 0, max: 65535 }),
      data: fc.uint8Array({ maxLength: 1500 }).map((u) => Buffer.from(u)),
    }),
    fc.record({ op: fc.constant(Op.ACK), block: fc.integer({ min: 0, max: 65535 }) }),
    fc.record({ op: fc.constant(Op.ERROR), code: fc.integer({ min: 0, max: 65535 }), message: cstr() }),
    fc.record({
      op: fc.constant(Op.OACK),
      options: fc
        .uniqueArray(
          fc.tuple(
            cstr(1).map((k) => k.toLowerCase()),
            cstr(),
          ),
          { selector: ([k]) => k, maxLength: 6 },
        )
        .map((a) => new Map(a)),
    }),
  )
  .map((p) => ({ ...p })) as fc.Arbitrary<TftpPacket>;

describe('TFTP codec under fast-check', () => {
  it('random bytes: decode returns a packet or throws DecodeError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1400 }), (bytes) => {
        try {
          decodeTftp(Buffer.from(bytes));
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('request-shaped bytes (valid opcode, random NUL-separated fields) never throw anything but DecodeError', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 6), fc.array(fc.oneof(cstr(), fc.constant('')), { maxLength: 8 }), fc.boolean(), (op, fields, terminate) => {
        const body = fields.join('\0') + (terminate ? '\0' : '');
        const b = Buffer.concat([Buffer.from([0, op]), Buffer.from(body, 'latin1')]);
        try {
          decodeTftp(b);
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('encode → decode is the identity for every packet type', () => {
    fc.assert(
      fc.property(packet, (p) => {
        const b = encodeTftp(p);
        if ((p.op === Op.RRQ || p.op === Op.WRQ) && b.length > 1024) return; // over the request limit: refused by design
        assert.deepEqual(decodeTftp(b), p);
      }),
      { numRuns: RUNS },
    );
  });

  it('normalized paths never contain "..", control characters, backslashes or a leading "/"', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', '.', '/', '\\', '\x01', '\x7f', 'é', '..'), maxLength: 30 }), (s) => {
        const r = normalizeTftpPath(s);
        if (!r.ok) return;
        assert.ok(!r.relPath.split('/').includes('..'), r.relPath);
        assert.ok(!/[\x00-\x1f\x7f\\]/.test(r.relPath), r.relPath);
        assert.ok(!r.relPath.startsWith('/'));
      }),
      { numRuns: RUNS },
    );
  });
});
