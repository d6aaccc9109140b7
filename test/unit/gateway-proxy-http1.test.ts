/**
 * The explicit proxy's HTTP/1.1 mechanics through real sockets: raw net clients where the exact request bytes
 * matter, raw net upstreams where the exact response bytes matter, and curl as a real client.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { createGatewayMetrics } from '../../src/gateway/metrics.ts';
import { HttpProxy } from '../../src/gateway/proxy/http-proxy.ts';
import { createLogger } from '../../src/log/logger.ts';
import { MemoryAudit, MemorySeats, session, loopbackDestinations } from '../helpers/gateway-harness.ts';

const run = promisify(execFile);
const seats = new MemorySeats();
let audit = new MemoryAudit();
const sink = { append: (r: Parameters<MemoryAudit['append']>[0]) => audit.append(r) };
const HOST = 'web.bggw.test';
let proxy: HttpProxy;
let proxyPort = 0;

before(async () => {
  proxy = new HttpProxy({
    seats,
    audit: sink,
    logger: createLogger('silent'),
    metrics: createGatewayMetrics(new Registry()),
    // the second name stands for a DNS zone an attacker controls, which answers any label
    destinations: loopbackDestinations({ [HOST]: '127.0.0.1', 'bank.example#.evil.example': '127.0.0.1' }),
    options: { mode: 'explicit', host: '127.0.0.1', port: 0, connectTimeoutMs: 2000, idleTimeoutMs: 5000, connectPorts: 'any' },
  });
  proxyPort = await proxy.start();
});
after(() => proxy.stop());

/** What a raw upstream connection has received so far, and its socket to answer on. */
interface UpConn {
  sock: net.Socket;
  data: Buffer;
  /** index of this connection among the server's connections */
  n: number;
  /** requests the test's handler has answered on it */
  answered: number;
}

/** A net server whose `onData` sees every connection's accumulated bytes on each arrival. */
class RawUpstream {
  readonly conns: UpConn[] = [];
  readonly server: net.Server;
  port = 0;
  constructor(private readonly onData: (c: UpConn, up: RawUpstream) => void) {
    this.server = net.createServer((sock) => {
      const c: UpConn = { sock, data: Buffer.alloc(0), n: this.conns.length, answered: 0 };
      this.conns.push(c);
      sock.on('data', (b: Buffer) => {
        c.data = Buffer.concat([c.data, b]);
        this.onData(c, this);
      });
      sock.on('error', () => undefined);
    });
  }
  async listen(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
    open.push(this);
    return this;
  }
  close(): Promise<void> {
    for (const c of this.conns) c.sock.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
  /** Everything received on connection n, as text. */
  text(n = 0): string {
    return this.conns[n]?.data.toString('latin1') ?? '';
  }
}
const open: RawUpstream[] = [];

/** The complete requests in `data` (heads with Content-Length bodies; not chunked ones), each as [head, body]. */
function requestsIn(data: Buffer): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const s = data.toString('latin1');
  let at = 0;
  for (;;) {
    const end = s.indexOf('\r\n\r\n', at);
    if (end < 0) return out;
    const head = s.slice(at, end + 4);
    const cl = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (s.length < end + 4 + cl) return out;
    out.push([head, s.slice(end + 4, end + 4 + cl)]);
    at = end + 4 + cl;
  }
}

/** A raw client connection to the proxy that collects what comes back. */
class RawClient {
  data = Buffer.alloc(0);
  ended = false;
  readonly sock: net.Socket;
  private readonly waiters = new Set<() => void>();
  readonly closed: Promise<void>;
  constructor(port = proxyPort) {
    this.sock = net.connect(port, '127.0.0.1');
    this.sock.on('data', (b: Buffer) => {
      this.data = Buffer.concat([this.data, b]);
      this.wake();
    });
    this.sock.on('end', () => {
      this.ended = true;
      this.wake();
    });
    this.sock.on('error', () => undefined);
    this.closed = new Promise((r) => this.sock.once('close', () => (this.wake(), r())));
    clients.push(this);
  }
  private wake(): void {
    for (const w of this.waiters) w();
  }
  text(): string {
    return this.data.toString('latin1');
  }
  write(s: string | Buffer): void {
    this.sock.write(typeof s === 'string' ? Buffer.from(s, 'latin1') : s);
  }
  /** Resolves once at least `n` bytes have arrived (or the connection closed: then the test's assertion reports it). */
  async bytes(n: number): Promise<string> {
    await this.until(() => this.data.length >= n);
    return this.text();
  }
  /** Resolves once the proxy has closed its side (FIN) or the connection is gone. */
  async end(): Promise<string> {
    await this.until(() => this.ended);
    return this.text();
  }
  until(pred: () => boolean, ms = 5000): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (pred() || this.sock.destroyed) {
          this.waiters.delete(check);
          clearTimeout(t);
          resolve();
        }
      };
      const t = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out; received so far: ${JSON.stringify(this.text())}`));
      }, ms);
      this.waiters.add(check);
      check();
    });
  }
}
const clients: RawClient[] = [];

beforeEach(() => {
  audit = new MemoryAudit();
  seats.byIp.clear();
  seats.byIp.set('127.0.0.1', session('seat-2'));
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.sock.destroy();
  await Promise.all(open.splice(0).map((u) => u.close()));
});

const url = (port: number, path: string) => `http://${HOST}:${port}${path}`;
/** The head the proxy sends upstream for a body-less GET from an HTTP/1.`minor` client. */
const upstreamGet = (port: number, path: string, minor = 1) => `GET ${path} HTTP/1.1\r\nHost: ${HOST}:${port}\r\nVia: 1.${minor} bootgate\r\n\r\n`;

