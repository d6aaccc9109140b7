import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeHeader, decodeMessage, encodeMessage, type DnsMessage } from '../../src/dns/codec.ts';
import { RRClass, RRType, Rcode } from '../../src/dns/constants.ts';
import { decodeName, isSubdomain, nameToLabels } from '../../src/dns/name.ts';
import { TcpFramer, frame } from '../../src/dns/tcp-framer.ts';
import { DecodeError } from '../../src/wire/decode-error.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+|#.*$/gm, ''), 'hex');

/** Captured: `dig @127.0.0.1 www.test.example AAAA` (dig 9.18): RD+AD, EDNS 1232 with a client cookie. */
const DIG_QUERY = hex(`
  0667 0120 0001 0000 0000 0001          # id, flags RD AD, QD=1 AR=1
  03 777777 04 74657374 07 6578616d706c65 00  001c 0001  # www.test.example AAAA IN
  00 0029 04d0 00 00 0000 000c           # OPT: root, udp 1232, ext-rcode 0, version 0, flags 0, rdlen 12
  000a 0008 fd28b21058c244e4             # COOKIE option (RFC 7873), kept as bytes
`);
/** Captured: unbound 1.17's reply to it; the answer owner is a pointer to the question name (c00c). */
const UNBOUND_REPLY = hex(`
  0667 8580 0001 0001 0000 0001          # QR AA RD RA, NOERROR
  03 777777 04 74657374 07 6578616d706c65 00 001c 0001
  c00c 001c 0001 00000258 0010 20010db8000000000000000000000010   # AAAA 600 2001:db8::10
  00 0029 04d0 00 00 0000 0000
`);
/** Captured: unbound's NXDOMAIN for nope.test.example with the zone's SOA in the authority section. */
const UNBOUND_NXDOMAIN = hex(`
  abcd 8583 0001 0000 0001 0000
  04 6e6f7065 04 74657374 07 6578616d706c65 00 0001 0001
  c011 0006 0001 0000012c 0021           # test.example SOA, TTL 300, rdlen 33
  02 6e73 c011 05 61646d696e c011 00000001 00000e10 00000258 00015180 0000012c
`);

function code(b: Buffer): { code: string; offset: number } {
  try {
    decodeMessage(b);
  } catch (e) {
    assert.ok(e instanceof DecodeError, `not a DecodeError: ${String(e)}`);
    assert.equal(e.protocol, 'dns');
    return { code: e.code, offset: e.offset };
  }
  assert.fail('decoded without error');
}

const Q = (name: string, type: number = RRType.A): DnsMessage => ({
  id: 0x1234,
  flags: { qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, ad: false, cd: false },
  rcode: 0,
  questions: [{ name, type, class: RRClass.IN }],
  answers: [],
  authority: [],
  additional: [],
});

