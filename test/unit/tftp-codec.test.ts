import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeTftp, encodeData, encodeTftp, type TftpPacket } from '../../src/tftp/codec.ts';
import { Op } from '../../src/tftp/constants.ts';
import { negotiate } from '../../src/tftp/options.ts';
import { toNetascii } from '../../src/tftp/netascii.ts';
import { DecodeError } from '../../src/wire/decode-error.ts';

/** Annotated byte fixtures: opcode (2) | fields, strings NUL-terminated (RFC 1350 §5, RFC 2347 §2). */
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+|#.*$/gm, ''), 'hex');
const str = (s: string): string => Buffer.from(`${s}\0`, 'latin1').toString('hex');

/** The request EDK2's PxeBcTftpGetFileSize sends (T6): RRQ bootx64.efi octet tsize=0 blksize=1468. */
const EDK2_PROBE = hex(`0001 ${str('bootx64.efi')} ${str('octet')} ${str('tsize')} ${str('0')} ${str('blksize')} ${str('1468')}`);

function assertRoundTrip(p: TftpPacket): void {
  assert.deepEqual(decodeTftp(encodeTftp(p)), p);
}

function decodeCode(b: Buffer): string {
  try {
    decodeTftp(b);
  } catch (e) {
    assert.ok(e instanceof DecodeError, String(e));
    assert.equal(e.protocol, 'tftp');
    return e.code;
  }
  assert.fail('decoded without error');
}

describe('TFTP codec', () => {
  it('decodes the EDK2 size probe: names lower-cased, values kept, request order kept', () => {
    const p = decodeTftp(EDK2_PROBE);
    assert.equal(p.op, Op.RRQ);
    if (p.op !== Op.RRQ) return;
    assert.equal(p.filename, 'bootx64.efi');
    assert.equal(p.mode, 'octet');
    assert.deepEqual(
      [...p.options],
      [
        ['tsize', '0'],
        ['blksize', '1468'],
      ],
    );
    assert.deepEqual(encodeTftp(p), EDK2_PROBE);
  });

  it('mode and option names are case-insensitive (RFC 1350 §5, RFC 2347 §2); a repeated option keeps the first value', () => {
    const p = decodeTftp(hex(`0001 ${str('A\\B.bin')} ${str('OcTeT')} ${str('BLKSIZE')} ${str('1432')} ${str('blksize')} ${str('8')}`));
    assert.ok(p.op === Op.RRQ);
    assert.equal(p.filename, 'A\\B.bin');
    assert.equal(p.mode, 'octet');
    assert.deepEqual([...p.options], [['blksize', '1432']]);
  });

  it('round-trips every packet type', () => {
    assertRoundTrip({ op: Op.RRQ, filename: 'pxelinux.0', mode: 'octet', options: new Map() });
    assertRoundTrip({ op: Op.WRQ, filename: 'x', mode: 'netascii', options: new Map([['blksize', '512']]) });
    assertRoundTrip({ op: Op.DATA, block: 65535, data: Buffer.from('hello') });
    assertRoundTrip({ op: Op.DATA, block: 0, data: Buffer.alloc(0) });
    assertRoundTrip({ op: Op.ACK, block: 0 });
    assertRoundTrip({ op: Op.ERROR, code: 8, message: 'tsize probe' });
    assertRoundTrip({
      op: Op.OACK,
      options: new Map([
        ['blksize', '1468'],
        ['tsize', '123'],
      ]),
    });
  });

  it('DATA block numbers go on the wire modulo 2^16 (T4: 65536 → 0)', () => {
    assert.deepEqual(encodeData(65536, Buffer.from([7])), hex('0003 0000 07'));
    assert.deepEqual(encodeData(65537, Buffer.alloc(0)), hex('0003 0001'));
  });

  it('ERROR without a terminating NUL is accepted (some clients omit it)', () => {
    assert.deepEqual(decodeTftp(hex(`0005 0008 ${Buffer.from('abort').toString('hex')}`)), { op: Op.ERROR, code: 8, message: 'abort' });
  });

  it('bad input throws DecodeError with a stable code', () => {
    assert.equal(decodeCode(hex('')), 'TRUNCATED');
    assert.equal(decodeCode(hex('00')), 'TRUNCATED');
    assert.equal(decodeCode(hex('0009')), 'BAD_OPCODE');
    assert.equal(decodeCode(hex('0000')), 'BAD_OPCODE');
    assert.equal(decodeCode(hex(`0001 ${Buffer.from('file').toString('hex')}`)), 'UNTERMINATED_STRING');
    assert.equal(decodeCode(hex(`0001 00 ${str('octet')}`)), 'EMPTY_FILENAME');
    assert.equal(decodeCode(hex(`0001 ${str('f')} 00`)), 'EMPTY_MODE');
    assert.equal(decodeCode(hex(`0001 ${str('f')}`)), 'UNTERMINATED_STRING');
    assert.equal(decodeCode(hex(`0001 ${str('f')} ${str('octet')} ${str('blksize')}`)), 'OPTION_WITHOUT_VALUE');
    assert.equal(decodeCode(hex(`0001 ${str('f')} ${str('octet')} ${str('blksize')} 31`)), 'UNTERMINATED_STRING');
    assert.equal(decodeCode(hex(`0001 ${str('f')} ${str('octet')} 00 ${str('1')}`)), 'EMPTY_OPTION_NAME');
    assert.equal(decodeCode(Buffer.concat([hex('0001'), Buffer.alloc(1100, 0x41), hex('00')])), 'REQUEST_TOO_LONG');
    assert.equal(decodeCode(hex('0004 00')), 'TRUNCATED');
    assert.equal(decodeCode(hex('0003')), 'TRUNCATED');
    assert.equal(decodeCode(hex('0005 00')), 'TRUNCATED');
    assert.equal(decodeCode(hex(`0006 ${str('tsize')}`)), 'OPTION_WITHOUT_VALUE');
  });
});

