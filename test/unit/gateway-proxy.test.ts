import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type LookupFunction } from 'node:net';
import tls from 'node:tls';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { DestinationPolicy } from '../../src/gateway/destination/policy.ts';
import { createGatewayMetrics } from '../../src/gateway/metrics.ts';
import type { AuditRecordInput } from '../../src/gateway/seats-and-audit.ts';
import { forwardedHead } from '../../src/gateway/proxy/headers.ts';
import { HttpProxy } from '../../src/gateway/proxy/http-proxy.ts';
import { TlsInterceptor } from '../../src/gateway/proxy/tls-interceptor.ts';
import { createLogger } from '../../src/log/logger.ts';
import { loopbackDestinations, MemoryAudit, MemorySeats, selfSignedCert, session } from '../helpers/gateway-harness.ts';

const logger = createLogger('silent');
const seats = new MemorySeats();
let audit = new MemoryAudit();
/** When set, the sink's append goes here instead (a test that controls when, or whether, a record commits). */
let appendHook: ((r: AuditRecordInput) => Promise<void>) | undefined;
const sink = { append: (r: AuditRecordInput) => (appendHook ? appendHook(r) : audit.append(r)) };
const names = { 'web.bggw.test': '127.0.0.1', 'tls.bggw.test': '127.0.0.1' };
const destinations = loopbackDestinations(names);
const cert = selfSignedCert(['tls.bggw.test']);
const BIG = 4 * 1024 * 1024;

let upstreamRequests = 0;
let upstreamTcp = 0;
const web = http.createServer((req, res) => {
  upstreamRequests++;
  if (req.url === '/big') {
    res.writeHead(200, { 'content-length': BIG });
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    const pump = () => {
      while (sent < BIG) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    return pump();
  }
  if (req.url === '/empty') {
    res.writeHead(204);
    return void res.end();
  }
  if (req.method === 'POST') {
    res.writeHead(200, { 'x-echo': 'yes' });
    return void req.pipe(res);
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'x-host': req.headers.host ?? '' });
  res.end(`hello ${req.url}`);
});
web.on('connection', () => upstreamTcp++);
let tlsTcp = 0;
const tlsServer = tls.createServer({ key: cert.key, cert: cert.cert }, (s) => {
  s.once('data', () => s.end('HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nsecret'));
});
tlsServer.on('connection', () => tlsTcp++);

const metrics = createGatewayMetrics(new Registry());
let webPort = 0;
let tlsPort = 0;
let explicit: HttpProxy;
let transparent: HttpProxy;
let sni: TlsInterceptor;
let explicitPort = 0;
let transparentPort = 0;
let sniPort = 0;

const listen = (s: net.Server) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as net.AddressInfo).port)));

before(async () => {
  webPort = await listen(web);
  tlsPort = await listen(tlsServer);
  const common = { seats, audit: sink, logger, metrics, destinations };
  // upstreams listen on ephemeral ports here; the [443] default is tested with a proxy of its own below
  explicit = new HttpProxy({
    ...common,
    options: { mode: 'explicit', host: '127.0.0.1', port: 0, connectTimeoutMs: 2000, idleTimeoutMs: 5000, connectPorts: 'any' },
  });
  transparent = new HttpProxy({
    ...common,
    originalDestination: () => ({ address: '127.0.0.1', port: webPort }),
    options: { mode: 'transparent', host: '127.0.0.1', port: 0, connectTimeoutMs: 2000, idleTimeoutMs: 5000 },
  });
  sni = new TlsInterceptor({
    ...common,
    originalDestination: () => ({ address: '127.0.0.1', port: tlsPort }),
    options: { host: '127.0.0.1', port: 0, helloTimeoutMs: 2000, connectTimeoutMs: 2000, idleTimeoutMs: 5000 },
  });
  explicitPort = await explicit.start();
  transparentPort = await transparent.start();
  sniPort = await sni.start();
});
after(async () => {
  await Promise.all([explicit.stop(), transparent.stop(), sni.stop()]);
  web.closeAllConnections();
  await new Promise((r) => web.close(r));
  await new Promise((r) => tlsServer.close(r));
  cert.cleanup();
});
beforeEach(() => {
  audit = new MemoryAudit();
  appendHook = undefined;
  seats.byIp.clear();
  upstreamRequests = 0;
  upstreamTcp = 0;
  tlsTcp = 0;
});

