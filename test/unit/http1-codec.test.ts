import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BodyReader, FramingError, requestFraming, responseFraming, type Framing } from '../../src/gateway/proxy/http1-body.ts';
import { forwardedHead, parseAuthority } from '../../src/gateway/proxy/headers.ts';
import {
  MAX_EMPTY_LINES,
  MAX_HEAD_BYTES,
  MAX_HEADER_FIELDS,
  field,
  fieldValues,
  headEnd,
  listTokens,
  parseRequestHead,
  parseResponseHead,
  skipEmptyLines,
  type RequestHead,
  type ResponseHead,
} from '../../src/gateway/proxy/http1-head.ts';
import { DecodeError } from '../../src/wire/decode-error.ts';

/** Annotated fixtures: each piece is one protocol element, in order; the buffer is their concatenation. */
const bytes = (...parts: string[]): Buffer => Buffer.from(parts.join(''), 'latin1');

/** `fn` throws DecodeError of protocol http1 with this code and offset. */
function throwsDecode(fn: () => unknown, code: string, offset: number): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DecodeError, `expected DecodeError, got ${String(e)}`);
    assert.equal(e.protocol, 'http1');
    assert.deepEqual({ code: e.code, offset: e.offset }, { code, offset });
    return true;
  });
}

function throwsFraming(fn: () => unknown, status: number, code: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FramingError, `expected FramingError, got ${String(e)}`);
    assert.deepEqual({ status: e.status, code: e.code }, { status, code });
    return true;
  });
}

/** headEnd then parseRequestHead, as the proxy calls them, on a buffer that may hold more after the head. */
function request(buf: Buffer, start = 0): RequestHead {
  const s = skipEmptyLines(buf, start);
  const end = headEnd(buf, s);
  assert.ok(end > 0, 'head complete');
  return parseRequestHead(buf, s, end);
}

function response(buf: Buffer, start = 0): ResponseHead {
  const end = headEnd(buf, start);
  assert.ok(end > 0, 'head complete');
  return parseResponseHead(buf, start, end);
}

const req = (minor: number, ...fields: string[]): RequestHead => ({ method: 'POST', target: 'http://h/', minor, fields, length: 0 });
const res = (status: number, ...fields: string[]): ResponseHead => ({ status, reason: '', minor: 1, fields, length: 0 });

