import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scanClientHello, type HelloScan } from '../../src/gateway/proxy/client-hello.ts';
import { DecodeError } from '../../src/wire/decode-error.ts';
import { buildClientHello, CURL_CLIENT_HELLO_HEX, toRecords } from '../helpers/gateway-fixtures.ts';

const curlHello = Buffer.from(CURL_CLIENT_HELLO_HEX, 'hex');

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof DecodeError) return e.code;
    throw e;
  }
  return 'NO_ERROR';
}

function done(s: HelloScan) {
  assert.equal(s.done, true);
  return (s as Extract<HelloScan, { done: true }>).hello;
}

describe('TLS ClientHello scanner (RFC 8446 §4.1.2, RFC 6066 §3, RFC 7301)', () => {
  it('reads SNI and ALPN from a real curl/OpenSSL 3 ClientHello', () => {
    const h = done(scanClientHello(curlHello));
    assert.equal(h.serverName, 'www.example-seat.test');
    assert.deepEqual(h.alpn, ['h2', 'http/1.1']);
    assert.equal(h.legacyVersion, 0x0303);
  });

  it('split at every byte: incomplete prefixes ask for more, the whole hello parses', () => {
    for (let i = 0; i < curlHello.length; i++) {
      const s = scanClientHello(curlHello.subarray(0, i));
      assert.equal(s.done, false, `prefix ${i}`);
    }
    assert.equal(done(scanClientHello(curlHello)).serverName, 'www.example-seat.test');
  });

  it('reassembles a ClientHello fragmented over several records', () => {
    const hs = buildClientHello({ serverName: 'Fragmented.Example.ORG', alpn: ['http/1.1'] });
    for (const frag of [1, 3, 17, 100]) {
      const h = done(scanClientHello(toRecords(hs, frag)));
      assert.equal(h.serverName, 'fragmented.example.org');
    }
  });

  it('a hello without server_name or without extensions has no serverName', () => {
    assert.equal(done(scanClientHello(toRecords(buildClientHello({})))).serverName, undefined);
    assert.equal(done(scanClientHello(toRecords(buildClientHello({ noExtensions: true })))).serverName, undefined);
  });

  it('rejects what can never be a ClientHello, with stable codes', () => {
    assert.equal(
      code(() => scanClientHello(Buffer.from('GET / HTTP/1.1\r\n'))),
      'NOT_TLS_HANDSHAKE',
    );
    assert.equal(
      code(() => scanClientHello(Buffer.from([22, 3, 1, 0, 0]))),
      'BAD_RECORD_LENGTH',
    );
    assert.equal(
      code(() => scanClientHello(Buffer.from([22, 9, 1, 0, 4, 1, 0, 0, 0]))),
      'BAD_RECORD_VERSION',
    );
    assert.equal(
      code(() => scanClientHello(Buffer.from([22, 3, 1, 0, 4, 2, 0, 0, 0]))),
      'NOT_CLIENT_HELLO',
    );
    assert.equal(
      code(() => scanClientHello(Buffer.from([22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff]))),
      'CLIENT_HELLO_TOO_LARGE',
    );
    assert.equal(
      code(() => scanClientHello(toRecords(buildClientHello({ sessionId: Buffer.alloc(33) })))),
      'BAD_SESSION_ID',
    );
    assert.equal(
      code(() => scanClientHello(toRecords(buildClientHello({ cipherSuites: [] })))),
      'BAD_CIPHER_SUITES',
    );
    assert.equal(
      code(() => scanClientHello(toRecords(buildClientHello({ serverName: 'bad name!' })))),
      'BAD_SNI_HOSTNAME',
    );
    assert.equal(
      code(() => scanClientHello(toRecords(buildClientHello({ serverName: 'trailing.dot.' })))),
      'BAD_SNI_HOSTNAME',
    );
    assert.equal(
      code(() => scanClientHello(toRecords(buildClientHello({ serverName: 'a.b', extra: [[0, Buffer.from([0, 4, 0, 0, 1, 0x61])]] })))),
      'DUPLICATE_EXTENSION',
    );
    // an extension whose length runs past the end of the hello
    const hs = buildClientHello({ serverName: 'example.com' });
    hs[hs.length - 1 - 'example.com'.length - 5] = 0xff; // server_name extension length (low byte): now longer than the hello
    assert.equal(
      code(() => scanClientHello(toRecords(hs))),
      'TRUNCATED',
    );
    // an alert record in the middle of a fragmented hello
    const two = toRecords(buildClientHello({ serverName: 'example.com' }), 20);
    const alert = Buffer.concat([two.subarray(0, 25), Buffer.from([21, 3, 3, 0, 2, 2, 40])]);
    assert.equal(
      code(() => scanClientHello(alert)),
      'NOT_TLS_HANDSHAKE',
    );
  });
});
