import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChapAuthenticator, chapResponse } from '../../src/iscsi/chap.ts';
import { crc32c, digestBytes } from '../../src/iscsi/crc32c.ts';
import { framePdu, PduFramer, type FramedPdu } from '../../src/iscsi/framer.ts';
import { DEFAULT_PREFERENCES, negotiateKey, outcomeValue, RFC_DEFAULTS } from '../../src/iscsi/negotiation.ts';
import { decodeLun, encodeLun, setDataLength, snLt } from '../../src/iscsi/pdu.ts';
import { decodeText, encodeText, parseBinary, parseNumber } from '../../src/iscsi/text.ts';
import { DecodeError } from '../../src/wire/decode-error.ts';

/** A PDU with AHS, odd data length (padding) and recognisable bytes. */
function samplePdu(dataLen: number, ahsWords = 0, opcode = 0x01): { bhs: Buffer; ahs: Buffer; data: Buffer } {
  const bhs = Buffer.alloc(48);
  bhs[0] = opcode;
  bhs[1] = 0x80;
  bhs[4] = ahsWords;
  setDataLength(bhs, dataLen);
  bhs.writeUInt32BE(0x11223344, 16);
  const ahs = Buffer.alloc(ahsWords * 4, 0xa5);
  const data = Buffer.from(Array.from({ length: dataLen }, (_, i) => (i * 7 + 3) & 0xff));
  return { bhs, ahs, data };
}

function wire(p: { bhs: Buffer; ahs: Buffer; data: Buffer }, hd: boolean, dd: boolean): Buffer {
  return Buffer.concat(framePdu(Buffer.concat([p.bhs, p.ahs]), p.data, hd, dd));
}

describe('CRC32C (PROTOCOLS.md §0 vectors)', () => {
  it('matches the three vectors, bytes as sent on the wire', () => {
    assert.equal(digestBytes(crc32c(Buffer.alloc(32))).toString('hex'), 'aa36918a');
    assert.equal(digestBytes(crc32c(Buffer.alloc(32, 0xff))).toString('hex'), '43aba862');
    assert.equal(digestBytes(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i)))).toString('hex'), '4e79dd46');
  });
  it('is incremental: crc(a‖b) = crc(b, crc(a)) for every split', () => {
    const b = Buffer.from(Array.from({ length: 61 }, (_, i) => (i * 31) & 0xff));
    const whole = crc32c(b);
    for (let i = 0; i <= b.length; i++) assert.equal(crc32c(b.subarray(i), crc32c(b.subarray(0, i))), whole);
  });
});

describe('PDU framer: BHS → AHS → header digest → data → padding → data digest', () => {
  for (const [hd, dd] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    it(`split at every byte (header digest ${hd}, data digest ${dd})`, () => {
      const pdus = [samplePdu(13, 2), samplePdu(0), samplePdu(4096), samplePdu(1, 0, 0x05)];
      const stream = Buffer.concat(pdus.map((p) => wire(p, hd, dd)));
      for (let cut = 1; cut < stream.length; cut++) {
        const got: FramedPdu[] = [];
        const f = new PduFramer({ maxDataBytes: 8192, headerDigest: hd, dataDigest: dd }, (p) => got.push(p));
        f.push(stream.subarray(0, cut));
        f.push(stream.subarray(cut));
        assert.equal(got.length, pdus.length, `cut ${cut}`);
        got.forEach((g, i) => {
          assert.deepEqual(g.bhs, pdus[i]!.bhs);
          assert.deepEqual(g.ahs, pdus[i]!.ahs);
          assert.deepEqual(g.data, pdus[i]!.data);
          assert.equal(g.dataDigestError, false);
        });
      }
    });
  }
  it('one byte at a time walks every state', () => {
    const p = samplePdu(5, 1);
    const stream = wire(p, true, true);
    const states = new Set<string>();
    const got: FramedPdu[] = [];
    const f = new PduFramer({ maxDataBytes: 8192, headerDigest: true, dataDigest: true }, (x) => got.push(x));
    for (const byte of stream) {
      states.add(f.currentState);
      f.push(Buffer.from([byte]));
    }
    assert.deepEqual([...states].sort(), ['ahs', 'bhs', 'data', 'data-digest', 'header-digest', 'padding']);
    assert.equal(got.length, 1);
  });
  it('a corrupted header digest is a connection error (check 31)', () => {
    const stream = wire(samplePdu(8), true, false);
    stream[20] = stream[20]! ^ 0x01;
    const f = new PduFramer({ maxDataBytes: 8192, headerDigest: true }, () => assert.fail('no PDU'));
    assert.throws(
      () => f.push(stream),
      (e: unknown) => e instanceof DecodeError && e.code === 'HEADER_DIGEST',
    );
  });
  it('a corrupted data digest yields the PDU flagged, the stream stays in sync', () => {
    const a = wire(samplePdu(8), false, true);
    a[50] = a[50]! ^ 0xff;
    const got: FramedPdu[] = [];
    const f = new PduFramer({ maxDataBytes: 8192, dataDigest: true }, (p) => got.push(p));
    f.push(Buffer.concat([a, wire(samplePdu(3), false, true)]));
    assert.deepEqual(
      got.map((g) => g.dataDigestError),
      [true, false],
    );
  });
  it('a data segment longer than MaxRecvDataSegmentLength is refused before buffering it', () => {
    const f = new PduFramer({ maxDataBytes: 512 }, () => undefined);
    assert.throws(
      () => f.push(samplePdu(513).bhs),
      (e: unknown) => e instanceof DecodeError && e.code === 'DATA_SEGMENT_TOO_LONG',
    );
  });
});

