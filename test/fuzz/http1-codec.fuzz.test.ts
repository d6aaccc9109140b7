import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BodyReader, FramingError, requestFraming, responseFraming, type Framing } from '../../src/gateway/proxy/http1-body.ts';
import { headEnd, parseRequestHead, parseResponseHead, skipEmptyLines } from '../../src/gateway/proxy/http1-head.ts';
import { DecodeError } from '../../src/wire/decode-error.ts';

const RUNS = 3000;

/** Bytes that HTTP/1.1 framing turns on, weighted so random input often gets deep into the parsers. */
const httpByte = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...Buffer.from('\r\n:; \t0123456789abcdefABCDEF,=HTP/.')) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
);
const httpBytes = (maxLength: number) => fc.array(httpByte, { maxLength }).map((a) => Buffer.from(a));
const anyBytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((u) => Buffer.from(u));

/** Valid-looking heads with random damage: a few bytes replaced, inserted or removed. */
const START_LINES = [
  'GET http://a.test/ HTTP/1.1',
  'POST /x?y HTTP/1.0',
  'CONNECT a:443 HTTP/1.1',
  'HTTP/1.1 200 OK',
  'HTTP/1.0 404 Not Found',
  'HTTP/1.1 100 Continue',
];
const FIELD_LINES = [
  'Host: a.test',
  'Content-Length: 5',
  'Transfer-Encoding: chunked',
  'Connection: keep-alive, close',
  'X-A:',
  'Accept:  */* ',
  'Set-Cookie: a=1; Path=/',
];
const damagedHead = fc
  .tuple(
    fc.constantFrom(...START_LINES),
    fc.array(fc.constantFrom(...FIELD_LINES), { maxLength: 8 }),
    fc.array(fc.tuple(fc.constantFrom('set', 'insert', 'delete'), fc.nat(), httpByte), { maxLength: 4 }),
  )
  .map(([line, fields, edits]) => {
    const b = [...Buffer.from(`${line}\r\n${fields.map((f) => `${f}\r\n`).join('')}\r\n`, 'latin1')];
    for (const [op, at, v] of edits) {
      const i = at % (b.length + 1);
      if (op === 'set' && i < b.length) b[i] = v;
      else if (op === 'insert') b.splice(i, 0, v);
      else if (op === 'delete') b.splice(i, 1);
    }
    return Buffer.from(b);
  });

/** headEnd then the head parser, as the proxy calls them: a head or DecodeError, nothing else, offsets inside the buffer. */
function parseOrDecodeError(buf: Buffer, kind: 'request' | 'response'): void {
  const start = kind === 'request' ? skipEmptyLines(buf, 0) : 0;
  try {
    const end = headEnd(buf, start);
    if (end < 0) return;
    assert.ok(end > start && end <= buf.length);
    const h = kind === 'request' ? parseRequestHead(buf, start, end) : parseResponseHead(buf, start, end);
    assert.equal(h.length, end - start);
    assert.equal(h.fields.length % 2, 0);
    // what was accepted carries no CR, LF or NUL anywhere: nothing that reaches the next hop can split a line
    for (const f of h.fields) assert.doesNotMatch(f, /[\r\n\0]/);
    // and nothing was dropped from a field line but SP and HTAB around the value (RFC 9110 §5.6.3 OWS)
    const lines = buf
      .toString('latin1', start, end - 4)
      .split('\r\n')
      .slice(1);
    assert.equal(lines.length * 2, h.fields.length);
    lines.forEach((line, n) => {
      const [name, value] = [h.fields[2 * n]!, h.fields[2 * n + 1]!];
      assert.ok(line.startsWith(`${name}:`), line);
      let rest = line.slice(name.length + 1);
      while (rest[0] === ' ' || rest[0] === '\t') rest = rest.slice(1);
      while (rest.endsWith(' ') || rest.endsWith('\t')) rest = rest.slice(0, -1);
      assert.equal(rest, value, `field line ${JSON.stringify(line)}`);
    });
    if (kind === 'request') {
      const r = h as ReturnType<typeof parseRequestHead>;
      assert.doesNotMatch(`${r.method} ${r.target}`, /[\r\n\0]/);
      // round trip: the head rebuilt from what was parsed parses to the same thing
      const again = Buffer.from(`${r.method} ${r.target} HTTP/1.${r.minor}\r\n${fieldLines(r.fields)}\r\n`, 'latin1');
      assert.deepEqual(parseRequestHead(again, 0, headEnd(again, 0)), { ...r, length: again.length });
    } else {
      const r = h as ReturnType<typeof parseResponseHead>;
      assert.doesNotMatch(r.reason, /[\r\n\0]/);
      const again = Buffer.from(`HTTP/1.${r.minor} ${r.status} ${r.reason}\r\n${fieldLines(r.fields)}\r\n`, 'latin1');
      assert.deepEqual(parseResponseHead(again, 0, headEnd(again, 0)), { ...r, length: again.length });
    }
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    assert.equal(e.protocol, 'http1');
    assert.ok(e.offset >= start && e.offset < Math.max(buf.length, start + 1), `offset ${e.offset} inside [${start}, ${buf.length})`);
  }
}