describe('HTTP/1.1 request heads (RFC 9112 §2–§5)', () => {
  const GET = bytes(
    'GET http://web.test:8080/a?b=1 HTTP/1.1\r\n', // request-line: method SP absolute-form SP HTTP-version (§3, §3.2.2)
    'Host: web.test:8080\r\n', // field-line: field-name ":" OWS field-value OWS (§5)
    'User-Agent: curl/7.88.1\r\n',
    'Accept:*/*\r\n', // no OWS at all
    'X-Pad: \t spaced out \t\r\n', // OWS around the value is not part of it; inside it is
    'X-Empty:\r\n', // an empty value
    'X-Latin: caf\xe9\r\n', // obs-text is kept (latin1, one char per byte)
    'set-cookie: a=1\r\n', // names as sent; repeats in order
    'Set-Cookie: b=2\r\n',
    '\r\n', // the empty line ends the head
  );

  it('a GET with every kind of field line', () => {
    const h = request(GET);
    assert.deepEqual(h, {
      method: 'GET',
      target: 'http://web.test:8080/a?b=1',
      minor: 1,
      fields: [
        'Host',
        'web.test:8080',
        'User-Agent',
        'curl/7.88.1',
        'Accept',
        '*/*',
        'X-Pad',
        'spaced out',
        'X-Empty',
        '',
        'X-Latin',
        'caf\xe9',
        'set-cookie',
        'a=1',
        'Set-Cookie',
        'b=2',
      ],
      length: GET.length,
    });
    assert.equal(field(h.fields, 'set-cookie'), 'a=1');
    assert.deepEqual(fieldValues(h.fields, 'set-cookie'), ['a=1', 'b=2']);
    assert.equal(field(h.fields, 'host'), 'web.test:8080');
    assert.equal(field(h.fields, 'x-missing'), undefined);
  });

  it('HTTP/1.0, no fields; origin-, authority- and asterisk-form targets', () => {
    assert.deepEqual(request(bytes('GET / HTTP/1.0\r\n', '\r\n')), { method: 'GET', target: '/', minor: 0, fields: [], length: 18 });
    assert.equal(request(bytes('CONNECT web.test:443 HTTP/1.1\r\n', 'Host: web.test:443\r\n', '\r\n')).target, 'web.test:443');
    assert.equal(request(bytes('OPTIONS * HTTP/1.1\r\n', 'Host: x\r\n', '\r\n')).target, '*');
  });

  it('headEnd: where the head ends (body and the next message after it are not the head), -1 until complete', () => {
    const msg = Buffer.concat([GET, bytes('body bytes\r\n\r\n')]);
    assert.equal(headEnd(msg, 0), GET.length);
    for (let k = 0; k < GET.length; k++) assert.equal(headEnd(msg.subarray(0, k), 0), -1, `cut at ${k}`);
    // resuming with `scanned`: a CRLFCRLF that straddles the previous end is still found
    for (let k = 0; k < GET.length; k++) assert.equal(headEnd(msg, 0, k), GET.length, `scanned ${k}`);
    // a head at an offset: the index is absolute in the buffer
    const two = Buffer.concat([GET, GET]);
    assert.equal(headEnd(two, GET.length), 2 * GET.length);
    assert.deepEqual(request(two, GET.length).fields, request(GET).fields);
  });

  it('§2.2: empty lines before the request line are skipped', () => {
    const buf = bytes('\r\n\r\n', 'GET / HTTP/1.1\r\n', 'Host: x\r\n', '\r\n');
    assert.equal(skipEmptyLines(buf, 0), 4);
    assert.equal(skipEmptyLines(buf, 4), 4);
    assert.equal(skipEmptyLines(bytes('\r'), 0), 0, 'half an empty line is not skipped');
    assert.equal(request(buf).length, buf.length - 4);
  });

  it('at most MAX_EMPTY_LINES are skipped: beyond them the empty line is the request line, and refused', () => {
    const line = bytes('GET / HTTP/1.1\r\n', 'Host: x\r\n', '\r\n');
    const ok = Buffer.concat([Buffer.from('\r\n'.repeat(MAX_EMPTY_LINES)), line]);
    assert.equal(request(ok).method, 'GET');
    const many = Buffer.from('\r\n'.repeat(100_000));
    assert.equal(skipEmptyLines(many, 0), 2 * MAX_EMPTY_LINES);
    assert.equal(skipEmptyLines(many, 10), 10 + 2 * MAX_EMPTY_LINES);
    throwsDecode(() => request(Buffer.concat([Buffer.from('\r\n'.repeat(MAX_EMPTY_LINES + 1)), line])), 'bad_request_line', 2 * MAX_EMPTY_LINES);
    throwsDecode(() => request(many), 'bad_request_line', 2 * MAX_EMPTY_LINES);
  });

  it('exactly MAX_HEAD_BYTES and exactly MAX_HEADER_FIELDS are accepted', () => {
    const line = 'GET / HTTP/1.1\r\n';
    const pad = 'X-Pad: ';
    const fill = MAX_HEAD_BYTES - line.length - pad.length - 4;
    const big = bytes(line, pad, 'a'.repeat(fill), '\r\n', '\r\n');
    assert.equal(big.length, MAX_HEAD_BYTES);
    assert.equal(headEnd(big, 0), MAX_HEAD_BYTES);
    const many = bytes(line, ...Array.from({ length: MAX_HEADER_FIELDS }, (_, i) => `X-${i}: ${i}\r\n`), '\r\n');
    assert.equal(request(many).fields.length, 2 * MAX_HEADER_FIELDS);
  });

  describe('rejections, each with its code and the offset of the offending line or element', () => {
    const START = 'GET / HTTP/1.1\r\n'; // 16 bytes: the first field line starts at 16
    const cases: Array<[string, Buffer, string, number]> = [
      // §5.2: obs-fold (a line starting with SP or HTAB) is rejected
      ['obs-fold with SP', bytes(START, 'X-A: 1\r\n', ' folded\r\n', '\r\n'), 'obs_fold', 24],
      ['obs-fold with HTAB', bytes(START, 'X-A: 1\r\n', '\tfolded\r\n', '\r\n'), 'obs_fold', 24],
      // §5.1: no whitespace between the field name and the colon
      ['space before the colon', bytes(START, 'Host : x\r\n', '\r\n'), 'bad_field_name', 16],
      ['tab before the colon', bytes(START, 'Host\t: x\r\n', '\r\n'), 'bad_field_name', 16],
      ['a name that is not a token', bytes(START, 'Ho(st: x\r\n', '\r\n'), 'bad_field_name', 16],
      ['a line without a colon', bytes(START, 'X-A: 1\r\n', 'NoColon\r\n', '\r\n'), 'bad_field', 24],
      ['an empty field name', bytes(START, ': x\r\n', '\r\n'), 'bad_field', 16],
      // RFC 9110 §5.5: CR, LF and NUL in a value are rejected — inside it or at its end, where trimming must not hide them
      ['NUL in a value', bytes(START, 'X-A: a\0b\r\n', '\r\n'), 'bad_field_value', 16],
      ['bare LF in a value', bytes(START, 'X-A: 1\r\n', 'X-B: a\nb\r\n', '\r\n'), 'bad_field_value', 24],
      ['bare CR in a value', bytes(START, 'X-B: a\rb\r\n', '\r\n'), 'bad_field_value', 16],
      ['bare LF ending a value', bytes(START, 'X-B: a\n\r\n', 'Host: x\r\n', '\r\n'), 'bad_field_value', 16],
      ['bare CR ending a value', bytes(START, 'X-B: a\r\r\n', 'Host: x\r\n', '\r\n'), 'bad_field_value', 16],
      ['bare LF as a whole value', bytes(START, 'X-B:\n\r\n', '\r\n'), 'bad_field_value', 16],
      // RFC 9110 §5.5: the other controls are invalid too, and the next hop's parser would see them
      ['VT in a value', bytes(START, 'X-A: a\vb\r\n', '\r\n'), 'bad_field_value', 16],
      ['FF in a value', bytes(START, 'X-A: \fa\r\n', '\r\n'), 'bad_field_value', 16],
      ['ESC in a value', bytes(START, 'X-A: a\x1b[0m\r\n', '\r\n'), 'bad_field_value', 16],
      ['DEL in a value', bytes(START, 'X-A: a\x7f\r\n', '\r\n'), 'bad_field_value', 16],
      // §3: request-line = method SP request-target SP HTTP-version
      ['only two elements', bytes('GET /\r\n', '\r\n'), 'bad_request_line', 0],
      ['one element', bytes('GET\r\n', '\r\n'), 'bad_request_line', 0],
      ['leading space', bytes(' GET / HTTP/1.1\r\n', '\r\n'), 'bad_request_line', 0],
      ['two spaces', bytes('GET  / HTTP/1.1\r\n', '\r\n'), 'bad_request_line', 0],
      ['trailing space', bytes('GET / HTTP/1.1 \r\n', '\r\n'), 'bad_request_line', 0],
      ['a method that is not a token', bytes('G{T / HTTP/1.1\r\n', '\r\n'), 'bad_method', 0],
      ['a control in the target', bytes('GET /a\x7f HTTP/1.1\r\n', '\r\n'), 'bad_target', 4],
      ['a non-ASCII target', bytes('GET /caf\xe9 HTTP/1.1\r\n', '\r\n'), 'bad_target', 4],
      // §2.3: only HTTP/1.0 and HTTP/1.1 here
      ['HTTP/1.2', bytes('GET / HTTP/1.2\r\n', '\r\n'), 'bad_version', 6],
      ['HTTP/2.0', bytes('GET /x HTTP/2.0\r\n', '\r\n'), 'bad_version', 7],
      ['lower-case version', bytes('GET / http/1.1\r\n', '\r\n'), 'bad_version', 6],
      ['HTTP/0.9 style', bytes('GET / HTTP/1\r\n', '\r\n'), 'bad_version', 6],
      ['bare LF after the version', bytes('GET / HTTP/1.1\nHost:x\r\n', '\r\n'), 'bad_version', 6],
    ];
    for (const [what, buf, code, offset] of cases) {
      it(`${what}: ${code} at ${offset}`, () => {
        throwsDecode(() => request(buf), code, offset);
        // the same head later in a buffer: the offset moves with it
        const shifted = Buffer.concat([bytes('0123456'), buf]);
        throwsDecode(() => parseRequestHead(shifted, 7, headEnd(shifted, 7)), code, offset + 7);
      });
    }

    it('head_too_large: a complete head over MAX_HEAD_BYTES, and an incomplete one that already is', () => {
      const big = bytes('GET / HTTP/1.1\r\n', 'X-Pad: ', 'a'.repeat(MAX_HEAD_BYTES), '\r\n', '\r\n');
      throwsDecode(() => headEnd(big, 0), 'head_too_large', 0);
      throwsDecode(() => headEnd(big.subarray(0, MAX_HEAD_BYTES + 1), 0), 'head_too_large', 0);
      assert.equal(headEnd(big.subarray(0, MAX_HEAD_BYTES), 0), -1, 'not over the limit yet: wait for more');
      const shifted = Buffer.concat([bytes('\r\n\r\n'), big]);
      throwsDecode(() => headEnd(shifted, 4), 'head_too_large', 4);
    });

    it('too_many_fields: MAX_HEADER_FIELDS + 1 field lines', () => {
      const many = bytes('GET / HTTP/1.1\r\n', ...Array.from({ length: MAX_HEADER_FIELDS + 1 }, (_, i) => `X-${i}: ${i}\r\n`), '\r\n');
      throwsDecode(() => request(many), 'too_many_fields', 0);
    });
  });
});

