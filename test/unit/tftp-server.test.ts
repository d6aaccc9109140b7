import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { pino } from 'pino';
import { encodeTftp } from '../../src/tftp/codec.ts';
import { tftpConfigSchema } from '../../src/tftp/config.ts';
import { Op } from '../../src/tftp/constants.ts';
import { createTftpMetrics } from '../../src/tftp/metrics.ts';
import { TftpServer } from '../../src/tftp/server.ts';
import { MemorySource } from '../../src/tftp/source.ts';
import { Transfer, type TransferEnd } from '../../src/tftp/transfer.ts';
import { MemoryNetwork } from '../helpers/memory-network.ts';
import { MemoryTransferSockets } from '../helpers/tftp-memory.ts';

const ack = (n: number): Buffer => encodeTftp({ op: Op.ACK, block: n & 0xffff });
const CLIENT = '10.71.9.9';

/** A Transfer wired to a recording socket and a hand-driven clock. */
function transfer(size: number, o: { blksize?: number; windowsize?: number; oack?: Map<string, string>; retries?: number } = {}) {
  const sent: Array<{ to: string; buf: Buffer }> = [];
  const ends: TransferEnd[] = [];
  const strays: string[] = [];
  let now = 0;
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 7) & 0xff;
  const t = new Transfer({
    clientAddress: CLIENT,
    clientPort: 2000,
    socket: { port: 5555, send: (buf, a, p) => void sent.push({ to: `${a}:${p}`, buf }), close: () => undefined },
    source: new MemorySource(data),
    blksize: o.blksize ?? 512,
    windowsize: o.windowsize ?? 1,
    timeoutMs: 1000,
    retries: o.retries ?? 3,
    oack: o.oack,
    now: () => now,
    onEnd: (_t, e) => void ends.push(e),
    onSent: () => undefined,
    onStray: (r) => void strays.push(r),
  });
  const blocks = (): number[] => sent.splice(0).map((s) => (s.buf.readUInt16BE(0) === Op.DATA ? s.buf.readUInt16BE(2) : -s.buf.readUInt16BE(0)));
  return { t, sent, ends, strays, data, blocks, advance: (ms: number) => t.tick((now += ms)) };
}