describe('TFTP option negotiation (RFC 2347/2348/2349/7440)', () => {
  const limits = { maxBlksize: 1468, maxWindowsize: 64 };
  const opts = (o: Record<string, string>): Map<string, string> => new Map(Object.entries(o));

  it('no options → no OACK, RFC 1350 defaults (check 16)', () => {
    const n = negotiate(new Map(), limits, 1000, 'octet');
    assert.equal(n.oack.size, 0);
    assert.equal(n.blksize, 512);
    assert.equal(n.windowsize, 1);
  });

  it('blksize=1468 tsize=0 → exactly those, tsize = the file size (check 17)', () => {
    const n = negotiate(opts({ blksize: '1468', tsize: '0' }), limits, 123456, 'octet');
    assert.deepEqual(
      [...n.oack],
      [
        ['blksize', '1468'],
        ['tsize', '123456'],
      ],
    );
    assert.equal(n.blksize, 1468);
  });

  it('blksize is answered ≤ the request and capped at the configured maximum (check 17, T7)', () => {
    assert.equal(negotiate(opts({ blksize: '65464' }), limits, 1, 'octet').oack.get('blksize'), '1468');
    assert.equal(negotiate(opts({ blksize: '1432' }), limits, 1, 'octet').oack.get('blksize'), '1432');
    assert.equal(negotiate(opts({ blksize: '8' }), limits, 1, 'octet').oack.get('blksize'), '8');
    assert.equal(negotiate(opts({ blksize: '9000' }), { ...limits, maxBlksize: 8192 }, 1, 'octet').oack.get('blksize'), '8192');
  });

  it('unknown or invalid options are absent from the OACK (check 19)', () => {
    const cases: Record<string, string>[] = [
      { foo: '1' },
      { timeout: '0' },
      { timeout: '256' },
      { blksize: '7' },
      { blksize: '65465' },
      { blksize: '-1' },
      { blksize: '0x10' },
      { windowsize: '0' },
      { windowsize: '65536' },
      { tsize: 'abc' },
      { blksize: ' 512' },
    ];
    for (const o of cases) {
      const n = negotiate(opts(o), limits, 1, 'octet');
      assert.equal(n.oack.size, 0, JSON.stringify(o));
      assert.equal(n.blksize, 512);
      assert.equal(n.windowsize, 1);
    }
  });

  it('timeout 1..255 is echoed and used; windowsize answered ≤ the request and the cap (check 20)', () => {
    const n = negotiate(opts({ timeout: '3', windowsize: '4', foo: 'bar' }), limits, 1, 'octet');
    assert.deepEqual(
      [...n.oack],
      [
        ['timeout', '3'],
        ['windowsize', '4'],
      ],
    );
    assert.equal(n.timeoutSeconds, 3);
    assert.equal(n.windowsize, 4);
    assert.equal(negotiate(opts({ windowsize: '65535' }), limits, 1, 'octet').oack.get('windowsize'), '64');
  });

  it('tsize is omitted in netascii mode (its size is not the file size)', () => {
    assert.equal(negotiate(opts({ tsize: '0' }), limits, 10, 'netascii').oack.size, 0);
  });
});

describe('netascii translation', () => {
  it('LF → CR LF and CR → CR NUL (RFC 764)', () => {
    assert.deepEqual(toNetascii(Buffer.from('a\nb\rc')), Buffer.from('a\r\nb\r\0c', 'latin1'));
    const plain = Buffer.from('no line ends');
    assert.equal(toNetascii(plain), plain);
  });
});
