import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { encodeTftp } from '../../src/tftp/codec.ts';
import { tftpConfigSchema } from '../../src/tftp/config.ts';
import { Op } from '../../src/tftp/constants.ts';
import { createTftpMetrics } from '../../src/tftp/metrics.ts';
import { TftpServer } from '../../src/tftp/server.ts';
import { MemoryNetwork } from '../helpers/memory-network.ts';
import { MemoryTransferSockets } from '../helpers/tftp-memory.ts';

/** Random datagrams at the live server (listening port and transfer ports): nothing escapes, it keeps serving. */
describe('TFTP server under random datagrams', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bgtftp-fuzz-'));
    writeFileSync(join(dir, 'f.bin'), Buffer.alloc(2000, 1));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('drops and counts garbage, never throws, and still serves a valid RRQ afterwards', async () => {
    const net = new MemoryNetwork();
    const tsock = new MemoryTransferSockets();
    const registry = new Registry();
    const server = new TftpServer({
      config: tftpConfigSchema.parse({ root: dir, rateLimit: { perSourcePerSecond: 1e6, burst: 1e6 } }),
      lanInterface: '',
      socketFactory: net.factory,
      logger: pino({ level: 'silent' }),
      metrics: createTftpMetrics(registry),
      transferSocketFactory: tsock.factory,
    });
    server.start();
    const datagram = fc.oneof(
      fc.uint8Array({ maxLength: 600 }).map((u) => Buffer.from(u)),
      fc
        .tuple(fc.integer({ min: 1, max: 6 }), fc.uint8Array({ maxLength: 60 }))
        .map(([op, u]) => Buffer.concat([Buffer.from([0, op]), Buffer.from(u)])),
      fc
        .tuple(
          fc.constantFrom('f.bin', '../f.bin', 'nope', '\\f.bin'),
          fc.constantFrom('octet', 'netascii', 'mail'),
          fc.array(fc.tuple(fc.constantFrom('blksize', 'tsize', 'timeout', 'windowsize', 'x'), fc.string({ maxLength: 6 })), { maxLength: 4 }),
        )
        .map(([f, m, o]) => encodeTftp({ op: Op.RRQ, filename: f, mode: m, options: new Map(o.filter(([, v]) => !v.includes('\0'))) })),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(datagram, fc.integer({ min: 1, max: 65535 }), fc.boolean()), { minLength: 1, maxLength: 20 }),
        async (batch) => {
          for (const [buf, port, toTransfer] of batch) {
            const open = [...tsock.open.keys()];
            if (toTransfer && open.length > 0) tsock.deliver(open[port % open.length]!, buf, '10.71.5.5', port);
            else net.inject(69, buf, { address: '10.71.5.5', port, localAddress: '10.71.0.1' });
          }
          await new Promise((r) => setImmediate(r));
        },
      ),
      { numRuns: 300 },
    );
    tsock.take();
    net.inject(69, encodeTftp({ op: Op.RRQ, filename: 'f.bin', mode: 'octet', options: new Map() }), {
      address: '10.71.6.6',
      port: 999,
      localAddress: '10.71.0.1',
    });
    while (!tsock.sent.some((s) => s.to === '10.71.6.6:999')) await new Promise((r) => setTimeout(r, 5));
    const first = tsock.sent.find((s) => s.to === '10.71.6.6:999')!;
    assert.equal(first.pkt.op, Op.DATA);
    const internal = (await registry.getSingleMetric('bootgate_tftp_drops_total')!.get()).values.filter((v) => v.labels.reason === 'internal_error');
    assert.deepEqual(internal, []);
    server.stop();
  });
});