describe('TFTP transfer state machine', () => {
  it('lock-step: DATA n+1 only after ACK n; the last short block ends it on its ACK', () => {
    const x = transfer(1100);
    x.t.start();
    assert.deepEqual(x.blocks(), [1]);
    x.t.receive(ack(1), CLIENT, 2000);
    x.t.receive(ack(2), CLIENT, 2000);
    assert.deepEqual(x.blocks(), [2, 3]);
    assert.deepEqual(x.ends, []);
    x.t.receive(ack(3), CLIENT, 2000);
    assert.deepEqual(x.ends, [{ ok: true, confirmed: true }]);
  });

  it('a file that is a multiple of blksize ends with an empty DATA', () => {
    const x = transfer(1024);
    x.t.start();
    x.t.receive(ack(1), CLIENT, 2000);
    x.t.receive(ack(2), CLIENT, 2000);
    const last = x.sent.at(-1)!.buf;
    assert.equal(last.readUInt16BE(2), 3);
    assert.equal(last.length, 4);
  });

  it("T2: a duplicate ACK sends nothing (Sorcerer's Apprentice); the timer resends, then gives up", () => {
    const x = transfer(5000, { retries: 2 });
    x.t.start();
    x.t.receive(ack(1), CLIENT, 2000);
    x.blocks();
    x.t.receive(ack(1), CLIENT, 2000);
    x.t.receive(ack(1), CLIENT, 2000);
    assert.deepEqual(x.blocks(), []);
    assert.deepEqual(x.strays, ['duplicate_ack', 'duplicate_ack']);
    x.advance(999);
    assert.deepEqual(x.blocks(), []);
    x.advance(1);
    assert.deepEqual(x.blocks(), [2]);
    x.advance(1000);
    assert.deepEqual(x.blocks(), [2]);
    x.advance(1000);
    assert.deepEqual(x.ends, [{ ok: false, reason: 'timeout' }]);
  });

  it('T4: block numbers wrap 65535 → 0 → 1 and ACKs are matched across the wrap (blksize 8, 65537 blocks)', () => {
    const x = transfer(65536 * 8 + 3, { blksize: 8 });
    x.t.start();
    const seen: number[] = [];
    let got = Buffer.alloc(0);
    const parts: Buffer[] = [];
    for (let i = 0; i < 70000 && x.ends.length === 0; i++) {
      const s = x.sent.splice(0);
      for (const p of s) {
        const n = p.buf.readUInt16BE(2);
        if (seen.length < 65540) seen.push(n);
        parts.push(p.buf.subarray(4));
        x.t.receive(ack(n), CLIENT, 2000);
      }
    }
    got = Buffer.concat(parts);
    assert.deepEqual(seen.slice(65533, 65538), [65534, 65535, 0, 1]);
    assert.deepEqual(x.ends, [{ ok: true, confirmed: true }]);
    assert.ok(got.equals(x.data));
  });

  it('RFC 7440: a window per ACK; a partial ACK goes back to the block after it; a timeout resends the window', () => {
    const x = transfer(512 * 10 + 1, { windowsize: 4, oack: new Map([['windowsize', '4']]) });
    x.t.start();
    assert.deepEqual(x.blocks(), [-Op.OACK]);
    x.t.receive(ack(0), CLIENT, 2000);
    assert.deepEqual(x.blocks(), [1, 2, 3, 4]);
    x.t.receive(ack(4), CLIENT, 2000);
    assert.deepEqual(x.blocks(), [5, 6, 7, 8]);
    x.t.receive(ack(6), CLIENT, 2000);
    assert.deepEqual(x.blocks(), [7, 8, 9, 10]);
    x.advance(1000);
    assert.deepEqual(x.blocks(), [7, 8, 9, 10]);
    x.t.receive(ack(10), CLIENT, 2000);
    assert.deepEqual(x.blocks(), [11]);
    x.t.receive(ack(11), CLIENT, 2000);
    assert.deepEqual(x.ends, [{ ok: true, confirmed: true }]);
  });

  it('OACK: resent on the timer until ACK 0; a client ERROR (EDK2 tsize probe) ends it with nothing more sent', () => {
    const x = transfer(5000, { oack: new Map([['tsize', '5000']]) });
    x.t.start();
    x.advance(1000);
    assert.deepEqual(x.blocks(), [-Op.OACK, -Op.OACK]);
    x.t.receive(encodeTftp({ op: Op.ERROR, code: 8, message: 'probe' }), CLIENT, 2000);
    assert.deepEqual(x.ends, [{ ok: false, reason: 'client_error', detail: 'error 8' }]);
    x.advance(5000);
    x.t.receive(ack(0), CLIENT, 2000);
    assert.deepEqual(x.blocks(), []);
  });

  it('a foreign TID gets ERROR 5 and the transfer goes on; garbage is ignored', () => {
    const x = transfer(600);
    x.t.start();
    x.blocks();
    x.t.receive(ack(1), CLIENT, 2001);
    x.t.receive(ack(1), '10.71.9.8', 2000);
    const errs = x.sent.splice(0);
    assert.deepEqual(
      errs.map((e) => [e.to, e.buf.readUInt16BE(0), e.buf.readUInt16BE(2)]),
      [
        [`${CLIENT}:2001`, Op.ERROR, 5],
        ['10.71.9.8:2000', Op.ERROR, 5],
      ],
    );
    x.t.receive(Buffer.from([0, 4]), CLIENT, 2000);
    x.t.receive(ack(7), CLIENT, 2000);
    assert.deepEqual(x.strays, ['foreign_tid', 'foreign_tid', 'short_packet', 'ack_ahead']);
    x.t.receive(ack(1), CLIENT, 2000);
    assert.deepEqual(x.blocks(), [2]);
  });

  it('the final ACK may go missing: after the retries the transfer counts as delivered, unconfirmed', () => {
    const x = transfer(100, { retries: 1 });
    x.t.start();
    x.advance(1000);
    x.advance(1000);
    assert.deepEqual(x.ends, [{ ok: true, confirmed: false }]);
  });

  it('a last window with several unacknowledged blocks is not "delivered": the retries end in a timeout', () => {
    const x = transfer(512 * 6 + 1, { windowsize: 4, retries: 1, oack: new Map([['windowsize', '4']]) });
    x.t.start();
    x.t.receive(ack(0), CLIENT, 2000);
    x.t.receive(ack(4), CLIENT, 2000);
    assert.deepEqual(x.blocks().slice(-3), [5, 6, 7]);
    x.advance(1000);
    x.advance(1000);
    assert.deepEqual(x.ends, [{ ok: false, reason: 'timeout' }]);
  });
});