describe('HTTP/1.1 response heads (RFC 9112 §4)', () => {
  const OK = bytes(
    'HTTP/1.1 200 OK\r\n', // status-line: HTTP-version SP status-code SP [ reason-phrase ]
    'Content-Type: text/plain\r\n',
    'Transfer-Encoding: chunked\r\n',
    '\r\n',
  );

  it('a 200 with fields; body after the head is not part of it', () => {
    const buf = Buffer.concat([OK, bytes('5\r\nhello\r\n0\r\n\r\n')]);
    assert.deepEqual(response(buf), {
      status: 200,
      reason: 'OK',
      minor: 1,
      fields: ['Content-Type', 'text/plain', 'Transfer-Encoding', 'chunked'],
      length: OK.length,
    });
  });

  it('reason phrases: several words, empty, missing, with HTAB and obs-text; HTTP/1.0', () => {
    assert.equal(response(bytes('HTTP/1.0 404 Not Found Here\r\n', '\r\n')).reason, 'Not Found Here');
    assert.equal(response(bytes('HTTP/1.0 404 Not Found Here\r\n', '\r\n')).minor, 0);
    assert.deepEqual(response(bytes('HTTP/1.1 204 \r\n', '\r\n')), { status: 204, reason: '', minor: 1, fields: [], length: 17 });
    assert.deepEqual(response(bytes('HTTP/1.1 204\r\n', '\r\n')), { status: 204, reason: '', minor: 1, fields: [], length: 16 });
    assert.equal(response(bytes('HTTP/1.1 200 a\tb \xe9\r\n', '\r\n')).reason, 'a\tb \xe9');
    assert.equal(response(bytes('HTTP/1.1 100 Continue\r\n', '\r\n')).status, 100);
  });

  const cases: Array<[string, Buffer, string, number]> = [
    ['garbage', bytes('GARBAGE\r\n', '\r\n'), 'bad_status_line', 0],
    ['an empty status line', bytes('\r\n', '\r\n'), 'bad_status_line', 0],
    ['HTTP/1.2', bytes('HTTP/1.2 200 OK\r\n', '\r\n'), 'bad_status_line', 0],
    ['HTTP/2', bytes('HTTP/2 200\r\n', '\r\n'), 'bad_status_line', 0],
    ['no space after the version', bytes('HTTP/1.1200 OK\r\n', '\r\n'), 'bad_status_line', 0],
    ['a two-digit status', bytes('HTTP/1.1 20 OK\r\n', '\r\n'), 'bad_status', 9],
    ['a four-digit status', bytes('HTTP/1.1 2000 OK\r\n', '\r\n'), 'bad_status', 9],
    ['a status with a leading zero', bytes('HTTP/1.1 099 X\r\n', '\r\n'), 'bad_status', 9],
    ['letters as status', bytes('HTTP/1.1 abc OK\r\n', '\r\n'), 'bad_status', 9],
    ['no status at all', bytes('HTTP/1.1 \r\n', '\r\n'), 'bad_status', 9],
    ['a control in the reason', bytes('HTTP/1.1 200 O\x01K\r\n', '\r\n'), 'bad_reason', 13],
    ['bare LF in the reason', bytes('HTTP/1.1 200 OK\nX: y\r\n', '\r\n'), 'bad_reason', 13],
    ['obs-fold', bytes('HTTP/1.1 200 OK\r\n', 'X-A: 1\r\n', ' 2\r\n', '\r\n'), 'obs_fold', 25],
    ['space before the colon', bytes('HTTP/1.1 200 OK\r\n', 'Content-Length : 5\r\n', '\r\n'), 'bad_field_name', 17],
    ['bare LF ending a value', bytes('HTTP/1.1 200 OK\r\n', 'Content-Length: 5\n\r\n', '\r\n'), 'bad_field_value', 17],
  ];
  for (const [what, buf, code, offset] of cases) {
    it(`${what}: ${code} at ${offset}`, () => {
      throwsDecode(() => response(buf), code, offset);
      const shifted = Buffer.concat([bytes('xyz'), buf]);
      throwsDecode(() => parseResponseHead(shifted, 3, headEnd(shifted, 3)), code, offset + 3);
    });
  }

  it('too_many_fields and head_too_large apply to responses too', () => {
    const many = bytes('HTTP/1.1 200 OK\r\n', ...Array.from({ length: MAX_HEADER_FIELDS + 1 }, (_, i) => `X-${i}: ${i}\r\n`), '\r\n');
    throwsDecode(() => response(many), 'too_many_fields', 0);
    throwsDecode(() => headEnd(bytes('HTTP/1.1 200 OK\r\n', 'X: ', 'a'.repeat(MAX_HEAD_BYTES)), 0), 'head_too_large', 0);
  });
});

