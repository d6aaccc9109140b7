import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { scanClientHello } from '../../src/gateway/proxy/client-hello.ts';
import { DecodeError } from '../../src/wire/decode-error.ts';
import { buildClientHello, CURL_CLIENT_HELLO_HEX, toRecords } from '../helpers/gateway-fixtures.ts';

const RUNS = 5000;
const curlHello = Buffer.from(CURL_CLIENT_HELLO_HEX, 'hex');

/** scan must return a result or throw DecodeError; anything else is a bug. */
function scanOrDecodeError(b: Buffer): void {
  try {
    scanClientHello(b);
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    assert.ok(e.offset >= 0 && e.offset <= b.length, `offset ${e.offset} inside ${b.length}`);
  }
}

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
const hostname = fc.array(label, { minLength: 1, maxLength: 5 }).map((l) => l.join('.'));

describe('TLS ClientHello scanner under fast-check', () => {
  it('random bytes (with and without a handshake record header): result or DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.boolean(), (bytes, framed) => {
        const b = Buffer.from(bytes);
        scanOrDecodeError(framed ? Buffer.concat([Buffer.from([22, 3, 1, b.length >> 8, b.length & 255]), b]) : b);
      }),
      { numRuns: RUNS },
    );
  });

  it('a real hello with random bytes flipped or cut: result or DecodeError', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(curlHello.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.nat(curlHello.length),
        (flips, cut) => {
          const b = Buffer.from(curlHello);
          for (const [i, v] of flips) b[i] = v;
          scanOrDecodeError(b.subarray(0, cut));
          scanOrDecodeError(b);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('any valid hello, fragmented any way, gives back its server name and ALPN', () => {
    fc.assert(
      fc.property(
        hostname,
        fc.array(fc.stringMatching(/^[a-z0-9/.]{1,12}$/), { maxLength: 4 }),
        fc.integer({ min: 1, max: 400 }),
        fc.array(fc.tuple(fc.integer({ min: 17, max: 60000 }), fc.uint8Array({ maxLength: 40 })), { maxLength: 4 }),
        (name, alpn, frag, extra) => {
          const uniq = [...new Map(extra.map(([t, d]) => [t, Buffer.from(d)] as [number, Buffer])).entries()];
          const h = scanClientHello(toRecords(buildClientHello({ serverName: name, alpn, extra: uniq }), frag));
          assert.equal(h.done, true);
          if (h.done) {
            assert.equal(h.hello.serverName, name);
            assert.deepEqual(h.hello.alpn, alpn);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