describe('text keys (RFC 7143 §6.1)', () => {
  it('round-trips and tolerates a missing final NUL', () => {
    const pairs: Array<[string, string]> = [
      ['InitiatorName', 'iqn.2010-04.org.ipxe:pc1'],
      ['X-com.example.k', ''],
    ];
    assert.deepEqual(decodeText(encodeText(pairs)), pairs);
    assert.deepEqual(decodeText(Buffer.from('A=1\0B=2')), [
      ['A', '1'],
      ['B', '2'],
    ]);
  });
  it('rejects pairs without "=" and bad key names', () => {
    assert.throws(
      () => decodeText(Buffer.from('novalue\0')),
      (e: unknown) => e instanceof DecodeError && e.code === 'TEXT_NO_EQUALS',
    );
    assert.throws(
      () => decodeText(Buffer.from('bad key=1\0')),
      (e: unknown) => e instanceof DecodeError && e.code === 'TEXT_BAD_KEY',
    );
  });
  it('numbers and binary values', () => {
    assert.equal(parseNumber('8192'), 8192);
    assert.equal(parseNumber('0x2000'), 8192);
    assert.ok(Number.isNaN(parseNumber('12a')));
    assert.deepEqual(parseBinary('0x0aff'), Buffer.from([0x0a, 0xff]));
    assert.deepEqual(parseBinary('0bAQI='), Buffer.from([1, 2]));
    assert.equal(parseBinary('zz'), undefined);
  });
});

describe('negotiation: every key of §5 I1 with its combination rule', () => {
  const run = (k: string, v: string, ffp = false) => {
    const params = { ...RFC_DEFAULTS };
    const o = negotiateKey(k, v, params, DEFAULT_PREFERENCES, ffp);
    return { answer: outcomeValue(o), params };
  };
  it('MaxRecvDataSegmentLength is declarative (no answer) and range-checked', () => {
    assert.equal(run('MaxRecvDataSegmentLength', '8192').answer, undefined);
    assert.equal(run('MaxRecvDataSegmentLength', '8192').params.initiatorMaxRecvDataSegmentLength, 8192);
    assert.equal(run('MaxRecvDataSegmentLength', '511').answer, 'Reject');
    assert.equal(run('MaxRecvDataSegmentLength', '16777216').answer, 'Reject');
  });
  it('digests: first of the initiator list we support', () => {
    assert.equal(run('HeaderDigest', 'CRC32C,None').answer, 'CRC32C');
    assert.equal(run('HeaderDigest', 'CRC32C,None').params.headerDigest, true);
    assert.equal(run('DataDigest', 'None,CRC32C').answer, 'None');
    assert.equal(run('DataDigest', 'MD5').answer, 'Reject');
  });
  it('InitialR2T: OR; ImmediateData: AND', () => {
    assert.equal(run('InitialR2T', 'Yes').answer, 'Yes');
    assert.equal(run('InitialR2T', 'No').answer, 'No'); // we prefer No
    assert.equal(run('ImmediateData', 'No').answer, 'No');
    assert.equal(run('ImmediateData', 'Yes').answer, 'Yes');
    assert.equal(run('ImmediateData', 'Maybe').answer, 'Reject');
  });
  it('minimum: MaxOutstandingR2T, FirstBurstLength, MaxBurstLength, ErrorRecoveryLevel, DefaultTime2Retain, MaxConnections', () => {
    assert.equal(run('MaxOutstandingR2T', '1').answer, '1');
    assert.equal(run('MaxOutstandingR2T', '100').answer, String(DEFAULT_PREFERENCES.maxOutstandingR2T));
    assert.equal(run('MaxBurstLength', '262144').answer, '262144');
    assert.equal(run('MaxBurstLength', '16776192').answer, String(DEFAULT_PREFERENCES.maxBurstLength));
    assert.equal(run('FirstBurstLength', '65536').answer, '65536');
    assert.equal(run('ErrorRecoveryLevel', '2').answer, '0');
    assert.equal(run('ErrorRecoveryLevel', '3').answer, 'Reject');
    assert.equal(run('DefaultTime2Retain', '0').answer, '0');
    assert.equal(run('DefaultTime2Retain', '3600').answer, '20');
    assert.equal(run('MaxConnections', '8').answer, '1');
    assert.equal(run('MaxConnections', '0').answer, 'Reject');
  });
  it('maximum: DefaultTime2Wait', () => {
    assert.equal(run('DefaultTime2Wait', '0').answer, '2');
    assert.equal(run('DefaultTime2Wait', '10').answer, '10');
  });
  it('DataPDUInOrder, DataSequenceInOrder: OR (we say Yes)', () => {
    assert.equal(run('DataPDUInOrder', 'No').answer, 'Yes');
    assert.equal(run('DataSequenceInOrder', 'No').answer, 'Yes');
  });
  it('unknown and X- keys → NotUnderstood; target-only keys → Reject; login-only keys in FFP → Reject', () => {
    assert.equal(run('FooBar', '1').answer, 'NotUnderstood');
    assert.equal(run('X-com.vendor.thing', '1').answer, 'NotUnderstood');
    assert.equal(run('TargetPortalGroupTag', '1').answer, 'Reject');
    assert.equal(run('InitialR2T', 'Yes', true).answer, 'Reject');
    assert.equal(run('MaxRecvDataSegmentLength', '65536', true).answer, undefined);
  });
  it('markers are obsolete: No; intervals Irrelevant', () => {
    assert.equal(run('OFMarker', 'Yes').answer, 'No');
    assert.equal(run('IFMarkInt', '2048~8192').answer, 'Irrelevant');
  });
});