describe('listTokens (RFC 9110 §5.6.1)', () => {
  it('splits, trims OWS, lower-cases and drops empty elements, across field lines', () => {
    assert.deepEqual(listTokens(['Keep-Alive, ,Upgrade', ' close\t', '']), ['keep-alive', 'upgrade', 'close']);
    assert.deepEqual(listTokens([]), []);
  });
  it('only SP and HTAB are OWS: a VT, FF or NBSP stays part of the token', () => {
    assert.deepEqual(listTokens(['chunked\v', '\fchunked', 'chunked\xa0']), ['chunked\v', '\fchunked', 'chunked\xa0']);
    // (in a field value the codec refuses VT and FF outright; NBSP is obs-text, kept as it is)
    const h = request(bytes('POST / HTTP/1.1\r\n', 'X-A: \ta \xa0\r\n', '\r\n'));
    assert.equal(field(h.fields, 'x-a'), 'a \xa0');
  });
});

describe('message body framing (RFC 9112 §6.3)', () => {
  describe('requests', () => {
    it('rule 7 / none: no Transfer-Encoding or Content-Length, or Content-Length 0, means no body', () => {
      assert.deepEqual(requestFraming(req(1)), { type: 'none' });
      assert.deepEqual(requestFraming(req(1, 'Content-Length', '0')), { type: 'none' });
      assert.deepEqual(requestFraming(req(0, 'Content-Length', '0')), { type: 'none' });
    });
    it('rule 6: Content-Length; repeats of one value (a list or several fields) are that value (RFC 9110 §8.6)', () => {
      assert.deepEqual(requestFraming(req(1, 'Content-Length', '10')), { type: 'length', length: 10 });
      assert.deepEqual(requestFraming(req(0, 'content-length', '10')), { type: 'length', length: 10 });
      assert.deepEqual(requestFraming(req(1, 'Content-Length', '10, 10')), { type: 'length', length: 10 });
      assert.deepEqual(requestFraming(req(1, 'Content-Length', '10', 'CONTENT-LENGTH', '10')), { type: 'length', length: 10 });
      assert.deepEqual(requestFraming(req(1, 'Content-Length', '007')), { type: 'length', length: 7 });
    });
    it('rule 5: differing or invalid Content-Length → 400 bad_content_length', () => {
      for (const fields of [
        ['Content-Length', '10, 11'],
        ['Content-Length', '10', 'Content-Length', '11'],
        ['Content-Length', '-1'],
        ['Content-Length', '+5'],
        ['Content-Length', '0x10'],
        ['Content-Length', '1e3'],
        ['Content-Length', ''],
        ['Content-Length', '5,'],
        ['Content-Length', '1234567890123456'],
        ['Content-Length', '5\v'],
        ['Content-Length', '\xa05'],
      ])
        throwsFraming(() => requestFraming(req(1, ...fields)), 400, 'bad_content_length');
    });
    it('rule 4: Transfer-Encoding chunked (any case) frames the body', () => {
      assert.deepEqual(requestFraming(req(1, 'Transfer-Encoding', 'chunked')), { type: 'chunked' });
      assert.deepEqual(requestFraming(req(1, 'transfer-encoding', 'Chunked')), { type: 'chunked' });
    });
    it('rule 3: Transfer-Encoding and Content-Length together → 400 te_and_cl (whatever the Content-Length)', () => {
      throwsFraming(() => requestFraming(req(1, 'Transfer-Encoding', 'chunked', 'Content-Length', '5')), 400, 'te_and_cl');
      throwsFraming(() => requestFraming(req(1, 'Content-Length', '0', 'Transfer-Encoding', 'chunked')), 400, 'te_and_cl');
      throwsFraming(() => requestFraming(req(1, 'Content-Length', 'nonsense', 'Transfer-Encoding', 'chunked')), 400, 'te_and_cl');
    });
    it('§6.1: Transfer-Encoding in an HTTP/1.0 request → 400 te_in_http10', () => {
      throwsFraming(() => requestFraming(req(0, 'Transfer-Encoding', 'chunked')), 400, 'te_in_http10');
    });
    it('§6.1: an unknown coding before chunked → 501; chunked not last (or absent) → 400 (rule 4)', () => {
      throwsFraming(() => requestFraming(req(1, 'Transfer-Encoding', 'gzip, chunked')), 501, 'transfer_coding');
      throwsFraming(() => requestFraming(req(1, 'Transfer-Encoding', 'gzip', 'Transfer-Encoding', 'chunked')), 501, 'transfer_coding');
      throwsFraming(() => requestFraming(req(1, 'Transfer-Encoding', 'chunked, gzip')), 400, 'transfer_coding');
      throwsFraming(() => requestFraming(req(1, 'Transfer-Encoding', 'gzip')), 400, 'transfer_coding');
      throwsFraming(() => requestFraming(req(1, 'Transfer-Encoding', '')), 400, 'transfer_coding');
      // a value this proxy reads as chunked is the one it forwards; "chunked\v" is not chunked to anyone
      throwsFraming(() => requestFraming(req(1, 'Transfer-Encoding', 'chunked\v')), 400, 'transfer_coding');
      throwsFraming(() => requestFraming(req(1, 'Transfer-Encoding', 'chunked\xa0')), 400, 'transfer_coding');
    });
  });

  describe('responses', () => {
    it('rule 1: HEAD responses and 1xx, 204, 304 have no body, whatever their fields say', () => {
      assert.deepEqual(responseFraming(res(200, 'Content-Length', '100'), 'HEAD'), { type: 'none' });
      assert.deepEqual(responseFraming(res(200, 'Transfer-Encoding', 'chunked'), 'HEAD'), { type: 'none' });
      assert.deepEqual(responseFraming(res(200, 'Content-Length', 'bogus'), 'HEAD'), { type: 'none' });
      for (const s of [100, 102, 103, 204, 304]) {
        assert.deepEqual(responseFraming(res(s, 'Content-Length', '100'), 'GET'), { type: 'none' }, `${s}`);
        assert.deepEqual(responseFraming(res(s), 'GET'), { type: 'none' }, `${s} without fields`);
      }
    });
    it('rule 3/4: Transfer-Encoding wins over Content-Length; chunked as the final coding frames the body', () => {
      assert.deepEqual(responseFraming(res(200, 'Transfer-Encoding', 'chunked', 'Content-Length', '5'), 'GET'), { type: 'chunked' });
      assert.deepEqual(responseFraming(res(200, 'Transfer-Encoding', 'gzip, chunked'), 'GET'), { type: 'chunked' });
      assert.deepEqual(responseFraming(res(200, 'Transfer-Encoding', 'gzip', 'Transfer-Encoding', 'CHUNKED'), 'POST'), { type: 'chunked' });
    });
    it('rule 4: a response Transfer-Encoding not ending in chunked is read until close', () => {
      assert.deepEqual(responseFraming(res(200, 'Transfer-Encoding', 'chunked, gzip'), 'GET'), { type: 'close' });
      assert.deepEqual(responseFraming(res(200, 'Transfer-Encoding', 'gzip', 'Content-Length', '5'), 'GET'), { type: 'close' });
    });
    it('rule 5: an invalid or differing Content-Length from upstream → 502 bad_content_length', () => {
      throwsFraming(() => responseFraming(res(200, 'Content-Length', 'x'), 'GET'), 502, 'bad_content_length');
      throwsFraming(() => responseFraming(res(200, 'Content-Length', '5', 'Content-Length', '6'), 'GET'), 502, 'bad_content_length');
      throwsFraming(() => responseFraming(res(404, 'Content-Length', '5, 6'), 'GET'), 502, 'bad_content_length');
    });
    it('rule 6: Content-Length (0 is no body); rule 8: neither field → until close', () => {
      assert.deepEqual(responseFraming(res(200, 'Content-Length', '5'), 'GET'), { type: 'length', length: 5 });
      assert.deepEqual(responseFraming(res(200, 'Content-Length', '5, 5'), 'GET'), { type: 'length', length: 5 });
      assert.deepEqual(responseFraming(res(200, 'Content-Length', '0'), 'GET'), { type: 'none' });
      assert.deepEqual(responseFraming(res(200), 'GET'), { type: 'close' });
      assert.deepEqual(responseFraming(res(500), 'POST'), { type: 'close' });
    });
  });
});