function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
  body?: Buffer,
): Promise<{ status: number; body: Buffer; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends a CONNECT, returns the status line and the socket. */
function connect(authority: string): Promise<{ status: string; sock: net.Socket }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(explicitPort, '127.0.0.1', () => sock.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
    let buf = '';
    const onData = (c: Buffer) => {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        sock.off('data', onData);
        resolve({ status: buf.split('\r\n')[0]!, sock });
      }
    };
    sock.on('data', onData);
    sock.on('error', reject);
    sock.on('close', () => resolve({ status: buf.split('\r\n')[0] ?? '', sock }));
  });
}

describe('explicit proxy', () => {
  it('no open session: 403 page, nothing reaches upstream, no audit record', async () => {
    const r = await get(explicitPort, `http://web.bggw.test:${webPort}/x`);
    assert.equal(r.status, 403);
    assert.match(r.body.toString(), /see the cashier/);
    assert.equal(upstreamRequests, 0);
    assert.equal(upstreamTcp, 0);
    assert.equal(audit.records.length, 0);
  });

  it('open session: absolute-form GET goes through and is recorded with seat, user and URL', async () => {
    seats.byIp.set('127.0.0.1', session('seat-7'));
    const r = await get(explicitPort, `http://web.bggw.test:${webPort}/page?q=1`, { 'proxy-connection': 'keep-alive' });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'hello /page?q=1');
    assert.equal(r.headers['x-host'], `web.bggw.test:${webPort}`);
    const [rec] = await audit.waitFor(1);
    assert.equal(rec!.kind, 'http');
    assert.equal(rec!.seat, 'seat-7');
    assert.equal(rec!.userName, 'Ana Pérez');
    assert.equal(rec!.docNumber, 'X1234567');
    assert.equal(rec!.url, `http://web.bggw.test:${webPort}/page?q=1`);
    assert.equal(rec!.method, 'GET');
    assert.equal(rec!.status, 200);
    assert.equal(rec!.verdict, 'allowed');
    assert.equal(rec!.bytesDown, 'hello /page?q=1'.length);
  });

  it('a URI that is not in normal form is normalised (WHATWG URL) before it goes upstream and into the record', async () => {
    seats.byIp.set('127.0.0.1', session('seat-7'));
    const r = await get(explicitPort, `http://WEB.bggw.test:${webPort}/a/../b?x='y'`);
    assert.equal(r.body.toString(), 'hello /b?x=%27y%27');
    const [rec] = await audit.waitFor(1);
    assert.equal(rec!.url, `http://web.bggw.test:${webPort}/b?x=%27y%27`);
    assert.equal(rec!.host, 'web.bggw.test');
  });

  it('streams large bodies both ways and counts their bytes', async () => {
    seats.byIp.set('127.0.0.1', session('seat-7'));
    const big = await get(explicitPort, `http://web.bggw.test:${webPort}/big`);
    assert.equal(big.body.length, BIG);
    const up = Buffer.alloc(3 * 1024 * 1024, 0x62);
    const echo = await get(explicitPort, `http://web.bggw.test:${webPort}/echo`, {}, 'POST', up);
    assert.equal(echo.body.length, up.length);
    const recs = await audit.waitFor(2);
    assert.equal(recs[0]!.bytesDown, BIG);
    assert.equal(recs[1]!.bytesUp, up.length);
    assert.equal(recs[1]!.method, 'POST');
  });

  it('an unreachable upstream gives 502 and an error record', async () => {
    seats.byIp.set('127.0.0.1', session('seat-7'));
    const r = await get(explicitPort, 'http://nowhere.bggw.test/');
    assert.equal(r.status, 502);
    const [rec] = await audit.waitFor(1);
    assert.equal(rec!.verdict, 'error');
    assert.equal(rec!.host, 'nowhere.bggw.test');
  });

  it('origin-form requests are not proxy requests: 400', async () => {
    seats.byIp.set('127.0.0.1', session('seat-7'));
    assert.equal((await get(explicitPort, '/local')).status, 400);
    assert.equal(upstreamRequests, 0);
  });

  it('CONNECT: 403 without a session (no upstream connection); with one, a tunnel recorded with its bytes', async () => {
    const refused = await connect(`web.bggw.test:${webPort}`);
    assert.equal(refused.status, 'HTTP/1.1 403 Forbidden');
    refused.sock.destroy();
    assert.equal(upstreamTcp, 0);

    seats.byIp.set('127.0.0.1', session('seat-9'));
    const { status, sock } = await connect(`web.bggw.test:${webPort}`);
    assert.equal(status, 'HTTP/1.1 200 Connection Established');
    const reply = await new Promise<string>((resolve) => {
      let b = '';
      sock.on('data', (c: Buffer) => (b += c.toString()));
      sock.on('close', () => resolve(b));
      sock.write(`GET /tunnelled HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n`);
    });
    assert.match(reply, /hello \/tunnelled/);
    const [rec] = await audit.waitFor(1);
    assert.equal(rec!.kind, 'tunnel');
    assert.equal(rec!.method, 'CONNECT');
    assert.equal(rec!.seat, 'seat-9');
    assert.equal(rec!.port, webPort);
    assert.equal(rec!.status, 200);
    assert.ok(rec!.bytesUp > 30 && rec!.bytesDown > 100, JSON.stringify(rec));
  });

  it('CONNECT to a port outside connectPorts (default [443]): 403, a refused record, nothing upstream', async () => {
    const strict = new HttpProxy({
      seats,
      audit: sink,
      logger,
      metrics,
      destinations,
      options: { mode: 'explicit', host: '127.0.0.1', port: 0, connectTimeoutMs: 2000, idleTimeoutMs: 5000 },
    });
    const port = await strict.start();
    try {
      seats.byIp.set('127.0.0.1', session('seat-9'));
      const r = await new Promise<string>((resolve) => {
        const sock = net.connect(port, '127.0.0.1', () => sock.write(`CONNECT web.bggw.test:${webPort} HTTP/1.1\r\nHost: x\r\n\r\n`));
        let b = '';
        sock.on('data', (c: Buffer) => (b += c.toString()));
        sock.on('close', () => resolve(b.split('\r\n')[0]!));
      });
      assert.equal(r, 'HTTP/1.1 403 Forbidden');
      assert.equal(upstreamTcp, 0);
      const [rec] = await audit.waitFor(1);
      assert.deepEqual([rec!.kind, rec!.verdict, rec!.status, rec!.port, rec!.seat], ['tunnel', 'refused', 403, webPort, 'seat-9']);
    } finally {
      await strict.stop();
    }
  });

  it("closeSeat cuts the seat's kept-alive connections and tunnels; other seats' stay", async () => {
    seats.byIp.set('127.0.0.1', session('seat-9'));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const first = await new Promise<net.Socket>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: explicitPort, path: `http://web.bggw.test:${webPort}/a`, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(req.socket!));
      });
      req.on('error', reject);
    });
    const tunnel = await connect(`web.bggw.test:${webPort}`);
    assert.equal(tunnel.status, 'HTTP/1.1 200 Connection Established');
    const closed = Promise.all([first, tunnel.sock].map((s) => (s.destroyed ? Promise.resolve() : new Promise((r) => s.once('close', r)))));
    assert.equal(explicit.closeSeat('10.0.0.99'), 0, 'another address: nothing cut');
    assert.equal(explicit.closeSeat('127.0.0.1'), 2);
    await closed;
    agent.destroy();
    // both still get their records: the request that completed, and the tunnel that was cut
    const recs = await audit.waitFor(2);
    assert.deepEqual(recs.map((r) => r.kind).sort(), ['http', 'tunnel']);
  });

  it('2,000 CONNECT tunnels open at once: each carries its own exchange, each gets its record', async () => {
    seats.byIp.set('127.0.0.1', session('seat-9'));
    const N = 2000;
    const tunnels = await Promise.all(Array.from({ length: N }, () => connect(`web.bggw.test:${webPort}`)));
    assert.equal(tunnels.filter((t) => t.status === 'HTTP/1.1 200 Connection Established').length, N, 'all established, all open together');
    const replies = await Promise.all(
      tunnels.map(
        ({ sock }, i) =>
          new Promise<string>((resolve) => {
            let b = '';
            sock.on('data', (c: Buffer) => (b += c.toString()));
            sock.on('close', () => resolve(b));
            sock.write(`GET /t${i} HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n`);
          }),
      ),
    );
    replies.forEach((r, i) => assert.match(r, new RegExp(`^HTTP/1.1 200 [^]*\\r\\nhello /t${i}\\r\\n`)));
    const recs = await audit.waitFor(N);
    assert.equal(recs.filter((r) => r.kind === 'tunnel' && r.status === 200 && r.bytesDown > 0).length, N);
  });

  it('CONNECT to a closed port: 502 and an error record', async () => {
    seats.byIp.set('127.0.0.1', session('seat-9'));
    const probe = net.createServer();
    const port = await listen(probe);
    await new Promise((r) => probe.close(r));
    const r = await connect(`127.0.0.1:${port}`);
    assert.equal(r.status, 'HTTP/1.1 502 Bad Gateway');
    const [rec] = await audit.waitFor(1);
    assert.equal(rec!.verdict, 'error');
  });
});

