import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import fc from 'fast-check';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { decodeMessage } from '../../src/dns/codec.ts';
import { dnsConfigSchema } from '../../src/dns/config.ts';
import { createDnsMetrics } from '../../src/dns/metrics.ts';
import { DnsServer } from '../../src/dns/server.ts';
import { frame } from '../../src/dns/tcp-framer.ts';
import { FakeUpstreams, query } from '../helpers/dns-fakes.ts';

/** Random and mutated datagrams and TCP streams at the live server on loopback: it keeps serving. */
describe('DNS server (live sockets on 127.0.0.1) under random input', () => {
  for (const udpIo of ['batch', 'dgram'] as const)
    it(`drops garbage over UDP (${udpIo}) and TCP, never crashes, and answers a valid query afterwards on both`, async () => {
      const registry = new Registry();
      const server = new DnsServer({
        udpIo,
        config: dnsConfigSchema.parse({ enabled: true, listen: ['127.0.0.1'], port: 0, upstreams: ['192.0.2.53'], hosts: { printer: '10.53.0.9' } }),
        logger: pino({ level: 'silent' }),
        metrics: createDnsMetrics(registry),
        transport: new FakeUpstreams(),
      });
      await server.start();
      const { udpPort, tcpPort } = server.addresses[0]!;
      const udp = createSocket('udp4');
      const replies: Buffer[] = [];
      udp.on('message', (b) => replies.push(b));
      const packet = fc.oneof(
        fc.uint8Array({ maxLength: 600 }).map((u) => Buffer.from(u)),
        fc
          .tuple(fc.constantFrom('printer', 'x.lan', 'www.example.org'), fc.nat(), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 6 }))
          .map(([n, t, edits]) => {
            const b = query(n, t % 300, { edns: 1232 });
            for (const [at, v] of edits) b[at % b.length] = v;
            return b;
          }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(packet, { minLength: 1, maxLength: 10 }), async (batch) => {
          for (const b of batch) udp.send(b, udpPort, '127.0.0.1');
          // one TCP connection gets the same bytes framed, then a few raw ones (a broken stream)
          await new Promise<void>((resolve) => {
            const s = connect(tcpPort, '127.0.0.1', () => {
              s.write(Buffer.concat([...batch.map(frame), Buffer.from(batch[0]!.subarray(0, 5))]));
              s.end();
            });
            s.on('data', (d) => {
              void d;
            });
            s.on('error', () => resolve());
            s.on('close', () => resolve());
          });
        }),
        { numRuns: 150 },
      );
      for (const r of replies) assert.equal(decodeMessage(r).flags.qr, true);
      replies.length = 0;
      udp.send(query('printer', 1, { id: 99 }), udpPort, '127.0.0.1');
      for (let i = 0; i < 100 && replies.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      const ok = replies.map(decodeMessage).find((m) => m.id === 99);
      assert.deepEqual(ok?.answers[0]?.data, { kind: 'a', address: '10.53.0.9' });
      const tcpAnswer = await new Promise<Buffer>((resolve, reject) => {
        const s = connect(tcpPort, '127.0.0.1', () => s.write(frame(query('printer', 1, { id: 100 }))));
        let buf = Buffer.alloc(0);
        s.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
            resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
            s.destroy();
          }
        });
        s.on('error', reject);
      });
      assert.equal(decodeMessage(tcpAnswer).id, 100);
      const internal = (await registry.getSingleMetric('bootgate_dns_drops_total')!.get()).values.filter((v) => v.labels.reason === 'internal_error');
      assert.deepEqual(internal, []);
      udp.close();
      await server.stop();
    });
});