/** Feeds `buf` to a new reader in the pieces that `cuts` make; returns where the message ended, the payload and the de-chunked bytes. */
function readInPieces(framing: Framing, buf: Buffer, cuts: number[]): { end: number; payload: number; out: Buffer; done: boolean } {
  const parts: Buffer[] = [];
  const r = new BodyReader(framing, (b, s, e) => parts.push(Buffer.from(b.subarray(s, e))));
  let base = 0;
  let end = -1;
  for (const [a, b] of [0, ...cuts, buf.length].flatMap((c, i, all) => (i + 1 < all.length ? [[c, all[i + 1]!] as const] : []))) {
    // every piece is its own Buffer (as sockets deliver them), fed with an offset inside it to check indices are absolute
    const piece = Buffer.concat([Buffer.from('~~~'), buf.subarray(a, b), Buffer.from('~~')]);
    const stop = r.feed(piece, 3, 3 + (b - a));
    assert.ok(stop >= 3 && stop <= 3 + (b - a), `stop ${stop} inside the slice`);
    if (r.done && end < 0) end = base + stop - 3;
    else assert.equal(stop, 3 + (b - a), 'a reader that is not done consumes the whole slice');
    base += b - a;
    if (r.done) break;
  }
  return { end, payload: r.payload, out: Buffer.concat(parts), done: r.done };
}

