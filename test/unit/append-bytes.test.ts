import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { appendBytes } from '../../src/gateway/proxy/append-bytes.ts';

describe('appendBytes (a head arriving over many reads)', () => {
  it('10,000 one-byte appends give the same bytes as one concatenation, in a handful of allocations', () => {
    const src = randomBytes(10_000);
    let buf: Buffer = src.subarray(0, 1);
    const stores = new Set<ArrayBufferLike>();
    for (let i = 1; i < src.length; i++) {
      buf = appendBytes(buf, src.subarray(i, i + 1));
      stores.add(buf.buffer);
    }
    assert.ok(buf.equals(src));
    // capacity doubles: 1 KiB, 2 KiB … 16 KiB — not one copy of everything per byte
    assert.ok(stores.size <= 6, `${stores.size} buffers`);
  });

  it('appending after a consumed prefix (a parsed head, pipelined bytes left) keeps the rest and adds in place', () => {
    let buf: Buffer = appendBytes(Buffer.from('GET /a HTTP/1.1\r\n\r\nGE'), Buffer.from('T /b'));
    const rest = buf.subarray(19);
    assert.equal(rest.toString(), 'GET /b');
    buf = appendBytes(rest, Buffer.from(' HTTP/1.1\r\n\r\n'));
    assert.equal(buf.toString(), 'GET /b HTTP/1.1\r\n\r\n');
    assert.equal(buf.buffer, rest.buffer, 'no new allocation while there is room');
  });

  it('appending to an older view never overwrites bytes a later append put after it', () => {
    const a = appendBytes(Buffer.from('abc'), Buffer.from('def'));
    const b = appendBytes(a, Buffer.from('GHI'));
    const c = appendBytes(a, Buffer.from('xyz'));
    assert.equal(b.toString(), 'abcdefGHI');
    assert.equal(c.toString(), 'abcdefxyz');
  });

  it('buffers it did not allocate (a socket chunk, a pooled Buffer) are never written past their end', () => {
    const pool = Buffer.from('0123456789');
    const view = pool.subarray(0, 4);
    const out = appendBytes(view, Buffer.from('ab'));
    assert.equal(out.toString(), '0123ab');
    assert.equal(pool.toString(), '0123456789');
  });
});
