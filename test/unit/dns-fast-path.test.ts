import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeMessage, encodeMessage } from '../../src/dns/codec.ts';
import { RRType, Rcode } from '../../src/dns/constants.ts';
import { IN, TCP, UDP, makeResolver, query } from '../helpers/dns-fakes.ts';

const A = (name: string, address: string, ttl = 300) => ({ name, type: RRType.A, class: IN, ttl, data: { kind: 'a' as const, address } });
const txt = (name: string, bytes: number) => ({
  name,
  type: RRType.TXT,
  class: IN,
  ttl: 300,
  data: { kind: 'txt' as const, strings: Array.from({ length: Math.ceil(bytes / 200) }, () => Buffer.alloc(200, 0x78)) },
});

/** A resolver whose cache holds www.example.org A (TTL 300) and a negative answer for gone.example.org. */
async function warm(config: Record<string, unknown> = {}) {
  const r = makeResolver(config);
  r.upstreams.zone.set('www.example.org', [A('www.example.org', '192.0.2.10', 300)]);
  r.upstreams.zone.set('mid.example.org', [txt('mid.example.org', 800)]);
  await r.resolver.handle(query('www.example.org'), UDP);
  await r.resolver.handle(query('gone.example.org'), UDP);
  await r.resolver.handle(query('mid.example.org', RRType.TXT, { edns: 4096 }), UDP);
  return r;
}

/** The reply, which must be synchronous (a cache hit never waits). */
function hit(resolver: ReturnType<typeof makeResolver>['resolver'], buf: Buffer, ctx = UDP): Buffer {
  const out = resolver.handle(buf, ctx);
  assert.ok(Buffer.isBuffer(out), 'a cache hit is answered synchronously');
  return out;
}