/** The error `feed` throws for `buf` fed in these pieces. */
function errorInPieces(buf: Buffer, cuts: number[]): DecodeError {
  try {
    readInPieces({ type: 'chunked' }, buf, cuts);
  } catch (e) {
    assert.ok(e instanceof DecodeError, String(e));
    return e;
  }
  assert.fail('no error');
}

describe('BodyReader (RFC 9112 §6, §7.1)', () => {
  const NEXT = bytes('GET /next HTTP/1.1\r\n\r\n');

  it('none: done from the start, consumes nothing', () => {
    const r = new BodyReader({ type: 'none' });
    assert.equal(r.done, true);
    assert.equal(r.feed(NEXT, 0, NEXT.length), 0);
    assert.equal(r.payload, 0);
  });

  it('Content-Length: ends exactly after that many bytes, whatever the pieces', () => {
    const body = bytes('0123456789');
    const stream = Buffer.concat([body, NEXT]);
    for (let k = 0; k <= stream.length; k++) {
      const got = readInPieces({ type: 'length', length: 10 }, stream, [k]);
      assert.deepEqual(got, { end: 10, payload: 10, out: body, done: true }, `split at ${k}`);
    }
    const r = new BodyReader({ type: 'length', length: 10 });
    assert.equal(r.feed(stream, 0, 4), 4);
    assert.equal(r.done, false);
    assert.equal(r.feed(stream, 4, stream.length), 10);
    assert.equal(r.done, true);
    assert.equal(r.feed(stream, 10, stream.length), 10, 'done: nothing more is this body');
  });

  it('Content-Length 0: done from the start', () => {
    const r = new BodyReader({ type: 'length', length: 0 });
    assert.equal(r.done, true);
    assert.equal(r.feed(NEXT, 0, NEXT.length), 0);
  });

  it('close-delimited: everything is body until end()', () => {
    const r = new BodyReader({ type: 'close' });
    assert.equal(r.delimitedByClose, true);
    assert.equal(r.feed(NEXT, 0, NEXT.length), NEXT.length);
    assert.equal(r.feed(NEXT, 5, 9), 9);
    assert.equal(r.done, false);
    r.end();
    assert.equal(r.done, true);
    assert.equal(r.payload, NEXT.length + 4);
    const len = new BodyReader({ type: 'length', length: 3 });
    len.end();
    assert.equal(len.done, false, 'end() does not complete a body of known length');
  });

  // A chunked body with every element of §7.1 in it
  const CHUNKED = bytes(
    '5\r\n', // chunk-size CRLF
    'hello\r\n', // chunk-data CRLF
    '7;name=value\r\n', // chunk-size chunk-ext (§7.1.1)
    ', world\r\n',
    '1 ; a ; b="q;\\"x"\r\n', // BWS around ";", quoted-string ext value
    '!\r\n',
    'A\r\n', // upper-case hex
    '\r\n\r\n\r\n\r\n\r\n\r\n', // data that looks like framing
    'b\r\n', // lower-case hex
    '0123456789a\r\n',
    '000;last\r\n', // last-chunk: zeros with an extension
    'Expires: never\r\n', // trailer-section (§7.1.2)
    'X-Sum: 42\r\n',
    '\r\n', // the end of the chunked body
  );
  const DECODED = bytes('hello', ', world', '!', '\r\n\r\n\r\n\r\n\r\n', '0123456789a');

  it('chunked with extensions and trailers: ends exactly before the next message; payload is the de-chunked size', () => {
    const stream = Buffer.concat([CHUNKED, NEXT]);
    const r = new BodyReader({ type: 'chunked' });
    assert.equal(r.feed(stream, 0, stream.length), CHUNKED.length);
    assert.equal(r.done, true);
    assert.equal(r.payload, DECODED.length);
    assert.deepEqual(readInPieces({ type: 'chunked' }, stream, []), { end: CHUNKED.length, payload: DECODED.length, out: DECODED, done: true });
  });

  it('chunked, the simplest bodies: only the last chunk, and a last chunk with no trailers', () => {
    assert.deepEqual(readInPieces({ type: 'chunked' }, bytes('0\r\n\r\n', 'X'), []), { end: 5, payload: 0, out: Buffer.alloc(0), done: true });
    assert.deepEqual(readInPieces({ type: 'chunked' }, bytes('3\r\nabc\r\n0\r\n\r\n'), []), { end: 13, payload: 3, out: bytes('abc'), done: true });
  });

  it('split at every byte: every 2-way and 3-way split and byte by byte give the same end, payload and bytes', () => {
    const stream = Buffer.concat([CHUNKED, NEXT]);
    const want = { end: CHUNKED.length, payload: DECODED.length, out: DECODED, done: true };
    for (let k = 0; k <= stream.length; k++) assert.deepEqual(readInPieces({ type: 'chunked' }, stream, [k]), want, `split at ${k}`);
    for (let a = 0; a <= CHUNKED.length; a += 3)
      for (let b = a; b <= CHUNKED.length; b += 5) assert.deepEqual(readInPieces({ type: 'chunked' }, stream, [a, b]), want, `split at ${a}, ${b}`);
    const every = Array.from({ length: stream.length - 1 }, (_, i) => i + 1);
    assert.deepEqual(readInPieces({ type: 'chunked' }, stream, every), want, 'byte by byte');
  });

  it('a large chunk fed in pieces of every size', () => {
    const data = Buffer.alloc(70_000, 0x5a);
    const stream = Buffer.concat([bytes('11170\r\n'), data, bytes('\r\n0\r\n\r\n')]);
    for (const step of [1, 7, 4096, 65_536]) {
      const cuts = [];
      for (let c = step; c < stream.length; c += step) cuts.push(c);
      const got = readInPieces({ type: 'chunked' }, stream, cuts);
      assert.equal(got.end, stream.length);
      assert.equal(got.payload, data.length);
      assert.ok(got.out.equals(data));
    }
  });

  describe('chunked errors: a distinct code, at the same stream offset however the bytes are split', () => {
    const cases: Array<[string, Buffer, string, number]> = [
      ['no chunk size', bytes('\r\n'), 'bad_chunk_size', 0],
      ['a size that is not hex', bytes('x\r\n'), 'bad_chunk_size', 0],
      ['a negative size', bytes('-1\r\n'), 'bad_chunk_size', 0],
      ['a 0x prefix', bytes('0x10\r\n'), 'bad_chunk_size', 1],
      ['junk after the size', bytes('5x\r\nhello\r\n'), 'bad_chunk_size', 1],
      ['a second number after BWS', bytes('5 6\r\nhello\r\n'), 'bad_chunk_size', 2],
      ['a size in the next chunk not hex', bytes('1\r\na\r\ng\r\n'), 'bad_chunk_size', 6],
      ['13 hex digits', bytes('1000000000000\r\n'), 'chunk_too_large', 12],
      ['bare LF after the size', bytes('5\nhello\r\n'), 'bad_chunk_size', 1],
      ['CR not followed by LF after the size', bytes('5\rhello\r\n'), 'bad_chunk_line', 2],
      ['CR not followed by LF after an extension', bytes('5;a\rhello\r\n'), 'bad_chunk_line', 4],
      ['bare LF in an extension', bytes('5;a\nb\r\nhello\r\n'), 'bad_chunk_ext', 3],
      ['NUL in an extension', bytes('5;ab\0\r\nhello\r\n'), 'bad_chunk_ext', 4],
      ['BWS over 4096 bytes', bytes('5', ' '.repeat(5000), ';a\r\nhello\r\n'), 'chunk_ext_too_large', 4097],
      ['an extension over 4096 bytes', bytes('5;', 'a'.repeat(5000), '\r\nhello\r\n'), 'chunk_ext_too_large', 4097],
      ['data longer than its size', bytes('3\r\nabcd\r\n'), 'bad_chunk_data', 6],
      ['data followed by CR then not LF', bytes('3\r\nabc\rX'), 'bad_chunk_data', 7],
      ['data followed by bare LF', bytes('3\r\nabc\n0\r\n\r\n'), 'bad_chunk_data', 6],
      ['a trailer line ended by CR alone', bytes('0\r\n', 'X: a\rY: b\r\n\r\n'), 'bad_trailer', 8],
      ['bare LF in a trailer line (a smuggled request behind it)', bytes('0\r\n', 'X: a\n\r\nGET /smuggled HTTP/1.1\r\n\r\n'), 'bad_trailer', 7],
      ['NUL in a trailer line', bytes('0\r\n', 'X: a\0\r\n\r\n'), 'bad_trailer', 7],
      [
        'a trailer section over MAX_HEAD_BYTES',
        bytes('0\r\n', 'X: ', 'a'.repeat(MAX_HEAD_BYTES), '\r\n\r\n'),
        'trailer_too_large',
        3 + MAX_HEAD_BYTES,
      ],
      ['the final CRLF is CR then not LF', bytes('0\r\n\rX'), 'bad_chunk_end', 4],
    ];
    for (const [what, buf, code, offset] of cases) {
      it(`${what}: ${code} at ${offset}`, () => {
        const whole = errorInPieces(buf, []);
        assert.deepEqual({ code: whole.code, offset: whole.offset }, { code, offset });
        const step = Math.max(1, Math.floor(buf.length / 200));
        for (let k = 0; k <= buf.length; k += step) {
          const e = errorInPieces(buf, [k]);
          assert.deepEqual({ code: e.code, offset: e.offset }, { code, offset }, `split at ${k}`);
        }
        if (buf.length < 200) {
          const e = errorInPieces(
            buf,
            Array.from({ length: buf.length - 1 }, (_, i) => i + 1),
          );
          assert.deepEqual({ code: e.code, offset: e.offset }, { code, offset }, 'byte by byte');
        }
      });
    }
  });

  it('a trailer section just under MAX_HEAD_BYTES is accepted byte by byte as in one piece', () => {
    // the trailer section's size must not depend on how it arrived
    const line = `X: ${'a'.repeat(MAX_HEAD_BYTES - 12)}\r\n`;
    const buf = bytes('0\r\n', line, '\r\n');
    const every = Array.from({ length: buf.length - 1 }, (_, i) => i + 1);
    assert.deepEqual(readInPieces({ type: 'chunked' }, buf, []), { end: buf.length, payload: 0, out: Buffer.alloc(0), done: true });
    assert.deepEqual(readInPieces({ type: 'chunked' }, buf, every), { end: buf.length, payload: 0, out: Buffer.alloc(0), done: true });
  });

  it('the stream offset of an error counts every byte fed before it', () => {
    const r = new BodyReader({ type: 'chunked' });
    const a = bytes('3\r\nabc\r\n');
    assert.equal(r.feed(a, 0, a.length), a.length);
    throwsDecode(() => r.feed(bytes('..zz'), 2, 4), 'bad_chunk_size', a.length);
  });
});

