import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseRequestHead } from '../../src/gateway/proxy/http1-head.ts';
import { absoluteTarget, authorityTarget, originTarget, requestTarget } from '../../src/gateway/proxy/target.ts';

/** A request head as the client connection gets it from http1-head.ts. */
function head(requestLine: string, ...fields: string[]): Parameters<typeof requestTarget>[0] {
  const b = Buffer.from(`${requestLine}\r\n${fields.map((f) => `${f}\r\n`).join('')}\r\n`, 'latin1');
  return parseRequestHead(b, 0, b.length);
}

describe('proxy target: absolute-form (RFC 9112 §3.2.2)', () => {
  it('splits a plain URI without URL, default port 80 left out of the URL', () => {
    assert.deepEqual(absoluteTarget('http://example.com/a/b?c=d'), {
      host: 'example.com',
      port: 80,
      path: '/a/b?c=d',
      url: 'http://example.com/a/b?c=d',
    });
    assert.deepEqual(absoluteTarget('http://example.com'), { host: 'example.com', port: 80, path: '/', url: 'http://example.com/' });
    assert.deepEqual(absoluteTarget('http://example.com:80/x'), { host: 'example.com', port: 80, path: '/x', url: 'http://example.com/x' });
    assert.deepEqual(absoluteTarget('http://10.0.0.1:8080/'), { host: '10.0.0.1', port: 8080, path: '/', url: 'http://10.0.0.1:8080/' });
  });

  it('normalises what URL normalises: case, trailing dot, dot segments, IPv4 numbers, IPv6 literals', () => {
    assert.deepEqual(absoluteTarget('HTTP://Example.COM/a'), { host: 'example.com', port: 80, path: '/a', url: 'http://example.com/a' });
    assert.deepEqual(absoluteTarget('http://example.com/a/../b/./c'), { host: 'example.com', port: 80, path: '/b/c', url: 'http://example.com/b/c' });
    // percent-encoded dot segments are dot segments to URL (a fast-check counterexample: "/%2E")
    assert.deepEqual(absoluteTarget('http://a0/%2E'), { host: 'a0', port: 80, path: '/', url: 'http://a0/' });
    assert.deepEqual(absoluteTarget('http://a0/x/%2e%2E/y'), { host: 'a0', port: 80, path: '/y', url: 'http://a0/y' });
    assert.deepEqual(absoluteTarget('http://127.1/'), { host: '127.0.0.1', port: 80, path: '/', url: 'http://127.0.0.1/' });
    assert.deepEqual(absoluteTarget('http://2130706433/'), { host: '127.0.0.1', port: 80, path: '/', url: 'http://127.0.0.1/' });
    assert.deepEqual(absoluteTarget('http://0x7f000001/'), { host: '127.0.0.1', port: 80, path: '/', url: 'http://127.0.0.1/' });
    assert.deepEqual(absoluteTarget('http://[::1]:8080/p'), { host: '::1', port: 8080, path: '/p', url: 'http://[::1]:8080/p' });
  });

  it('refuses what is not an http URI or not a reachable authority', () => {
    for (const raw of [
      'https://example.com/',
      'http://',
      'http://example.com:0/',
      'http://example.com:65536/',
      'http://exa mple.com/',
      'ftp://example.com/',
      '/relative',
    ])
      assert.equal(absoluteTarget(raw), undefined, raw);
  });

  it('the fast path gives what URL gives, for every plain URI', () => {
    const label = fc.stringMatching(/^[a-z0-9-]{1,8}$/);
    const host = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));
    const path = fc.stringMatching(/^(\/[A-Za-z0-9\-_~!$&()*+,;=:@?%]{0,6}){0,4}$/);
    const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });
    fc.assert(
      fc.property(host, port, path, (h, p, pa) => {
        const raw = `http://${h}${p === undefined ? '' : `:${p}`}${pa}`;
        if (/\?$/.test(pa)) return; // an empty query: see the next test
        let u: URL;
        try {
          u = new URL(raw);
        } catch {
          return; // not a URI at all (the fast path may still refuse it differently: both are undefined below)
        }
        const t = absoluteTarget(raw);
        if (!t) return;
        assert.equal(t.url, `http://${u.host}${u.pathname}${u.search}`, raw);
        assert.equal(t.path, `${u.pathname}${u.search}`, raw);
        assert.equal(t.port, u.port === '' ? 80 : Number(u.port), raw);
      }),
      { numRuns: 5000 },
    );
  });

  it('an empty query stays as sent on the fast path (URL would drop the "?")', () => {
    // recorded as found in the split of http-proxy.ts (issue 15); behaviour kept, not judged here
    assert.deepEqual(absoluteTarget('http://example.com/?'), { host: 'example.com', port: 80, path: '/?', url: 'http://example.com/?' });
    assert.equal(new URL('http://example.com/?').search, '');
  });
});

describe('proxy target: origin-form with Host (RFC 9112 §3.2.1, §3.2)', () => {
  it('takes the authority from exactly one Host field', () => {
    assert.deepEqual(originTarget('/a?b', ['example.com']), { host: 'example.com', port: 80, path: '/a?b', url: 'http://example.com/a?b' });
    assert.deepEqual(originTarget('/', ['Example.com:8080']), { host: 'example.com', port: 8080, path: '/', url: 'http://example.com:8080/' });
    assert.equal(originTarget('/', []), undefined);
    assert.equal(originTarget('/', ['a.example', 'b.example']), undefined);
    assert.equal(originTarget('/', ['bank.example#.evil.example']), undefined);
    assert.equal(originTarget('/', ['example.com:99999']), undefined);
  });
});

describe('proxy target: by mode', () => {
  it('explicit mode takes only absolute-form', () => {
    assert.deepEqual(requestTarget(head('GET http://example.com/x HTTP/1.1', 'Host: other.example'), 'explicit'), {
      host: 'example.com',
      port: 80,
      path: '/x',
      url: 'http://example.com/x',
    });
    assert.equal(requestTarget(head('GET /x HTTP/1.1', 'Host: example.com'), 'explicit'), undefined);
  });

  it('transparent mode takes origin-form with Host, and absolute-form too (the URI wins over Host)', () => {
    assert.deepEqual(requestTarget(head('GET /x HTTP/1.1', 'Host: example.com'), 'transparent'), {
      host: 'example.com',
      port: 80,
      path: '/x',
      url: 'http://example.com/x',
    });
    assert.deepEqual(requestTarget(head('GET http://a.example/ HTTP/1.1', 'Host: b.example'), 'transparent'), {
      host: 'a.example',
      port: 80,
      path: '/',
      url: 'http://a.example/',
    });
    assert.equal(requestTarget(head('GET /x HTTP/1.1', 'Host: a.example', 'Host: b.example'), 'transparent'), undefined);
    assert.equal(requestTarget(head('OPTIONS * HTTP/1.1', 'Host: example.com'), 'transparent'), undefined);
  });
});

describe('proxy target: CONNECT authority-form (RFC 9112 §3.2.3)', () => {
  it('needs host and port', () => {
    assert.deepEqual(authorityTarget('example.com:443'), { host: 'example.com', port: 443 });
    assert.deepEqual(authorityTarget('[2001:db8::1]:443'), { host: '2001:db8::1', port: 443 });
    for (const raw of ['example.com', 'example.com:0', 'example.com:70000', 'http://example.com:443', ''])
      assert.equal(authorityTarget(raw), undefined, raw);
  });
});