describe('explicit proxy: a response completes only once its audit record is committed', () => {
  /** Starts a GET through the proxy; `ended` is set once the client has the whole response. */
  function start(path: string): { ended: () => boolean; done: Promise<{ status: number; body: string }>; failed: Promise<Error> } {
    let ended = false;
    let fail: (e: Error) => void = () => undefined;
    const failed = new Promise<Error>((r) => (fail = r));
    const done = new Promise<{ status: number; body: string }>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: explicitPort, path: `http://web.bggw.test:${webPort}${path}`, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          ended = true;
          resolve({ status: res.statusCode!, body });
        });
        res.on('error', fail);
        res.on('aborted', () => fail(new Error('aborted')));
      });
      req.on('error', fail);
      req.end();
    });
    return { ended: () => ended, done, failed };
  }

  for (const [path, status, body] of [
    ['/held', 200, 'hello /held'],
    ['/empty', 204, ''],
  ] as const) {
    it(`${path}: held back while the commit is pending, delivered when it resolves`, async () => {
      seats.byIp.set('127.0.0.1', session('seat-5'));
      let commit: () => void = () => undefined;
      const appended = new Promise<AuditRecordInput>((got) => {
        appendHook = (r) => {
          got(r);
          return new Promise<void>((resolve) => (commit = resolve));
        };
      });
      const c = start(path);
      const rec = await appended; // the upstream response has ended at the proxy
      assert.equal(rec.status, status);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(c.ended(), false, 'the client must not see the response complete before its record commits');
      commit();
      assert.deepEqual(await c.done, { status, body });
    });
  }

  it('a commit that fails resets the client: it never sees the response complete', async () => {
    seats.byIp.set('127.0.0.1', session('seat-5'));
    const before = (await metrics.auditFailures.get()).values[0]?.value ?? 0;
    appendHook = () => Promise.reject(new Error('disk full'));
    const c = start('/lost');
    const outcome = await Promise.race([c.done.then(() => 'completed'), c.failed.then(() => 'reset')]);
    assert.equal(outcome, 'reset');
    assert.equal(c.ended(), false);
    assert.equal((await metrics.auditFailures.get()).values[0]?.value, before + 1);
  });
});