describe('DNS fast path (cached wire replies)', () => {
  it('copies the client ID and question bytes (0x20 mixed case), keeps RD/CD, sets QR and RA', async () => {
    const { resolver, upstreams } = await warm();
    const q = query('wWw.ExAmPlE.oRg', RRType.A, { id: 0xbeef });
    q[3] = q[3]! | 0x10; // CD
    const out = hit(resolver, q);
    assert.deepEqual(out.subarray(0, 2), Buffer.from([0xbe, 0xef]));
    assert.deepEqual(out.subarray(12, 12 + 21), q.subarray(12, 12 + 21), 'question bytes as sent');
    const m = decodeMessage(out);
    assert.equal(m.questions[0]!.name, 'wWw.ExAmPlE.oRg');
    assert.deepEqual(
      { qr: m.flags.qr, rd: m.flags.rd, ra: m.flags.ra, cd: m.flags.cd, aa: m.flags.aa, tc: m.flags.tc },
      { qr: true, rd: true, ra: true, cd: true, aa: false, tc: false },
    );
    assert.deepEqual(m.answers[0]!.data, { kind: 'a', address: '192.0.2.10' });
    // a second spelling right after: its own bytes, not the first client's
    const again = decodeMessage(hit(resolver, query('WWW.EXAMPLE.ORG', RRType.A, { id: 1 })));
    assert.equal(again.id, 1);
    assert.equal(again.questions[0]!.name, 'WWW.EXAMPLE.ORG');
    assert.equal(upstreams.asked.length, 3);
  });

  it('is the same reply as the full path (ID, flags, sections, TTLs) for the same query', async () => {
    const { resolver, clock } = await warm();
    clock.now += 3_500;
    const fast = decodeMessage(hit(resolver, query('www.example.org', RRType.A, { id: 5, edns: 1232 })));
    // the full path: a cache hit it does not take (an additional record that is not OPT makes it bail out)
    const m = decodeMessage(query('www.example.org', RRType.A, { id: 5, edns: 1232 }));
    const viaFull = decodeMessage(
      hit(resolver, encodeMessage({ ...m, additional: [{ name: 'x', type: RRType.A, class: IN, ttl: 0, data: { kind: 'a', address: '1.2.3.4' } }] })),
    );
    assert.deepEqual(fast, viaFull);
  });

  it('decrements the TTLs in the cached bytes by the whole seconds elapsed, never below 0, until expiry', async () => {
    const { resolver, clock, upstreams } = await warm();
    const ttl = () => decodeMessage(hit(resolver, query('www.example.org'))).answers[0]!.ttl;
    assert.equal(ttl(), 300);
    clock.now += 999;
    assert.equal(ttl(), 300);
    clock.now += 1;
    assert.equal(ttl(), 299);
    clock.now += 250_700;
    assert.equal(ttl(), 49);
    clock.now += 49_000; // 300.7 s: expired: the full path forwards again
    const out = await resolver.handle(query('www.example.org'), UDP);
    assert.equal(decodeMessage(out!).answers[0]!.ttl, 300);
    assert.equal(upstreams.asked.length, 4);
  });

  it('answers negative-cache hits (NXDOMAIN with the SOA, its TTL decremented)', async () => {
    const { resolver, clock, upstreams, events } = await warm();
    clock.now += 10_000;
    const m = decodeMessage(hit(resolver, query('Gone.example.org', RRType.A, { id: 77 })));
    assert.equal(m.rcode, Rcode.NXDOMAIN);
    assert.equal(m.id, 77);
    assert.equal(m.answers.length, 0);
    assert.equal(m.authority[0]!.type, RRType.SOA);
    assert.equal(m.authority[0]!.ttl, 50); // min(SOA TTL 3600, MINIMUM 60) - 10
    assert.equal(upstreams.asked.length, 3);
    assert.deepEqual(events.at(-1), {
      clientIp: UDP.clientIp,
      transport: 'udp',
      name: 'Gone.example.org',
      type: 'A',
      rcode: 'NXDOMAIN',
      answers: [],
      source: 'cache',
    });
  });

  it('answers EDNS with our OPT (our payload size) and plain queries without OPT', async () => {
    const { resolver } = await warm({ maxUdpPayloadBytes: 1400 });
    const e = decodeMessage(hit(resolver, query('www.example.org', RRType.A, { edns: 4096 })));
    assert.equal(e.edns!.udpSize, 1400);
    assert.equal(e.edns!.version, 0);
    const plain = decodeMessage(hit(resolver, query('www.example.org')));
    assert.equal(plain.edns, undefined);
    assert.equal(plain.answers.length, 1);
  });

  it('truncates as the full path does: above 512 without EDNS, above the client size within [512, our cap]', async () => {
    const { resolver, metric } = await warm({ maxUdpPayloadBytes: 1232 });
    const big = decodeMessage(hit(resolver, query('mid.example.org', RRType.TXT, { edns: 4096 })));
    assert.equal(big.flags.tc, false);
    assert.equal(big.answers.length, 1);
    for (const edns of [0, 100, 600]) {
      const m = decodeMessage(hit(resolver, query('mid.example.org', RRType.TXT, edns ? { edns } : {})));
      assert.equal(m.flags.tc, true, `EDNS ${edns}`);
      assert.equal(m.answers.length, 0);
    }
    const tcp = decodeMessage(hit(resolver, query('mid.example.org', RRType.TXT), TCP));
    assert.equal(tcp.flags.tc, false);
    assert.equal(tcp.answers.length, 1);
    assert.equal(await metric('bootgate_dns_truncated_total'), 3);
  });

  it('counts hits by transport and type, and tells onQuery the name as written', async () => {
    const { resolver, metric, events } = await warm();
    hit(resolver, query('www.Example.org'));
    hit(resolver, query('www.example.org'), TCP);
    hit(resolver, query('www.example.org'), TCP);
    assert.equal(await metric('bootgate_dns_queries_total', { result: 'cache_hit', transport: 'udp', type: 'A' }), 1);
    assert.equal(await metric('bootgate_dns_queries_total', { result: 'cache_hit', transport: 'tcp', type: 'A' }), 2);
    assert.equal(await metric('bootgate_dns_queries_total', { result: 'cache_hit', transport: 'tcp', type: 'A' }), 2, 'flushed once');
    assert.deepEqual(events.at(-3), {
      clientIp: UDP.clientIp,
      transport: 'udp',
      name: 'www.Example.org',
      type: 'A',
      rcode: 'NOERROR',
      answers: ['A 192.0.2.10'],
      source: 'cache',
    });
  });

  it('leaves a name to the LocalAnswers port once the port owns it, and BADVERS / other classes to the full path', async () => {
    let mine = false;
    const r = makeResolver(
      {},
      { localAnswers: { lookup: (name) => (mine && name === 'www.example.org' ? { addresses: ['10.53.0.1'] } : undefined) } },
    );
    r.upstreams.zone.set('www.example.org', [A('www.example.org', '192.0.2.10')]);
    await r.resolver.handle(query('www.example.org'), UDP);
    assert.deepEqual(decodeMessage(hit(r.resolver, query('www.example.org'))).answers[0]!.data, { kind: 'a', address: '192.0.2.10' });
    mine = true;
    const local = decodeMessage(hit(r.resolver, query('WWW.example.org')));
    assert.equal(local.flags.aa, true);
    assert.deepEqual(local.answers[0]!.data, { kind: 'a', address: '10.53.0.1' });
    mine = false;
    const q = decodeMessage(query('www.example.org', RRType.A, { edns: 1232 }));
    const bad = decodeMessage(hit(r.resolver, encodeMessage({ ...q, edns: { ...q.edns!, version: 1 } })));
    assert.equal(((bad.edns!.extendedRcode << 4) | bad.rcode) as number, Rcode.BADVERS);
    assert.equal(decodeMessage(hit(r.resolver, query('www.example.org', RRType.A, { cls: 3 }))).rcode, Rcode.REFUSED);
  });

  it('never answers a response or a truncated question from the cache', async () => {
    const { resolver } = await warm();
    const resp = query('www.example.org');
    resp[2]! |= 0x80;
    assert.equal(resolver.handle(resp, UDP), undefined);
    const q = query('www.example.org');
    for (let cut = 12; cut < q.length; cut++) {
      const out = resolver.handle(q.subarray(0, cut), UDP);
      assert.ok(Buffer.isBuffer(out));
      assert.equal(decodeMessage(out).rcode, Rcode.FORMERR, `cut at ${cut}`);
    }
  });
});