describe('explicit proxy, HTTP/1.1 on raw sockets', () => {
  const CHUNKED_HEAD = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Up: 1\r\n\r\n';
  const CHUNKED_BODY = ['5;ext=1\r\nhel', 'lo\r\n7\r\n, world\r', '\n0\r\nX-Trailer: t\r\n\r\n'];
  /** answers each request with the chunked response, in three writes */
  const chunkedUpstream = () =>
    new RawUpstream((c) => {
      if (!c.data.includes('\r\n\r\n')) return;
      c.sock.write(CHUNKED_HEAD + CHUNKED_BODY[0]);
      setImmediate(() => c.sock.write(CHUNKED_BODY[1]!));
      setTimeout(() => c.sock.write(CHUNKED_BODY[2]!), 10);
    }).listen();

  it('a chunked response is relayed as it came (chunked, extension and trailer) and recorded with its de-chunked size', async () => {
    const up = await chunkedUpstream();
    const c = new RawClient();
    c.write(`GET ${url(up.port, '/chunked')} HTTP/1.1\r\nHost: ${HOST}:${up.port}\r\n\r\n`);
    const want = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Up: 1\r\nVia: 1.1 bootgate\r\n\r\n${CHUNKED_BODY.join('')}`;
    assert.equal(await c.bytes(want.length), want);
    const [rec] = await audit.waitFor(1);
    assert.deepEqual(
      [rec!.kind, rec!.method, rec!.url, rec!.status, rec!.verdict, rec!.bytesUp, rec!.bytesDown, rec!.seat],
      ['http', 'GET', url(up.port, '/chunked'), 200, 'allowed', 0, 'hello, world'.length, 'seat-2'],
    );
    assert.equal(up.text(), upstreamGet(up.port, '/chunked'));
    assert.equal(c.ended, false, 'an HTTP/1.1 connection stays open');
  });

  it('an HTTP/1.0 client gets the chunked response de-chunked, delimited by the close', async () => {
    const up = await chunkedUpstream();
    const c = new RawClient();
    c.write(`GET ${url(up.port, '/chunked')} HTTP/1.0\r\n\r\n`);
    assert.equal(await c.end(), 'HTTP/1.1 200 OK\r\nX-Up: 1\r\nVia: 1.1 bootgate\r\nConnection: close\r\n\r\nhello, world');
    await c.closed;
    const [rec] = await audit.waitFor(1);
    assert.deepEqual([rec!.status, rec!.verdict, rec!.bytesDown], [200, 'allowed', 12]);
    assert.equal(up.text(), upstreamGet(up.port, '/chunked', 0));
  });

  it('pipelined requests on one connection (one with a body) are answered in order, each with its own record', async () => {
    const up = await new RawUpstream((c) => {
      const reqs = requestsIn(c.data);
      for (const [head, body] of reqs.slice(c.answered)) {
        const path = head.split(' ')[1]!;
        const text = `reply to ${path}${body ? ` with ${body}` : ''}`;
        c.sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
      }
      c.answered = reqs.length;
    }).listen();
    const c = new RawClient();
    c.write(
      `GET ${url(up.port, '/one')} HTTP/1.1\r\nHost: x\r\n\r\n` +
        `POST ${url(up.port, '/two')} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde` +
        `GET ${url(up.port, '/three')} HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    const resp = (t: string) => `HTTP/1.1 200 OK\r\nContent-Length: ${t.length}\r\nVia: 1.1 bootgate\r\n\r\n${t}`;
    const want = resp('reply to /one') + resp('reply to /two with abcde') + resp('reply to /three');
    assert.equal(await c.bytes(want.length), want);
    const recs = await audit.waitFor(3);
    assert.deepEqual(
      recs.map((r) => [r.method, r.url, r.status, r.bytesUp, r.bytesDown]),
      [
        ['GET', url(up.port, '/one'), 200, 0, 13],
        ['POST', url(up.port, '/two'), 200, 5, 24],
        ['GET', url(up.port, '/three'), 200, 0, 15],
      ],
    );
    // one kept-alive upstream connection carried all three, one after the other
    assert.equal(up.conns.length, 1);
    assert.equal(
      up.text(),
      upstreamGet(up.port, '/one') +
        `POST /two HTTP/1.1\r\nHost: ${HOST}:${up.port}\r\nContent-Length: 5\r\nVia: 1.1 bootgate\r\n\r\nabcde` +
        upstreamGet(up.port, '/three'),
    );
  });

  it('HEAD: a response with Content-Length and no body ends at its head, and the connection carries the next request', async () => {
    const up = await new RawUpstream((c) => {
      const reqs = requestsIn(c.data);
      if (reqs.length === 1 && reqs[0]![0].startsWith('HEAD')) c.sock.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
      if (reqs.length === 2) c.sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    }).listen();
    const c = new RawClient();
    c.write(`HEAD ${url(up.port, '/h')} HTTP/1.1\r\nHost: x\r\n\r\nGET ${url(up.port, '/g')} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const want =
      'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nVia: 1.1 bootgate\r\n\r\n' + 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nVia: 1.1 bootgate\r\n\r\nok';
    assert.equal(await c.bytes(want.length), want);
    const recs = await audit.waitFor(2);
    assert.deepEqual(
      recs.map((r) => [r.method, r.status, r.bytesDown]),
      [
        ['HEAD', 200, 0],
        ['GET', 200, 2],
      ],
    );
  });

  it('a response without framing (close-delimited) arrives complete, then the client connection is closed', async () => {
    const up = await new RawUpstream((c) => {
      if (!c.data.includes('\r\n\r\n')) return;
      c.sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, ');
      setTimeout(() => c.sock.end('part two'), 10);
    }).listen();
    const c = new RawClient();
    c.write(`GET ${url(up.port, '/unframed')} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.equal(await c.end(), 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nVia: 1.1 bootgate\r\nConnection: close\r\n\r\npart one, part two');
    await c.closed;
    const [rec] = await audit.waitFor(1);
    assert.deepEqual([rec!.status, rec!.verdict, rec!.bytesDown], [200, 'allowed', 18]);
  });

  for (const [what, fields, status] of [
    ['Transfer-Encoding and Content-Length', 'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', '400 Bad Request'],
    ['Transfer-Encoding from an HTTP/1.0 client', 'Transfer-Encoding: chunked\r\n', '400 Bad Request'],
    ['an unknown transfer coding', 'Transfer-Encoding: gzip, chunked\r\n', '501 Not Implemented'],
    ['differing Content-Lengths', 'Content-Length: 5\r\nContent-Length: 6\r\n', '400 Bad Request'],
  ] as const) {
    it(`a request with ${what}: ${status}, the connection closes, nothing reaches upstream`, async () => {
      const up = await new RawUpstream(() => undefined).listen();
      const c = new RawClient();
      const version = what.includes('1.0') ? 'HTTP/1.0' : 'HTTP/1.1';
      c.write(`POST ${url(up.port, '/smuggle')} ${version}\r\nHost: x\r\n${fields}\r\n5\r\nhello\r\n0\r\n\r\n`);
      const got = await c.end();
      assert.equal(got.split('\r\n')[0], `HTTP/1.1 ${status}`);
      assert.match(got, /\r\nconnection: close\r\n/i);
      await c.closed;
      assert.equal(up.conns.length, 0, 'no upstream connection');
      assert.equal(audit.records.length, 0);
    });
  }

  it('a client sending nothing but empty lines is refused (400) instead of buffered', async () => {
    const c = new RawClient();
    c.write('\r\n'.repeat(50_000));
    const got = await c.end();
    assert.equal(got.split('\r\n')[0], 'HTTP/1.1 400 Bad Request');
    assert.equal(audit.records.length, 0);
  });

  it('a request head over 64 KiB: 431, nothing upstream', async () => {
    const up = await new RawUpstream(() => undefined).listen();
    const c = new RawClient();
    c.write(`GET ${url(up.port, '/big')} HTTP/1.1\r\nX-Pad: ${'a'.repeat(70_000)}`);
    const got = await c.end();
    assert.equal(got.split('\r\n')[0], 'HTTP/1.1 431 Request Header Fields Too Large');
    assert.equal(up.conns.length, 0);
  });

  it('CONNECT to an authority with "#" in its host: 400, no tunnel (the record would read as another host)', async () => {
    const up = await new RawUpstream(() => undefined).listen();
    const c = new RawClient();
    c.write(`CONNECT bank.example#.evil.example:${up.port} HTTP/1.1\r\nHost: bank.example\r\n\r\n`);
    assert.equal((await c.end()).split('\r\n')[0], 'HTTP/1.1 400 Bad Request');
    assert.equal(up.conns.length, 0);
  });

  it('a request that names Content-Length in Connection still reaches upstream with its Content-Length', async () => {
    const up = await new RawUpstream((c) => {
      if (requestsIn(c.data).length) c.sock.write('HTTP/1.1 204 No Content\r\n\r\n');
    }).listen();
    const c = new RawClient();
    // without its Content-Length the upstream would read the body as a second, unlogged request
    const hidden = 'GET /hidden HTTP/1.1\r\nHost: x\r\n\r\n';
    c.write(`POST ${url(up.port, '/p')} HTTP/1.1\r\nHost: x\r\nContent-Length: ${hidden.length}\r\nConnection: content-length\r\n\r\n${hidden}`);
    const want = 'HTTP/1.1 204 No Content\r\nVia: 1.1 bootgate\r\n\r\n';
    assert.equal(await c.bytes(want.length), want);
    assert.equal(up.text(), `POST /p HTTP/1.1\r\nHost: ${HOST}:${up.port}\r\nContent-Length: ${hidden.length}\r\nVia: 1.1 bootgate\r\n\r\n${hidden}`);
    const [rec] = await audit.waitFor(1);
    assert.deepEqual([rec!.status, rec!.bytesUp], [204, hidden.length]);
  });

  it('a chunked request body reaches upstream intact, with its Transfer-Encoding', async () => {
    const BODY = '4\r\nwiki\r\n5;x=y\r\npedia\r\n0\r\nX-T: 1\r\n\r\n';
    const up = await new RawUpstream((c) => {
      if (c.data.toString('latin1').endsWith('0\r\nX-T: 1\r\n\r\n')) c.sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    }).listen();
    const c = new RawClient();
    c.write(`POST ${url(up.port, '/up')} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${BODY.slice(0, 10)}`);
    setTimeout(() => c.write(BODY.slice(10)), 10);
    const want = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nVia: 1.1 bootgate\r\n\r\nok';
    assert.equal(await c.bytes(want.length), want);
    assert.equal(up.text(), `POST /up HTTP/1.1\r\nHost: ${HOST}:${up.port}\r\nTransfer-Encoding: chunked\r\nVia: 1.1 bootgate\r\n\r\n${BODY}`);
    const [rec] = await audit.waitFor(1);
    assert.deepEqual([rec!.status, rec!.verdict, rec!.bytesUp], [200, 'allowed', 9]);
  });

  for (const [what, reply] of [
    ['garbage as its status line', 'GARBAGE\r\n\r\n'],
    ['HTTP/2 as its version', 'HTTP/2 200\r\n\r\n'],
    ['an invalid Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello'],
    ['an unsolicited 101', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n'],
    ['a status line and then the close', 'HTTP/1.1 200 OK\r\n'],
    // (found by test/fuzz/gateway-proxy.fuzz.test.ts: these were relayed, and llhttp-based clients cannot read them)
    ['a status code over 599', 'HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n'],
    ['a control character in a field value', 'HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 0\r\n\r\n'],
  ] as const) {
    it(`an upstream that sends ${what}: 502 and an error record`, async () => {
      const up = await new RawUpstream((c) => {
        if (c.data.includes('\r\n\r\n')) c.sock.end(reply);
      }).listen();
      const c = new RawClient();
      c.write(`GET ${url(up.port, '/bad')} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const got = await c.end();
      assert.equal(got.split('\r\n')[0], 'HTTP/1.1 502 Bad Gateway');
      const [rec] = await audit.waitFor(1);
      assert.deepEqual([rec!.url, rec!.status, rec!.verdict], [url(up.port, '/bad'), 502, 'error']);
    });
  }

  it('a chunked response broken after its head went out: the client is cut off before a complete response; error record', async () => {
    const up = await new RawUpstream((c) => {
      if (c.data.includes('\r\n\r\n')) c.sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    }).listen();
    const c = new RawClient();
    c.write(`GET ${url(up.port, '/broken')} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const head = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nVia: 1.1 bootgate\r\n\r\n5\r\nhello\r\n';
    assert.equal(await c.bytes(head.length), head);
    up.conns[0]!.sock.write('zz\r\n');
    await c.closed;
    assert.equal(c.text(), head, 'nothing after the broken chunk, and no last-chunk');
    const [rec] = await audit.waitFor(1);
    assert.deepEqual([rec!.status, rec!.verdict, rec!.bytesDown], [200, 'error', 5]);
  });

  it('a kept-alive upstream connection the server drops as the next request arrives: retried once on a new one', async () => {
    const up = await new RawUpstream((c) => {
      const reqs = requestsIn(c.data);
      if (c.n === 0 && reqs.length === 2) return void c.sock.destroy(); // closed without an answer
      if (reqs.length === 1) c.sock.write(`HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nc${c.n}r1`);
    }).listen();
    const c = new RawClient();
    const resp = (t: string) => `HTTP/1.1 200 OK\r\nContent-Length: 4\r\nVia: 1.1 bootgate\r\n\r\n${t}`;
    c.write(`GET ${url(up.port, '/a')} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.equal(await c.bytes(resp('c0r1').length), resp('c0r1'));
    await audit.waitFor(1);
    c.write(`GET ${url(up.port, '/b')} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.equal(await c.bytes(2 * resp('c0r1').length), resp('c0r1') + resp('c1r1'));
    const recs = await audit.waitFor(2);
    assert.deepEqual(
      recs.map((r) => [r.url, r.status, r.verdict]),
      [
        [url(up.port, '/a'), 200, 'allowed'],
        [url(up.port, '/b'), 200, 'allowed'],
      ],
    );
    assert.equal(up.conns.length, 2);
    assert.equal(up.text(0), upstreamGet(up.port, '/a') + upstreamGet(up.port, '/b'));
    assert.equal(up.text(1), upstreamGet(up.port, '/b'));
  });

  it('a kept-alive upstream connection the server closed while idle: the next request still succeeds', async () => {
    const up = await new RawUpstream((c) => {
      if (requestsIn(c.data).length !== 1) return;
      // answer, then close the connection as a server's keep-alive timeout would
      c.sock.end(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nc${c.n}`, () => c.sock.destroy());
    }).listen();
    const c = new RawClient();
    const resp = (t: string) => `HTTP/1.1 200 OK\r\nContent-Length: 2\r\nVia: 1.1 bootgate\r\n\r\n${t}`;
    c.write(`GET ${url(up.port, '/a')} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.equal(await c.bytes(resp('c0').length), resp('c0'));
    await new Promise<void>((r) => (up.conns[0]!.sock.destroyed ? r() : up.conns[0]!.sock.once('close', () => r())));
    c.write(`GET ${url(up.port, '/b')} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.equal(await c.bytes(2 * resp('c0').length), resp('c0') + resp('c1'));
    const recs = await audit.waitFor(2);
    assert.deepEqual(
      recs.map((r) => [r.status, r.verdict]),
      [
        [200, 'allowed'],
        [200, 'allowed'],
      ],
    );
    assert.equal(up.conns.length, 2);
  });

  // The cases below were found by the live fuzz test (test/fuzz/gateway-proxy.fuzz.test.ts), each pinned here.
  it('requests pipelined just before the client half-closes are all answered, each with its record, then the close', async () => {
    const up = await new RawUpstream((c) => {
      for (const [head] of requestsIn(c.data).slice(c.answered)) {
        c.answered++;
        const path = head.split(' ')[1]!;
        c.sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${path.length}\r\n\r\n${path}`);
      }
    }).listen();
    const c = new RawClient();
    c.write(`GET ${url(up.port, '/one')} HTTP/1.1\r\nHost: x\r\n\r\nGET ${url(up.port, '/two')} HTTP/1.1\r\nHost: x\r\n\r\n`);
    c.sock.end();
    const got = await c.end();
    assert.equal(got, ['/one', '/two'].map((b) => `HTTP/1.1 200 OK\r\nContent-Length: 4\r\nVia: 1.1 bootgate\r\n\r\n${b}`).join(''));
    const recs = await audit.waitFor(2);
    assert.deepEqual(
      recs.map((r) => r.url),
      [url(up.port, '/one'), url(up.port, '/two')],
    );
  });

  it('a body-less response with a Content-Length list ("0, 0") goes on with one Content-Length', async () => {
    const up = await new RawUpstream((c) => {
      if (c.data.includes('\r\n\r\n') && !c.answered++) c.sock.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 0, 0\r\nETag: "x"\r\n\r\n');
    }).listen();
    const c = new RawClient();
    c.write(`GET ${url(up.port, '/cached')} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const want = 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 0\r\nVia: 1.1 bootgate\r\n\r\n';
    assert.equal(await c.bytes(want.length), want);
  });

  it('a response to an HTTP/1.0 client (delimited by the close) broken mid-body is cut with a reset, never a FIN that would complete it', async () => {
    const up = await new RawUpstream((c) => {
      if (!c.data.includes('\r\n\r\n') || c.answered++) return;
      c.sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      setTimeout(() => c.sock.write('zz\r\nnot a chunk size\r\n'), 30);
    }).listen();
    const c = new RawClient();
    c.write(`GET ${url(up.port, '/broken')} HTTP/1.0\r\n\r\n`);
    await c.closed;
    assert.equal(c.text(), 'HTTP/1.1 200 OK\r\nVia: 1.1 bootgate\r\nConnection: close\r\n\r\nhello');
    assert.equal(c.ended, false, 'no FIN: the client saw a reset');
    const [rec] = await audit.waitFor(1);
    assert.deepEqual([rec!.status, rec!.verdict], [200, 'error']);
  });

  it('a refused CONNECT: the connection leaves the proxy once the client closes (it was kept forever, paused)', async () => {
    seats.byIp.clear();
    const before = proxy.connections.size;
    const c = new RawClient();
    c.write(`CONNECT ${HOST}:443 HTTP/1.1\r\nHost: ${HOST}:443\r\n\r\n`);
    assert.match(await c.end(), /^HTTP\/1\.1 403 Forbidden\r\n/);
    c.sock.end();
    await c.closed;
    for (let i = 0; i < 50 && proxy.connections.size > before; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(proxy.connections.size, before);
  });

  it('a request head arriving one byte per segment is parsed and relayed whole', async () => {
    const up = await new RawUpstream((c) => {
      if (c.data.includes('\r\n\r\n') && !c.answered++) c.sock.write('HTTP/1.1 204 No Content\r\n\r\n');
    }).listen();
    const c = new RawClient();
    c.sock.setNoDelay(true);
    const fields = Array.from({ length: 40 }, (_, i) => `X-Field-${i}: ${'v'.repeat(50)}\r\n`).join('');
    const head = `GET ${url(up.port, '/slow')} HTTP/1.1\r\nHost: ${HOST}:${up.port}\r\n${fields}\r\n`;
    for (let i = 0; i < head.length; i++) {
      c.write(head[i]!);
      if (i % 64 === 0) await new Promise((r) => setImmediate(r));
    }
    assert.equal(await c.bytes(40), 'HTTP/1.1 204 No Content\r\nVia: 1.1 bootgate\r\n\r\n');
    assert.equal(up.text(), `GET /slow HTTP/1.1\r\nHost: ${HOST}:${up.port}\r\n${fields}Via: 1.1 bootgate\r\n\r\n`);
  });

  it('the client half-closes in the middle of its request body: 400 at once, the upstream connection closed, an error record', async () => {
    const up = await new RawUpstream(() => undefined).listen();
    const upClosed = new Promise<void>((r) => up.server.once('connection', (s) => s.once('close', () => r())));
    const c = new RawClient();
    c.write(`POST ${url(up.port, '/cut')} HTTP/1.1\r\nHost: ${HOST}:${up.port}\r\nContent-Length: 10\r\n\r\nabcd`);
    await new Promise((r) => setTimeout(r, 50));
    c.sock.end();
    assert.equal((await c.end()).split('\r\n')[0], 'HTTP/1.1 400 Bad Request');
    await upClosed;
    assert.match(up.text(), /\r\n\r\nabcd$/);
    const [rec] = await audit.waitFor(1);
    assert.deepEqual([rec!.url, rec!.status, rec!.verdict, rec!.bytesUp], [url(up.port, '/cut'), 400, 'error', 4]);
  });

  it('100 Continue is relayed to an HTTP/1.1 client before the final response', async () => {
    const up = await new RawUpstream((c) => {
      const s = c.data.toString('latin1');
      if (s.endsWith('\r\n\r\n') && !s.includes('hello')) c.sock.write('HTTP/1.1 100 Continue\r\n\r\n');
      if (s.endsWith('hello')) c.sock.write('HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok');
    }).listen();
    const c = new RawClient();
    c.write(`POST ${url(up.port, '/expect')} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n`);
    const interim = 'HTTP/1.1 100 Continue\r\n\r\n';
    assert.equal(await c.bytes(interim.length), interim, 'the interim response comes before the body is sent');
    c.write('hello');
    const final = 'HTTP/1.1 201 Created\r\nContent-Length: 2\r\nVia: 1.1 bootgate\r\n\r\nok';
    assert.equal(await c.bytes(interim.length + final.length), interim + final);
    const [rec] = await audit.waitFor(1);
    assert.deepEqual([rec!.status, rec!.bytesUp, rec!.bytesDown], [201, 5, 2]);
    assert.equal(
      up.text(),
      `POST /expect HTTP/1.1\r\nHost: ${HOST}:${up.port}\r\nExpect: 100-continue\r\nContent-Length: 5\r\nVia: 1.1 bootgate\r\n\r\nhello`,
    );
  });

  it('interim responses are not sent to an HTTP/1.0 client', async () => {
    const up = await new RawUpstream((c) => {
      if (c.data.includes('\r\n\r\n'))
        c.sock.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    }).listen();
    const c = new RawClient();
    c.write(`GET ${url(up.port, '/old')} HTTP/1.0\r\n\r\n`);
    assert.equal(await c.end(), 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nVia: 1.1 bootgate\r\nConnection: close\r\n\r\nok');
  });
});

describe('protocol upgrade (WebSocket, RFC 6455 §4) through the proxy', () => {
  const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
  const accept = (key: string) =>
    createHash('sha1')
      .update(key + WS_GUID)
      .digest('base64');

  /** A node:http server doing the WebSocket opening handshake, then echoing every byte (after `first`). */
  async function echoServer(first: string): Promise<{ port: number; headers: http.IncomingHttpHeaders[]; close: () => Promise<void> }> {
    const headers: http.IncomingHttpHeaders[] = [];
    const socks = new Set<net.Socket>();
    const server = http.createServer((_req, res) => res.writeHead(426).end());
    server.on('upgrade', (req: http.IncomingMessage, sock: net.Socket, head: Buffer) => {
      headers.push(req.headers);
      socks.add(sock);
      sock.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept(String(req.headers['sec-websocket-key']))}\r\n\r\n${first}`,
      );
      if (head.length) sock.write(head);
      sock.on('data', (d: Buffer) => sock.write(d));
      sock.on('end', () => sock.end());
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    return { port, headers, close: () => new Promise((r) => (socks.forEach((s) => s.destroy()), server.close(() => r()))) };
  }

  /** node:http's client asks the proxy (explicit, absolute form) to upgrade; resolves with its 'upgrade' event. */
  function upgradeThroughProxy(port: number, key: string): Promise<{ res: http.IncomingMessage; sock: net.Socket; head: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: proxyPort,
        path: url(port, '/chat?room=1'),
        headers: { Host: `${HOST}:${port}`, Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13' },
      });
      req.on('upgrade', (res, sock, head) => resolve({ res, sock, head }));
      req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
      req.on('error', reject);
      req.end();
    });
  }

  /** Reads from `sock` (starting with `already`) until `n` bytes have arrived. */
  function readBytes(sock: net.Socket, n: number, already: Buffer = Buffer.alloc(0)): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      let got: Buffer = already;
      const check = () => {
        if (got.length < n) return;
        sock.off('data', onData);
        resolve(got);
      };
      const onData = (d: Buffer) => ((got = Buffer.concat([got, d])), check());
      sock.on('data', onData);
      sock.once('close', () => reject(new Error(`closed after ${got.length} of ${n} bytes`)));
      check();
    });
  }

  it('node:http on both ends: the 101 with its accept key reaches the client, bytes go both ways intact, one record at the close', async () => {
    const srv = await echoServer('srv-first');
    try {
      const key = randomBytes(16).toString('base64');
      const { res, sock, head } = await upgradeThroughProxy(srv.port, key);
      assert.equal(res.statusCode, 101);
      assert.equal(res.headers.upgrade, 'websocket');
      assert.equal(res.headers['sec-websocket-accept'], accept(key));
      assert.equal(res.headers.via, '1.1 bootgate');
      // what the server wrote right after its 101 arrives first
      const first = await readBytes(sock, 'srv-first'.length, head);
      assert.equal(first.toString(), 'srv-first');
      const payload = randomBytes(256 * 1024);
      const echoed = readBytes(sock, payload.length + 6);
      sock.write('ping-1');
      sock.write(payload);
      const back = await echoed;
      assert.equal(back.subarray(0, 6).toString(), 'ping-1');
      assert.equal(createHash('sha256').update(back.subarray(6)).digest('hex'), createHash('sha256').update(payload).digest('hex'));
      // the server was asked for the upgrade by the proxy itself (hop-by-hop fields), with the client's key
      const [h] = srv.headers;
      assert.deepEqual(
        [h!.connection, h!.upgrade, h!['sec-websocket-key'], h!['sec-websocket-version'], h!.via],
        ['upgrade', 'websocket', key, '13', '1.1 bootgate'],
      );
      assert.equal(audit.records.length, 0, 'the record is written when the connection closes');
      sock.end();
      await new Promise((r) => sock.once('close', r));
      const [rec] = await audit.waitFor(1);
      assert.deepEqual(
        [rec!.kind, rec!.method, rec!.url, rec!.status, rec!.verdict, rec!.bytesUp, rec!.bytesDown, rec!.seat],
        ['http', 'GET', url(srv.port, '/chat?room=1'), 101, 'allowed', 6 + payload.length, 'srv-first'.length + 6 + payload.length, 'seat-2'],
      );
    } finally {
      await srv.close();
    }
  });

  it("closing the seat's session cuts an upgraded connection, and its record is written", async () => {
    const srv = await echoServer('');
    try {
      const { sock } = await upgradeThroughProxy(srv.port, randomBytes(16).toString('base64'));
      const echoed = readBytes(sock, 5);
      sock.write('abcde');
      await echoed;
      const closed = new Promise((r) => sock.once('close', r));
      assert.equal(proxy.closeSeat('127.0.0.1'), 1);
      await closed;
      const [rec] = await audit.waitFor(1);
      assert.deepEqual([rec!.status, rec!.bytesUp, rec!.bytesDown], [101, 5, 5]);
    } finally {
      await srv.close();
    }
  });

  it('the server closes the upgraded connection: the client gets its last bytes and the close, then the record', async () => {
    const up = await new RawUpstream((c) => {
      if (!c.data.includes('\r\n\r\n') || c.answered++) return;
      c.sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n');
      setTimeout(() => c.sock.end('last words'), 20);
    }).listen();
    const c = new RawClient();
    c.write(`GET ${url(up.port, '/ws')} HTTP/1.1\r\nHost: ${HOST}:${up.port}\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n`);
    assert.equal(
      await c.end(),
      'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: WebSocket\r\nVia: 1.1 bootgate\r\n\r\nlast words',
    );
    c.sock.end();
    await c.closed;
    const [rec] = await audit.waitFor(1);
    assert.deepEqual([rec!.status, rec!.verdict, rec!.bytesUp, rec!.bytesDown], [101, 'allowed', 0, 'last words'.length]);
    assert.equal(up.text(), `GET /ws HTTP/1.1\r\nHost: ${HOST}:${up.port}\r\nConnection: upgrade\r\nUpgrade: websocket\r\nVia: 1.1 bootgate\r\n\r\n`);
  });

  it('the server declines (an ordinary 200): relayed as a response, and the connection carries the next request', async () => {
    const up = await new RawUpstream((c) => {
      for (const _ of requestsIn(c.data).slice(c.answered)) c.sock.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${++c.answered}${c.answered}`);
    }).listen();
    const c = new RawClient();
    c.write(`GET ${url(up.port, '/ws')} HTTP/1.1\r\nHost: ${HOST}:${up.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
    const one = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nVia: 1.1 bootgate\r\n\r\n11';
    assert.equal(await c.bytes(one.length), one);
    c.write(`GET ${url(up.port, '/next')} HTTP/1.1\r\nHost: ${HOST}:${up.port}\r\n\r\n`);
    assert.equal(await c.bytes(one.length * 2), one + one.replace('11', '22'));
    const recs = await audit.waitFor(2);
    assert.deepEqual(
      recs.map((r) => [r.url, r.status]),
      [
        [url(up.port, '/ws'), 200],
        [url(up.port, '/next'), 200],
      ],
    );
  });

  it('a 101 to a protocol the client did not ask for: 502 and an error record', async () => {
    const up = await new RawUpstream((c) => {
      if (c.data.includes('\r\n\r\n')) c.sock.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n');
    }).listen();
    const c = new RawClient();
    c.write(`GET ${url(up.port, '/ws')} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
    assert.equal((await c.end()).split('\r\n')[0], 'HTTP/1.1 502 Bad Gateway');
    const [rec] = await audit.waitFor(1);
    assert.deepEqual([rec!.status, rec!.verdict], [502, 'error']);
  });

  for (const [what, request] of [
    [
      'with a body',
      (p: number) => `POST ${url(p, '/ws')} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 2\r\n\r\nhi`,
    ],
    ['from an HTTP/1.0 client', (p: number) => `GET ${url(p, '/ws')} HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`],
    ['without the "upgrade" connection option', (p: number) => `GET ${url(p, '/ws')} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n`],
  ] as const) {
    it(`an upgrade request ${what}: the server is not asked to upgrade, and a 101 from it is refused (502)`, async () => {
      const up = await new RawUpstream((c) => {
        if (c.data.includes('\r\n\r\n')) c.sock.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      }).listen();
      const c = new RawClient();
      c.write(request(up.port));
      assert.equal((await c.end()).split('\r\n')[0], 'HTTP/1.1 502 Bad Gateway');
      assert.doesNotMatch(up.text(), /upgrade/i);
    });
  }
});

describe('explicit proxy with curl', () => {
  const FILE = randomBytes(1024 * 1024);
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  let web: http.Server;
  let webPort = 0;
  let dir = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bggw-curl-'));
    writeFileSync(join(dir, 'up.bin'), FILE);
    web = http.createServer((req, res) => {
      if (req.method === 'GET') {
        // no Content-Length: node sends it chunked, in pieces
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        for (let at = 0; at < FILE.length; at += 100_000) res.write(FILE.subarray(at, at + 100_000));
        return void res.end();
      }
      const h = createHash('sha256');
      let n = 0;
      req.on('data', (b: Buffer) => {
        h.update(b);
        n += b.length;
      });
      req.on('end', () => res.end(JSON.stringify({ n, sha: h.digest('hex'), te: req.headers['transfer-encoding'] ?? null })));
    });
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    webPort = (web.address() as net.AddressInfo).port;
  });
  after(async () => {
    web.closeAllConnections();
    await new Promise((r) => web.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const curl = (...args: string[]) =>
    run('/usr/bin/curl', ['-sS', '--fail', '-x', `http://127.0.0.1:${proxyPort}`, ...args], { encoding: 'buffer', maxBuffer: 8 * 1024 * 1024 });

  it('GET of a 1 MiB chunked response: the same bytes (sha256), recorded with its size', async () => {
    const { stdout } = await curl(url(webPort, '/file.bin'));
    assert.equal(sha(stdout), sha(FILE));
    const [rec] = await audit.waitFor(1);
    assert.deepEqual(
      [rec!.method, rec!.url, rec!.status, rec!.verdict, rec!.bytesDown],
      ['GET', url(webPort, '/file.bin'), 200, 'allowed', FILE.length],
    );
  });

  it('POST of a 1 MiB file: the upstream receives the same bytes (sha256)', async () => {
    const { stdout } = await curl('--data-binary', `@${join(dir, 'up.bin')}`, url(webPort, '/upload'));
    assert.deepEqual(JSON.parse(stdout.toString()), { n: FILE.length, sha: sha(FILE), te: null });
    const [rec] = await audit.waitFor(1);
    assert.deepEqual([rec!.method, rec!.status, rec!.verdict, rec!.bytesUp], ['POST', 200, 'allowed', FILE.length]);
  });

  it('POST of a 1 MiB file sent chunked: the upstream receives the same bytes (sha256)', async () => {
    const { stdout } = await curl('-H', 'Transfer-Encoding: chunked', '--data-binary', `@${join(dir, 'up.bin')}`, url(webPort, '/upload'));
    assert.deepEqual(JSON.parse(stdout.toString()), { n: FILE.length, sha: sha(FILE), te: 'chunked' });
    const [rec] = await audit.waitFor(1);
    assert.deepEqual([rec!.method, rec!.status, rec!.verdict, rec!.bytesUp], ['POST', 200, 'allowed', FILE.length]);
    assert.equal(readFileSync(join(dir, 'up.bin')).length, FILE.length);
  });
});