describe('explicit proxy: timeouts (one sweep, no per-request timers)', () => {
  it('an upstream that accepts but never answers: 502 after the idle timeout, and an error record', async () => {
    const silent = net.createServer(() => undefined);
    const port = await listen(silent);
    const quick = new HttpProxy({
      seats,
      audit: sink,
      logger,
      metrics,
      destinations,
      options: { mode: 'explicit', host: '127.0.0.1', port: 0, connectTimeoutMs: 300, idleTimeoutMs: 300 },
    });
    const quickPort = await quick.start();
    try {
      seats.byIp.set('127.0.0.1', session('seat-6'));
      const r = await get(quickPort, `http://web.bggw.test:${port}/slow`);
      assert.equal(r.status, 502);
      const [rec] = await audit.waitFor(1);
      assert.equal(rec!.verdict, 'error');
      assert.equal(rec!.url, `http://web.bggw.test:${port}/slow`);
    } finally {
      await quick.stop();
      silent.close();
    }
  });

  it('an upstream connection that never opens (here: a name lookup that never answers): 502 after the connect timeout', async () => {
    const hang = (() => undefined) as unknown as LookupFunction;
    const never = new DestinationPolicy({ options: { allow: [], lanSubnets: [] }, gatewayAddresses: () => [], lookup: hang });
    const quick = new HttpProxy({
      seats,
      audit: sink,
      logger,
      metrics,
      destinations: never,
      options: { mode: 'explicit', host: '127.0.0.1', port: 0, connectTimeoutMs: 300, idleTimeoutMs: 60_000 },
    });
    const quickPort = await quick.start();
    try {
      seats.byIp.set('127.0.0.1', session('seat-6'));
      const r = await get(quickPort, 'http://hang.bggw.test/');
      assert.equal(r.status, 502);
      const [rec] = await audit.waitFor(1);
      assert.equal(rec!.verdict, 'error');
      assert.equal(rec!.host, 'hang.bggw.test');
    } finally {
      await quick.stop();
    }
  });
});