describe('forwardedHead keeps the framing the proxy relays', () => {
  it('a Connection option cannot remove Content-Length or Transfer-Encoding (the body is still relayed as framed)', () => {
    const raw = ['Content-Length', '40', 'Connection', 'content-length, x-hop', 'X-Hop', '1', 'Accept', '*/*'];
    assert.equal(forwardedHead(raw, {}), 'Content-Length: 40\r\nAccept: */*\r\n');
    const chunked = ['Transfer-Encoding', 'chunked', 'Connection', 'Transfer-Encoding'];
    assert.equal(forwardedHead(chunked, { keepTransferEncoding: true }), 'Transfer-Encoding: chunked\r\n');
  });
});

describe('parseAuthority (RFC 3986 §3.2.2)', () => {
  it('host and port; IP literals; the default port; names lower-cased', () => {
    assert.deepEqual(parseAuthority('Web.Example:8080', 80), { host: 'web.example', port: 8080 });
    assert.deepEqual(parseAuthority('web.example', 80), { host: 'web.example', port: 80 });
    assert.deepEqual(parseAuthority('[2001:DB8::1]:443', 0), { host: '2001:db8::1', port: 443 });
    assert.deepEqual(parseAuthority('10.0.0.1:3128', 0), { host: '10.0.0.1', port: 3128 });
    assert.deepEqual(parseAuthority('under_score.example', 80), { host: 'under_score.example', port: 80 });
  });
  it('refuses what would make the recorded URL name another host, bad ports and empty hosts', () => {
    for (const a of [
      'bank.example#.evil.example',
      'bank.example?.evil.example',
      'bank.example\\.evil.example',
      'a\x01b.example',
      'a"b.example',
      'a<b>.example',
      'a^b',
      'a|b',
      'a`b',
      'a{b}',
      'user@host',
      'a/b',
      'h\xe9.example',
      '',
      ':80',
      'h:',
      'h:0',
      'h:65536',
      'h:123456',
      'h:-1',
      '[::1',
      'a b',
    ])
      assert.equal(parseAuthority(a, 80), undefined, JSON.stringify(a));
  });
});