describe('DNS codec', () => {
  it('decodes a captured dig query: flags, question, EDNS size and options', () => {
    const m = decodeMessage(DIG_QUERY);
    assert.equal(m.id, 0x0667);
    assert.equal(m.flags.rd, true);
    assert.equal(m.flags.ad, true);
    assert.deepEqual(m.questions, [{ name: 'www.test.example', type: RRType.AAAA, class: RRClass.IN }]);
    assert.equal(m.edns?.udpSize, 1232);
    assert.equal(m.edns?.version, 0);
    assert.equal(m.edns?.options.toString('hex'), '000a0008fd28b21058c244e4');
    assert.deepEqual(encodeMessage(m), DIG_QUERY);
  });

  it('decodes a captured unbound reply with a compressed owner name and re-encodes it byte for byte', () => {
    const m = decodeMessage(UNBOUND_REPLY);
    assert.equal(m.flags.qr && m.flags.aa && m.flags.ra, true);
    assert.deepEqual(m.answers, [
      { name: 'www.test.example', type: RRType.AAAA, class: RRClass.IN, ttl: 600, data: { kind: 'aaaa', address: '2001:db8::10' } },
    ]);
    assert.deepEqual(encodeMessage(m), UNBOUND_REPLY);
  });

  it('decodes the SOA of a captured NXDOMAIN (names compressed inside RDATA) and round-trips it', () => {
    const m = decodeMessage(UNBOUND_NXDOMAIN);
    assert.equal(m.rcode, Rcode.NXDOMAIN);
    assert.deepEqual(m.authority[0]!.data, {
      kind: 'soa',
      mname: 'ns.test.example',
      rname: 'admin.test.example',
      serial: 1,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: 300,
    });
    assert.deepEqual(encodeMessage(m), UNBOUND_NXDOMAIN);
  });

  it('round-trips every decoded type and keeps unknown RDATA opaque (RFC 3597)', () => {
    const m: DnsMessage = {
      ...Q('Mixed.Example.ORG', RRType.ANY),
      flags: { qr: true, opcode: 0, aa: true, tc: false, rd: true, ra: true, ad: false, cd: true },
      rcode: Rcode.NOERROR,
      answers: [
        { name: 'mixed.example.org', type: RRType.A, class: 1, ttl: 1, data: { kind: 'a', address: '192.0.2.1' } },
        { name: 'mixed.example.org', type: RRType.AAAA, class: 1, ttl: 2, data: { kind: 'aaaa', address: '2001:db8::1' } },
        { name: 'mixed.example.org', type: RRType.CNAME, class: 1, ttl: 3, data: { kind: 'name', target: 'cdn.example.net' } },
        { name: 'example.org', type: RRType.NS, class: 1, ttl: 4, data: { kind: 'name', target: 'ns1.example.org' } },
        { name: '1.2.0.192.in-addr.arpa', type: RRType.PTR, class: 1, ttl: 5, data: { kind: 'name', target: 'mixed.example.org' } },
        { name: 'example.org', type: RRType.MX, class: 1, ttl: 6, data: { kind: 'mx', preference: 10, exchange: 'mail.example.org' } },
        {
          name: 'example.org',
          type: RRType.TXT,
          class: 1,
          ttl: 7,
          data: { kind: 'txt', strings: [Buffer.from('v=spf1 -all'), Buffer.alloc(0), Buffer.alloc(255, 0x61)] },
        },
        { name: 'example.org', type: RRType.HTTPS, class: 1, ttl: 8, data: { kind: 'raw', bytes: Buffer.from('0001000001000302683200', 'hex') } },
        { name: 'a\\.b\\000c.example.org', type: 65280, class: 1, ttl: 9, data: { kind: 'raw', bytes: Buffer.alloc(0) } },
      ],
      authority: [
        {
          name: 'example.org',
          type: RRType.SOA,
          class: 1,
          ttl: 10,
          data: { kind: 'soa', mname: 'ns1.example.org', rname: 'hostmaster.example.org', serial: 2024, refresh: 1, retry: 2, expire: 3, minimum: 4 },
        },
      ],
      additional: [{ name: 'ns1.example.org', type: RRType.A, class: 1, ttl: 11, data: { kind: 'a', address: '192.0.2.53' } }],
      edns: { udpSize: 4096, extendedRcode: 0, version: 0, dnssecOk: true, options: Buffer.alloc(0) },
    };
    assert.deepEqual(decodeMessage(encodeMessage(m)), m);
  });

  it('compresses repeated names on encode (RFC 1035 §4.1.4) and keeps each spelling', () => {
    const m: DnsMessage = {
      ...Q('www.example.com'),
      answers: [
        { name: 'www.example.com', type: RRType.CNAME, class: 1, ttl: 60, data: { kind: 'name', target: 'edge.example.com' } },
        { name: 'edge.example.com', type: RRType.A, class: 1, ttl: 60, data: { kind: 'a', address: '192.0.2.7' } },
        { name: 'EDGE.example.com', type: RRType.A, class: 1, ttl: 60, data: { kind: 'a', address: '192.0.2.8' } },
      ],
    };
    const b = encodeMessage(m);
    // question name 17 bytes; CNAME owner a bare pointer (2), its target "edge"+pointer (7), the A owner a pointer
    // (2); "EDGE" differs in case, so it is written as a label plus a pointer to example.com (7)
    assert.equal(b.length, 12 + 17 + 4 + (2 + 10 + 7) + (2 + 10 + 4) + (7 + 10 + 4));
    assert.equal(b.readUInt16BE(12 + 21), 0xc00c);
    assert.deepEqual(decodeMessage(b), m);
  });

  it('refuses malformed input with a DecodeError carrying the code and offset', () => {
    const header = (qd: number, an = 0, ns = 0, ar = 0): string =>
      `1234 0100 ${[qd, an, ns, ar].map((n) => n.toString(16).padStart(4, '0')).join(' ')}`;
    const cases: Array<[string, Buffer, string, number]> = [
      ['empty', Buffer.alloc(0), 'TRUNCATED', 0],
      ['short header', hex('1234 0100 0001'), 'TRUNCATED', 0],
      ['question count beyond the data', hex(header(1)), 'TRUNCATED', 12],
      ['label runs past the end', hex(`${header(1)} 05 6162`), 'TRUNCATED', 12],
      ['no type/class after the name', hex(`${header(1)} 01 61 00 0001`), 'TRUNCATED', 15],
      ['pointer to itself', hex(`${header(1)} c00c 0001 0001`), 'BAD_POINTER', 12],
      ['pointer forward', hex(`${header(1)} c00e 0001 0001 00`), 'BAD_POINTER', 12],
      ['pointer back to the start of its own name (a loop)', hex(`${header(1)} 01 61 c00c 0001 0001`), 'BAD_POINTER', 14],
      ['half a pointer', hex(`${header(1)} c0`), 'TRUNCATED', 12],
      ['extended label type 01', hex(`${header(1)} 41 00 0001 0001`), 'BAD_LABEL_TYPE', 12],
      ['label type 10', hex(`${header(1)} 81 00 0001 0001`), 'BAD_LABEL_TYPE', 12],
      ['name longer than 255 octets', hex(`${header(1)} ${'3f'.concat('61'.repeat(63)).repeat(4)} 00 0001 0001`), 'NAME_TOO_LONG', 12 + 64 * 3],
      ['RR without fixed fields', hex(`${header(0, 1)} 00 0001 0001`), 'TRUNCATED', 13],
      ['RDLENGTH beyond the data', hex(`${header(0, 1)} 00 0001 0001 00000001 0010 7f000001`), 'TRUNCATED', 23],
      ['A with 3 bytes', hex(`${header(0, 1)} 00 0001 0001 00000001 0003 7f0000`), 'RDATA_LENGTH', 23],
      ['AAAA with 4 bytes', hex(`${header(0, 1)} 00 001c 0001 00000001 0004 7f000001`), 'RDATA_LENGTH', 23],
      ['CNAME with trailing bytes', hex(`${header(0, 1)} 00 0005 0001 00000001 0003 00 ffff`), 'RDATA_LENGTH', 24],
      ['CNAME running past RDLENGTH', hex(`${header(0, 1)} 00 0005 0001 00000001 0002 03 61 6263 00`), 'TRUNCATED', 23],
      ['MX without preference', hex(`${header(0, 1)} 00 000f 0001 00000001 0001 00`), 'TRUNCATED', 23],
      ['empty TXT', hex(`${header(0, 1)} 00 0010 0001 00000001 0000`), 'RDATA_LENGTH', 23],
      ['TXT string past RDLENGTH', hex(`${header(0, 1)} 00 0010 0001 00000001 0002 05 61`), 'TRUNCATED', 24],
      ['SOA without counters', hex(`${header(0, 1)} 00 0006 0001 00000001 0002 00 00`), 'TRUNCATED', 25],
      ['OPT with a non-root owner', hex(`${header(0, 0, 0, 1)} 01 61 00 0029 1000 00000000 0000`), 'BAD_OPT', 12],
      ['two OPT RRs', hex(`${header(0, 0, 0, 2)} 00 0029 1000 00000000 0000 00 0029 1000 00000000 0000`), 'BAD_OPT', 12],
      ['OPT in the answer section', hex(`${header(0, 1)} 00 0029 1000 00000000 0000`), 'BAD_OPT', 12],
    ];
    for (const [what, buf, want, offset] of cases) assert.deepEqual(code(buf), { code: want, offset }, what);
  });

  it('reads a header alone and stops pointer chains that only go backwards', () => {
    assert.equal(decodeHeader(DIG_QUERY).qdcount, 1);
    // "b" then a pointer to "a" + root at 12: a legal backward chain
    const b = hex('01 61 00 01 62 c000');
    assert.deepEqual(decodeName(b, 3), { name: 'b.a', next: 7 });
  });

  it('parses presentation names with escapes and refuses impossible ones', () => {
    assert.deepEqual(
      nameToLabels('a\\.b.c\\255.').map((l) => l.toString('latin1')),
      ['a.b', 'c\xff'],
    );
    assert.deepEqual(nameToLabels(''), []);
    for (const bad of ['a..b', `${'x'.repeat(64)}.com`, 'a\\256', `${'abcdefg.'.repeat(40)}com`])
      assert.throws(() => nameToLabels(bad), RangeError, bad);
    assert.equal(isSubdomain('a.svc.lan', 'lan'), true);
    assert.equal(isSubdomain('xlan', 'lan'), false);
    assert.equal(isSubdomain('x\\.lan', 'lan'), false);
  });
});

describe('DNS over TCP framing (RFC 1035 §4.2.2)', () => {
  it('reassembles pipelined messages split at every byte', () => {
    const msgs = [encodeMessage(Q('a.example')), encodeMessage(Q('bb.example', RRType.AAAA)), Buffer.alloc(0), encodeMessage(Q('c.example'))];
    const stream = Buffer.concat(msgs.map(frame));
    for (let cut = 0; cut <= stream.length; cut++) {
      const f = new TcpFramer();
      const got = [...f.push(stream.subarray(0, cut)), ...f.push(stream.subarray(cut))];
      assert.deepEqual(got, msgs, `cut at ${cut}`);
      assert.equal(f.buffered, 0);
    }
    const f = new TcpFramer();
    const one: Buffer[] = [];
    for (const byte of stream) one.push(...f.push(Buffer.from([byte])));
    assert.deepEqual(one, msgs);
  });
});
