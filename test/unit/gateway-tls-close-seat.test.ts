import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createGatewayMetrics } from '../../src/gateway/metrics.ts';
import { TlsInterceptor } from '../../src/gateway/proxy/tls-interceptor.ts';
import { createLogger } from '../../src/log/logger.ts';
import { MemoryAudit, MemorySeats, selfSignedCert, session, loopbackDestinations } from '../helpers/gateway-harness.ts';

/**
 * TlsInterceptor.closeSeat: a seat's session closes while its browser holds kept-alive TLS connections. Those
 * connections are cut (and recorded); another seat's connection goes on. Two seats from one host: 127.0.0.1
 * and 127.0.0.2 (Linux routes all of 127/8 to lo).
 */
describe('TLS SNI interceptor: closeSeat cuts the connections of one seat', () => {
  const cert = selfSignedCert(['keep.bgcr.test']);
  const registry = new Registry();
  const metrics = createGatewayMetrics(registry);
  const seats = new MemorySeats();
  const audit = new MemoryAudit();
  // A kept-alive upstream: answers every line, never closes first.
  const upstream = tls.createServer({ key: cert.key, cert: cert.cert }, (s) => {
    s.on('data', (c: Buffer) => s.write(`pong ${c.toString().trim()}\n`));
    s.on('error', () => undefined);
  });
  let interceptor: TlsInterceptor;
  let port = 0;

  before(async () => {
    const upstreamPort = await new Promise<number>((r) => upstream.listen(0, '127.0.0.1', () => r((upstream.address() as net.AddressInfo).port)));
    interceptor = new TlsInterceptor({
      seats,
      audit,
      logger: createLogger('silent'),
      metrics,
      destinations: loopbackDestinations({ 'keep.bgcr.test': '127.0.0.1' }),
      originalDestination: () => ({ address: '127.0.0.1', port: upstreamPort }),
      options: { host: '127.0.0.1', port: 0, helloTimeoutMs: 2000, connectTimeoutMs: 2000, idleTimeoutMs: 10_000 },
    });
    port = await interceptor.start();
  });
  after(async () => {
    await interceptor.stop();
    upstream.close();
    cert.cleanup();
  });

  /** A TLS client from `localAddress` through the interceptor; `ask` sends a line and resolves the reply. */
  async function client(localAddress: string): Promise<{ sock: tls.TLSSocket; ask: (line: string) => Promise<string>; closed: Promise<void> }> {
    const sock = tls.connect({ socket: net.connect({ host: '127.0.0.1', port, localAddress }), servername: 'keep.bgcr.test', ca: cert.cert });
    sock.on('error', () => undefined);
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', resolve);
      sock.once('close', () => reject(new Error('closed before the handshake')));
    });
    const ask = (line: string) =>
      new Promise<string>((resolve) => {
        sock.once('data', (c: Buffer) => resolve(c.toString().trim()));
        sock.write(`${line}\n`);
      });
    return { sock, ask, closed };
  }

  it('cuts the closed seat, records what it did, leaves the other seat alone', async () => {
    seats.byIp.set('127.0.0.1', session('seat-A'));
    seats.byIp.set('127.0.0.2', session('seat-B', 'u-2'));
    const a = await client('127.0.0.1');
    const b = await client('127.0.0.2');
    assert.equal(await a.ask('a1'), 'pong a1');
    assert.equal(await b.ask('b1'), 'pong b1');

    seats.byIp.delete('127.0.0.1');
    assert.equal(interceptor.closeSeat('127.0.0.1'), 1);
    await a.closed;
    const [rec] = await audit.waitFor(1);
    assert.equal(rec!.kind, 'tls');
    assert.equal(rec!.seat, 'seat-A');
    assert.equal(rec!.sni, 'keep.bgcr.test');
    assert.equal(rec!.verdict, 'allowed');
    assert.ok(rec!.bytesUp > 0 && rec!.bytesDown > 0);
    assert.equal(
      (await registry.getSingleMetric('bootgate_gateway_drops_total')!.get()).values.find((v) => v.labels.reason === 'session_closed')?.value,
      1,
    );

    assert.equal(await b.ask('b2'), 'pong b2', 'the other seat still goes through');
    assert.equal(interceptor.closeSeat('127.0.0.9'), 0);
    b.sock.destroy();
    await b.closed;
    const recs = await audit.waitFor(2);
    assert.equal(recs[1]!.seat, 'seat-B');
  });
});