function fieldLines(fields: readonly string[]): string {
  let s = '';
  for (let i = 0; i < fields.length; i += 2) s += `${fields[i]!}: ${fields[i + 1]!}\r\n`;
  return s;
}

/** The outcome of feeding `buf` to a reader in the pieces `cuts` make: where it ended and what came out, or the error. */
function feedPieces(framing: Framing, buf: Buffer, cuts: number[]): { end: number; payload: number; out: string } | { code: string; offset: number } {
  const parts: Buffer[] = [];
  const r = new BodyReader(framing, (b, s, e) => parts.push(Buffer.from(b.subarray(s, e))));
  const points = [...new Set([0, ...cuts.map((c) => c % (buf.length + 1)), buf.length])].sort((a, b) => a - b);
  try {
    for (let n = 0; n + 1 < points.length; n++) {
      const [a, b] = [points[n]!, points[n + 1]!];
      const stop = r.feed(buf, a, b);
      assert.ok(stop >= a && stop <= b, `feed returned ${stop} outside [${a}, ${b}]`);
      if (r.done) return { end: stop, payload: r.payload, out: Buffer.concat(parts).toString('latin1') };
      assert.equal(stop, b, 'a reader that is not done takes the whole slice');
    }
    return { end: -1, payload: r.payload, out: Buffer.concat(parts).toString('latin1') };
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    assert.equal(e.protocol, 'http1');
    assert.ok(e.offset >= 0 && e.offset < buf.length, `offset ${e.offset} inside ${buf.length}`);
    return { code: e.code, offset: e.offset };
  }
}

const framing: fc.Arbitrary<Framing> = fc.oneof(
  fc.constant({ type: 'chunked' } as const),
  fc.constant({ type: 'close' } as const),
  fc.constant({ type: 'none' } as const),
  fc.nat({ max: 3000 }).map((length) => ({ type: 'length', length }) as const),
);

/** A chunked encoding of `body` cut into chunks of the given sizes, with optional extensions and trailers. */
function encodeChunked(body: Buffer, sizes: number[], exts: string[], trailers: string[], upper: boolean): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  let n = 0;
  while (at < body.length) {
    const len = Math.min(body.length - at, Math.max(1, sizes[n % Math.max(1, sizes.length)] ?? body.length));
    const hex = len.toString(16);
    out.push(
      Buffer.from(`${upper ? hex.toUpperCase() : hex}${exts[n % Math.max(1, exts.length)] ?? ''}\r\n`, 'latin1'),
      body.subarray(at, at + len),
      Buffer.from('\r\n'),
    );
    at += len;
    n++;
  }
  out.push(Buffer.from(`0${exts[0] ?? ''}\r\n${trailers.map((t) => `${t}\r\n`).join('')}\r\n`, 'latin1'));
  return Buffer.concat(out);
}

const ext = fc.oneof(
  fc.constant(''),
  fc.stringMatching(/^[a-z0-9]{1,8}$/).map((s) => `;${s}`),
  fc.tuple(fc.stringMatching(/^[a-z]{1,5}$/), fc.stringMatching(/^[a-z0-9]{0,6}$/)).map(([k, v]) => ` ; ${k}=${v}`),
  fc.stringMatching(/^[a-z ;=]{0,10}$/).map((s) => `;"${s}"`),
);
const trailer = fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,10}$/), fc.stringMatching(/^[ -~]{0,20}$/)).map(([k, v]) => `${k}: ${v}`);