describe('forwardedHead (RFC 9110 §7.6.1)', () => {
  it('drops hop-by-hop fields and those the Connection header names, keeps repeats in order, drops Host on request', () => {
    const raw = [
      'Host',
      'client.example',
      'Connection',
      'keep-alive, X-Hop',
      'X-Hop',
      '1',
      'Keep-Alive',
      'timeout=5',
      'Set-Cookie',
      'a=1',
      'Proxy-Authorization',
      'secret',
      'set-cookie',
      'b=2',
      'Transfer-Encoding',
      'chunked',
      'Accept',
      '*/*',
    ];
    assert.equal(forwardedHead(raw, { dropHost: true }), 'Set-Cookie: a=1\r\nset-cookie: b=2\r\nAccept: */*\r\n');
    assert.equal(forwardedHead(['Content-Length', '3', 'HOST', 'x'], {}), 'Content-Length: 3\r\nHOST: x\r\n');
  });
  it('keeps the body framing when the body is relayed as it arrived (chunked stays chunked, RFC 9112 §6.3 rule 3)', () => {
    const raw = ['Transfer-Encoding', 'chunked', 'Content-Length', '10', 'TE', 'trailers', 'Date', 'x'];
    assert.equal(forwardedHead(raw, { keepTransferEncoding: true, dropContentLength: true }), 'Transfer-Encoding: chunked\r\nDate: x\r\n');
  });
});

describe('transparent HTTP interceptor', () => {
  it('takes the upstream from Host; refuses without a session', async () => {
    assert.equal((await get(transparentPort, '/t', { host: `web.bggw.test:${webPort}` })).status, 403);
    assert.equal(upstreamRequests, 0);
    seats.byIp.set('127.0.0.1', session('seat-3'));
    const r = await get(transparentPort, '/t?x', { host: `web.bggw.test:${webPort}` });
    assert.equal(r.body.toString(), 'hello /t?x');
    const [rec] = await audit.waitFor(1);
    assert.equal(rec!.url, `http://web.bggw.test:${webPort}/t?x`);
    assert.equal(rec!.seat, 'seat-3');
  });
});

describe('TLS SNI interceptor', () => {
  function tlsGet(servername: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: sniPort, servername, ca: cert.cert }, () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      let b = '';
      s.on('data', (c: Buffer) => (b += c.toString()));
      s.on('end', () => resolve(b));
      s.on('error', reject);
    });
  }

  it('splices to <sni>:443 without decrypting (the client verifies the real server cert) and records the SNI', async () => {
    seats.byIp.set('127.0.0.1', session('seat-4'));
    const body = await tlsGet('tls.bggw.test');
    assert.match(body, /secret$/);
    const [rec] = await audit.waitFor(1);
    assert.equal(rec!.kind, 'tls');
    assert.equal(rec!.sni, 'tls.bggw.test');
    assert.equal(rec!.host, 'tls.bggw.test');
    assert.equal(rec!.url, undefined);
    assert.equal(rec!.seat, 'seat-4');
    assert.ok(rec!.bytesUp > 200 && rec!.bytesDown > 200);
  });

  it('no session: closed before anything reaches upstream', async () => {
    const r = await tlsGet('tls.bggw.test').catch(() => 'refused');
    assert.doesNotMatch(r, /secret/);
    assert.equal(tlsTcp, 0);
    assert.equal(audit.records.length, 0);
  });

  it('not TLS: dropped, nothing upstream', async () => {
    seats.byIp.set('127.0.0.1', session('seat-4'));
    const closed = await new Promise<boolean>((resolve) => {
      const s = net.connect(sniPort, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\n\r\n'));
      s.on('close', () => resolve(true));
      s.on('error', () => undefined);
    });
    assert.ok(closed);
    assert.equal(tlsTcp, 0);
  });
});