describe('TFTP server (in-memory sockets)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bgtftp-srv-'));
    writeFileSync(join(dir, 'nbp.efi'), Buffer.alloc(3000, 0xab));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function server(over: Record<string, unknown> = {}) {
    const net = new MemoryNetwork();
    const tsock = new MemoryTransferSockets();
    const registry = new Registry();
    const metrics = createTftpMetrics(registry);
    const served: string[] = [];
    let now = 1_000_000;
    const s = new TftpServer({
      config: tftpConfigSchema.parse({ root: dir, ...over }),
      lanInterface: '',
      socketFactory: net.factory,
      logger: pino({ level: 'silent' }),
      metrics,
      clock: () => now,
      transferSocketFactory: tsock.factory,
      onFileServed: (ip, p, n) => void served.push(`${ip} ${p} ${n}`),
    });
    s.start();
    const rrq = (name: string, port: number, opts: Record<string, string> = {}, address = CLIENT): void =>
      net.inject(69, encodeTftp({ op: Op.RRQ, filename: name, mode: 'octet', options: new Map(Object.entries(opts)) }), {
        address,
        port,
        localAddress: '10.71.0.1',
      });
    /** waits (without a deadline assertion) until the asynchronous transfer setup has produced `n` packets */
    const sentAtLeast = async (n: number): Promise<void> => {
      while (tsock.sent.length < n) await new Promise((r) => setTimeout(r, 5));
    };
    const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
      const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
      return (m?.values ?? [])
        .filter((v) => Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val))
        .reduce((a, v) => a + v.value, 0);
    };
    return { s, net, tsock, rrq, sentAtLeast, metric, served, tick: (ms: number) => (now += ms) };
  }

  it('serves a file over a new port and reports it to onFileServed', async () => {
    const x = server();
    x.rrq('/nbp.efi', 3001, { blksize: '1468' });
    await x.sentAtLeast(1);
    const [oack] = x.tsock.take();
    assert.equal(oack!.pkt.op, Op.OACK);
    x.tsock.deliver(oack!.from, ack(0), CLIENT, 3001);
    x.tsock.deliver(oack!.from, ack(1), CLIENT, 3001);
    x.tsock.deliver(oack!.from, ack(2), CLIENT, 3001);
    x.tsock.deliver(oack!.from, ack(3), CLIENT, 3001);
    assert.deepEqual(x.served, [`${CLIENT} nbp.efi 3000`]);
    assert.equal(await x.metric('bootgate_tftp_transfers_completed_total'), 1);
    assert.equal(x.tsock.open.size, 0, 'the transfer socket is closed');
    x.s.stop();
  });

  it('WRQ → ERROR 2 from port 69; a repeated RRQ from the same port starts no second transfer; malformed input is counted', async () => {
    const x = server();
    x.net.inject(69, encodeTftp({ op: Op.WRQ, filename: 'x', mode: 'octet', options: new Map() }), { address: CLIENT, port: 3002 });
    const [err] = x.net.take();
    assert.deepEqual(err!.buf.subarray(0, 4), Buffer.from([0, 5, 0, 2]));
    x.rrq('nbp.efi', 3003);
    x.rrq('nbp.efi', 3003);
    await x.sentAtLeast(1);
    assert.equal(await x.metric('bootgate_tftp_transfers_started_total'), 1);
    assert.equal(await x.metric('bootgate_tftp_drops_total', { reason: 'duplicate_request' }), 1);
    x.net.inject(69, Buffer.from([0, 1, 0x41]), { address: CLIENT, port: 3004 });
    x.net.inject(69, Buffer.from([0, 4, 0, 1]), { address: CLIENT, port: 3004 });
    assert.equal(await x.metric('bootgate_tftp_drops_total', { reason: 'malformed_unterminated_string' }), 1);
    assert.equal(await x.metric('bootgate_tftp_drops_total', { reason: 'not_a_request' }), 1);
    x.s.stop();
  });

  it('beyond maxTransfers requests wait in a queue and start when a slot frees', async () => {
    const x = server({ maxTransfers: 2 });
    for (const p of [4001, 4002, 4003, 4004]) x.rrq('nbp.efi', p);
    await x.sentAtLeast(2);
    assert.equal(x.s.activeTransfers, 2);
    assert.equal(await x.metric('bootgate_tftp_queue_length'), 2);
    for (const s of x.tsock.take())
      x.tsock.deliver(s.from, encodeTftp({ op: Op.ERROR, code: 0, message: 'bye' }), CLIENT, Number(s.to.split(':')[1]));
    await x.sentAtLeast(2);
    assert.equal(await x.metric('bootgate_tftp_transfers_started_total'), 4);
    assert.equal(await x.metric('bootgate_tftp_queue_length'), 0);
    assert.equal(await x.metric('bootgate_tftp_queued_total'), 2);
    x.s.stop();
    assert.equal(x.tsock.open.size, 0);
  });

  it('per-source rate limit drops RRQs beyond the burst; other sources are unaffected', async () => {
    const x = server({ rateLimit: { perSourcePerSecond: 1, burst: 3 } });
    for (let p = 5001; p <= 5005; p++) x.rrq('nbp.efi', p);
    x.rrq('nbp.efi', 5001, {}, '10.71.9.10');
    await x.sentAtLeast(4);
    assert.equal(await x.metric('bootgate_tftp_drops_total', { reason: 'rate_limited' }), 2);
    assert.equal(await x.metric('bootgate_tftp_transfers_started_total'), 4);
    x.s.stop();
  });

  it('the second request for a hot file is a cache hit', async () => {
    const x = server();
    x.rrq('nbp.efi', 6001);
    await x.sentAtLeast(1);
    x.rrq('nbp.efi', 6002);
    await x.sentAtLeast(2);
    assert.equal(await x.metric('bootgate_tftp_cache_misses_total'), 1);
    assert.equal(await x.metric('bootgate_tftp_cache_hits_total'), 1);
    x.s.stop();
  });
});