describe('HTTP/1.1 codecs under fast-check', () => {
  it('random bytes into the request and response head parsers: a head or DecodeError', () => {
    fc.assert(
      fc.property(fc.oneof(anyBytes(600), httpBytes(600)), fc.boolean(), (b, terminate) => {
        const buf = terminate ? Buffer.concat([b, Buffer.from('\r\n\r\n')]) : b;
        parseOrDecodeError(buf, 'request');
        parseOrDecodeError(buf, 'response');
      }),
      { numRuns: RUNS },
    );
  });

  it('valid heads with random damage: a head or DecodeError, and what is accepted round-trips', () => {
    fc.assert(
      fc.property(damagedHead, (buf) => {
        parseOrDecodeError(buf, 'request');
        parseOrDecodeError(buf, 'response');
      }),
      { numRuns: RUNS },
    );
  });

  it('random field lists into the framing rules: a framing or FramingError', () => {
    const name = fc.constantFrom('Content-Length', 'content-length', 'Transfer-Encoding', 'transfer-encoding', 'Connection', 'X-A');
    const value = fc.oneof(
      fc.constantFrom('chunked', 'gzip, chunked', 'chunked, gzip', '5', '5, 5', '5, 6', '0', '', ' 7 ', '-1', '1e2', '99999999999999999'),
      fc.string({ maxLength: 12 }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(name, value), { maxLength: 5 }),
        fc.integer({ min: 100, max: 599 }),
        fc.constantFrom('GET', 'HEAD', 'POST'),
        fc.constantFrom(0, 1),
        (pairs, status, method, minor) => {
          const fields = pairs.flat();
          for (const f of [
            () => requestFraming({ method, target: '/', minor, fields, length: 0 }),
            () => responseFraming({ status, reason: '', minor, fields, length: 0 }, method),
          ]) {
            try {
              const fr = f();
              if (fr.type === 'length') assert.ok(Number.isSafeInteger(fr.length) && fr.length > 0);
            } catch (e) {
              if (!(e instanceof FramingError)) throw e;
              assert.ok([400, 501, 502].includes(e.status));
            }
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('random bytes into BodyReader, whole and split: only DecodeError, and the same outcome however it is split', () => {
    fc.assert(
      fc.property(framing, fc.oneof(anyBytes(800), httpBytes(800)), fc.array(fc.nat(), { maxLength: 6 }), (fr, buf, cuts) => {
        const whole = feedPieces(fr, buf, []);
        assert.deepEqual(feedPieces(fr, buf, cuts), whole);
      }),
      { numRuns: RUNS },
    );
  });

  it('damaged chunked bodies: only DecodeError, same outcome byte by byte', () => {
    fc.assert(
      fc.property(
        anyBytes(300),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.tuple(fc.nat(), httpByte), { minLength: 1, maxLength: 3 }),
        (body, sizes, edits) => {
          const enc = encodeChunked(body, sizes, [], [], false);
          for (const [at, v] of edits) enc[at % enc.length] = v;
          const whole = feedPieces({ type: 'chunked' }, enc, []);
          assert.deepEqual(
            feedPieces(
              { type: 'chunked' },
              enc,
              Array.from({ length: enc.length }, (_, i) => i),
            ),
            whole,
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('any body, chunked any way (sizes, extensions, trailers, hex case) and split anywhere, de-chunks to itself', () => {
    fc.assert(
      fc.property(
        anyBytes(4000),
        fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 8 }),
        fc.array(ext, { maxLength: 4 }),
        fc.array(trailer, { maxLength: 3 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 10 }),
        anyBytes(40),
        (body, sizes, exts, trailers, upper, cuts, next) => {
          const enc = encodeChunked(body, sizes, exts, trailers, upper);
          // whatever follows (the next message, or garbage) is not part of this one
          const stream = Buffer.concat([enc, next]);
          assert.deepEqual(feedPieces({ type: 'chunked' }, stream, cuts), { end: enc.length, payload: body.length, out: body.toString('latin1') });
        },
      ),
      { numRuns: RUNS },
    );
  });
});
