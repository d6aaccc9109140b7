import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeMessage, encodeMessage } from '../../src/dns/codec.ts';
import { RRType } from '../../src/dns/constants.ts';
import { DecodeError } from '../../src/wire/decode-error.ts';
import { TCP, UDP, makeResolver, query } from '../helpers/dns-fakes.ts';

const RUNS = 3000;
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
/** dig's AAAA query with a cookie, and unbound's NXDOMAIN with a compressed SOA (see test/unit/dns-codec.test.ts) */
const SEEDS = [
  hex('066701200001000000000001037777770474657374076578616d706c6500001c000100002904d000000000000c000a0008fd28b21058c244e4'),
  hex(
    'abcd85830001000000010000046e6f70650474657374076578616d706c650000010001c011000600010000012c0021026e73c0110561646d696ec0110000000100000e1000000258000151800000012c',
  ),
  hex(
    '066785800001000100000001037777770474657374076578616d706c6500001c0001c00c001c000100000258001020010db800000000000000000000001000002904d0000000000000',
  ),
];

const decodesOrDecodeError = (b: Buffer): void => {
  try {
    const m = decodeMessage(b);
    // whatever decodes must encode again, and decode to the same thing (a forwarded reply is re-encoded)
    assert.deepEqual(decodeMessage(encodeMessage(m)), m);
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    assert.ok(e.offset >= 0 && e.offset <= b.length, `offset ${e.offset} outside ${b.length}`);
  }
};

const mutated = fc
  .tuple(
    fc.integer({ min: 0, max: SEEDS.length - 1 }),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 10 }),
    fc.nat(),
  )
  .map(([seed, edits, cut]) => {
    const b = Buffer.from(SEEDS[seed]!);
    for (const [at, v] of edits) b[at % b.length] = v;
    return cut % 5 === 0 ? b.subarray(0, cut % b.length) : b;
  });
/** random bytes behind a plausible query header, so the body parser is reached */
const headed = fc
  .tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 4 }), fc.uint8Array({ maxLength: 300 }))
  .map(([id, qd, ar, body]) => {
    const h = Buffer.alloc(12);
    h.writeUInt16BE(id, 0);
    h.writeUInt16BE(0x0100, 2);
    h.writeUInt16BE(qd, 4);
    h.writeUInt16BE(ar, 10);
    return Buffer.concat([h, Buffer.from(body)]);
  });

describe('DNS codec under fast-check', () => {
  it('random bytes: decode returns a message or throws DecodeError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), (u) => decodesOrDecodeError(Buffer.from(u))),
      { numRuns: RUNS },
    );
  });

  it('mutated real captures and random bodies behind a query header', () => {
    fc.assert(fc.property(fc.oneof(mutated, headed), decodesOrDecodeError), { numRuns: RUNS });
  });
});

describe("DNS resolver's handler under random and mutated queries", () => {
  it('never throws, answers or drops, counts no internal errors, and still answers a valid query afterwards', async () => {
    const { resolver, upstreams, metric } = makeResolver({ hosts: { printer: '10.53.0.9' } });
    upstreams.zone.set('www.example.org', [
      { name: 'www.example.org', type: RRType.A, class: 1, ttl: 60, data: { kind: 'a', address: '192.0.2.1' } },
    ]);
    const valid = fc
      .tuple(
        fc.constantFrom('www.example.org', 'printer', 'x.lan', 'nope.example.org', 'WwW.ExAmPlE.OrG'),
        fc.integer({ min: 0, max: 300 }),
        fc.boolean(),
      )
      .map(([n, t, e]) => query(n, t, e ? { edns: 1232 } : {}));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 600 }).map((u) => Buffer.from(u)),
          mutated,
          headed,
          valid,
        ),
        fc.boolean(),
        async (buf, tcp) => {
          const out = await resolver.handle(buf, tcp ? TCP : UDP);
          if (out) {
            const m = decodeMessage(out); // every answer we send is a well-formed message
            assert.equal(m.flags.qr, true);
            if (!tcp) assert.ok(out.length <= 1232);
          }
        },
      ),
      { numRuns: 2000 },
    );
    assert.equal(await metric('bootgate_dns_drops_total', { reason: 'internal_error' }), 0);
    const r = decodeMessage((await resolver.handle(query('www.example.org'), UDP))!);
    assert.deepEqual(r.answers[0]!.data, { kind: 'a', address: '192.0.2.1' });
  });
});
