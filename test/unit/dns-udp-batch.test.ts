import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { decodeMessage } from '../../src/dns/codec.ts';
import { dnsConfigSchema } from '../../src/dns/config.ts';
import { RRType } from '../../src/dns/constants.ts';
import { createDnsMetrics } from '../../src/dns/metrics.ts';
import { DnsServer } from '../../src/dns/server.ts';
import { loadDnsUdpAddon } from '../../src/dns/udp-batch.ts';
import { FakeUpstreams, IN, query } from '../helpers/dns-fakes.ts';

/** Sends every buffer from one socket at once and collects replies by ID until `want` arrived. */
async function burst(sock: Socket, port: number, address: string, bufs: Buffer[], want: number): Promise<Map<number, Buffer>> {
  const got = new Map<number, Buffer>();
  const onMsg = (b: Buffer): void => void got.set(b.readUInt16BE(0), b);
  sock.on('message', onMsg);
  for (const b of bufs) sock.send(b, port, address);
  for (let i = 0; i < 300 && got.size < want; i++) await new Promise((r) => setTimeout(r, 10));
  sock.off('message', onMsg);
  return got;
}

describe('DNS server: batched UDP (recvmmsg/sendmmsg addon)', () => {
  it('is built (npm install), so the server uses it by default', () => {
    assert.ok(loadDnsUdpAddon(), 'src/native/dns_udp.c is in the addon');
  });

  for (const address of ['127.0.0.1', '::1'])
    it(`answers bursts larger than a batch to the right peers, cache hits at once and forwarded ones later (${address})`, async () => {
      const upstreams = new FakeUpstreams();
      upstreams.zone.set('www.example.org', [
        { name: 'www.example.org', type: RRType.A, class: IN, ttl: 300, data: { kind: 'a', address: '192.0.2.10' } },
      ]);
      const server = new DnsServer({
        config: dnsConfigSchema.parse({ enabled: true, listen: [address], port: 0, upstreams: ['192.0.2.53'] }),
        logger: pino({ level: 'silent' }),
        metrics: createDnsMetrics(new Registry()),
        transport: upstreams,
        udpIo: 'batch',
      });
      await server.start();
      const { udpPort } = server.addresses[0]!;
      const family = address.includes(':') ? 'udp6' : 'udp4';
      const a = createSocket(family);
      const b = createSocket(family);
      await Promise.all([a, b].map((s) => new Promise<void>((r) => s.bind(0, address, () => r()))));
      try {
        const first = await burst(a, udpPort, address, [query('www.example.org', RRType.A, { id: 1 })], 1);
        assert.equal(decodeMessage(first.get(1)!).answers.length, 1, 'forwarded, then cached');
        // 100 hits from a and 100 from b, interleaved; a also asks 5 names that go upstream (NXDOMAIN, later)
        const ids = Array.from({ length: 100 }, (_, i) => 1000 + i);
        const fromA = ids.map((id) => query(id % 2 ? 'WWW.example.org' : 'www.example.org', RRType.A, { id, edns: 1232 }));
        const fromB = ids.map((id) => query('www.example.org', RRType.A, { id: id + 5000 }));
        const misses = [1, 2, 3, 4, 5].map((i) => query(`nx${i}.example.org`, RRType.A, { id: 9000 + i }));
        const [gotA, gotB] = await Promise.all([burst(a, udpPort, address, [...fromA, ...misses], 105), burst(b, udpPort, address, fromB, 100)]);
        assert.equal(gotA.size, 105);
        assert.equal(gotB.size, 100);
        for (const id of ids) {
          const m = decodeMessage(gotA.get(id)!);
          assert.equal(m.questions[0]!.name, id % 2 ? 'WWW.example.org' : 'www.example.org');
          assert.equal(m.edns?.udpSize, 1232);
          assert.deepEqual(m.answers[0]!.data, { kind: 'a', address: '192.0.2.10' });
          assert.equal(decodeMessage(gotB.get(id + 5000)!).edns, undefined);
        }
        for (const i of [1, 2, 3, 4, 5]) assert.equal(decodeMessage(gotA.get(9000 + i)!).rcode, 3);
      } finally {
        a.close();
        b.close();
        await server.stop();
      }
    });
});