describe('CHAP (RFC 1994 MD5, RFC 7143 §12.1.3)', () => {
  const creds = { user: 'pc1', secret: 'twelve-bytes!', targetUser: 'bootgate', targetSecret: 'target-secret1' };
  const fixed = (n: number) => Buffer.alloc(n, 7);
  function start(a = new ChapAuthenticator(creds, fixed)) {
    const s = a.step(new Map([['CHAP_A', '7,5']]));
    assert.equal(s.kind, 'continue');
    const m = new Map(s.kind === 'continue' ? s.answer : []);
    return { a, id: Number(m.get('CHAP_I')), c: parseBinary(m.get('CHAP_C')!)! };
  }
  it('one-way: right response accepted, wrong refused', () => {
    const { a, id, c } = start();
    assert.equal(
      a.step(
        new Map([
          ['CHAP_N', 'pc1'],
          ['CHAP_R', '0x' + chapResponse(id, 'wrong', c).toString('hex')],
        ]),
      ).kind,
      'fail',
    );
    const b = start();
    assert.equal(
      b.a.step(
        new Map([
          ['CHAP_N', 'pc1'],
          ['CHAP_R', '0x' + chapResponse(b.id, creds.secret, b.c).toString('hex')],
        ]),
      ).kind,
      'done',
    );
  });
  it('mutual: answers with the target secret; reflected challenge closes; >1024-byte challenge refused', () => {
    const { a, id, c } = start();
    const ok = a.step(
      new Map([
        ['CHAP_N', 'pc1'],
        ['CHAP_R', '0x' + chapResponse(id, creds.secret, c).toString('hex')],
        ['CHAP_I', '9'],
        ['CHAP_C', '0x' + Buffer.alloc(16, 3).toString('hex')],
      ]),
    );
    assert.equal(ok.kind, 'done');
    assert.deepEqual(
      new Map(ok.kind === 'done' ? ok.answer : []).get('CHAP_R'),
      '0x' + chapResponse(9, creds.targetSecret, Buffer.alloc(16, 3)).toString('hex'),
    );
    const r = start();
    const refl = r.a.step(
      new Map([
        ['CHAP_N', 'pc1'],
        ['CHAP_R', '0x' + chapResponse(r.id, creds.secret, r.c).toString('hex')],
        ['CHAP_I', '1'],
        ['CHAP_C', '0x' + r.c.toString('hex')],
      ]),
    );
    assert.deepEqual(refl, { kind: 'close', reason: 'reflected-challenge' });
    const l = start();
    const long = l.a.step(
      new Map([
        ['CHAP_N', 'pc1'],
        ['CHAP_R', '0x' + chapResponse(l.id, creds.secret, l.c).toString('hex')],
        ['CHAP_I', '1'],
        ['CHAP_C', '0x' + Buffer.alloc(1025, 1).toString('hex')],
      ]),
    );
    assert.deepEqual(long, { kind: 'fail', reason: 'challenge-too-long' });
  });
  it('only MD5 (CHAP_A=5)', () => {
    assert.deepEqual(new ChapAuthenticator(creds).step(new Map([['CHAP_A', '7']])), { kind: 'fail', reason: 'bad-algorithm' });
  });
});

describe('LUN and serial-number helpers', () => {
  it('LUN encoding round-trips, unsupported addressing maps to -1', () => {
    for (const l of [0, 1, 255, 256, 16383]) assert.equal(decodeLun(encodeLun(l)), l);
    assert.equal(decodeLun(Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0])), -1);
  });
  it('RFC 1982 comparison wraps', () => {
    assert.ok(snLt(0xfffffff0, 5));
    assert.ok(!snLt(5, 0xfffffff0));
  });
});
