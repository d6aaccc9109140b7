import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeMessage, encodeMessage } from '../../src/dns/codec.ts';
import { RRClass, RRType, Rcode } from '../../src/dns/constants.ts';
import { IN, TCP, UDP, ask, makeResolver, query } from '../helpers/dns-fakes.ts';

const A = (name: string, address: string, ttl = 300) => ({ name, type: RRType.A, class: IN, ttl, data: { kind: 'a' as const, address } });
const bigTxt = (name: string, bytes: number) => ({
  name,
  type: RRType.TXT,
  class: IN,
  ttl: 300,
  data: { kind: 'txt' as const, strings: Array.from({ length: Math.ceil(bytes / 200) }, () => Buffer.alloc(200, 0x78)) },
});

describe('DNS resolver: local data', () => {
  it('answers hosts entries authoritatively, qualifies dotless names with the domain, and gives PTRs', async () => {
    const { resolver, upstreams } = makeResolver({ hosts: { printer: '10.53.0.9', 'nas.example.org': ['10.53.0.7', 'fd00::7'] } });
    for (const name of ['printer', 'printer.lan', 'PRINTER.LAN']) {
      const r = await ask(resolver, query(name));
      assert.equal(r!.flags.aa, true);
      assert.equal(r!.questions[0]!.name, name); // question echoed as written
      assert.deepEqual(
        r!.answers.map((x) => x.data),
        [{ kind: 'a', address: '10.53.0.9' }],
      );
    }
    const six = await ask(resolver, query('nas.example.org', RRType.AAAA));
    assert.deepEqual(
      six!.answers.map((x) => x.data),
      [{ kind: 'aaaa', address: 'fd00::7' }],
    );
    const ptr = await ask(resolver, query('9.0.53.10.in-addr.arpa', RRType.PTR));
    assert.deepEqual(ptr!.answers[0]!.data, { kind: 'name', target: 'printer.lan' });
    // a known name without the type asked: NODATA with the domain's SOA (RFC 2308 §2.2)
    const nodata = await ask(resolver, query('printer.lan', RRType.AAAA));
    assert.equal(nodata!.rcode, Rcode.NOERROR);
    assert.equal(nodata!.answers.length, 0);
    assert.equal(nodata!.authority[0]!.type, RRType.SOA);
    assert.equal(upstreams.asked.length, 0);
  });

  it('asks the LocalAnswers port (with the client address) and never forwards the local domain', async () => {
    const seen: Array<[string, string]> = [];
    const { resolver, upstreams, metric } = makeResolver(
      {},
      {
        localAnswers: {
          lookup: (name, clientIp) => {
            seen.push([name, clientIp]);
            return name === 'games.svc.lan'
              ? { addresses: ['10.53.0.1'], ttlSeconds: 5 }
              : name === 'boot.example.org'
                ? { addresses: ['10.53.0.1'] }
                : undefined;
          },
        },
      },
    );
    const svc = await ask(resolver, query('Games.SVC.lan'));
    assert.deepEqual(svc!.answers[0], { name: 'Games.SVC.lan', type: RRType.A, class: IN, ttl: 5, data: { kind: 'a', address: '10.53.0.1' } });
    assert.deepEqual(seen[0], ['games.svc.lan', UDP.clientIp]);
    assert.equal((await ask(resolver, query('boot.example.org')))!.answers.length, 1);
    const nx = await ask(resolver, query('unknown.lan'));
    assert.equal(nx!.rcode, Rcode.NXDOMAIN);
    assert.equal(nx!.flags.aa, true);
    assert.equal(nx!.authority[0]!.name, 'lan');
    const soa = await ask(resolver, query('lan', RRType.SOA));
    assert.equal(soa!.answers[0]!.type, RRType.SOA);
    assert.equal(upstreams.asked.length, 0);
    assert.equal(await metric('bootgate_dns_queries_total', { result: 'local' }), 4);
  });
});

describe('DNS resolver: forwarding and cache', () => {
  it('forwards once, then answers from the cache with decremented TTLs; the client ID and question spelling are kept', async () => {
    const { resolver, upstreams, clock, metric, events } = makeResolver();
    upstreams.zone.set('www.example.org', [A('www.example.org', '192.0.2.10', 300)]);
    const first = await ask(resolver, query('WWW.example.org', RRType.A, { id: 7 }));
    assert.equal(first!.id, 7);
    assert.equal(first!.questions[0]!.name, 'WWW.example.org');
    assert.equal(first!.flags.ra, true);
    assert.equal(first!.flags.aa, false);
    assert.equal(upstreams.asked.length, 1);
    assert.notEqual(upstreams.asked[0]!.id, 7); // a fresh ID upstream
    clock.now += 10_000;
    const out = resolver.handle(query('www.example.org', RRType.A, { id: 8 }), UDP);
    assert.ok(Buffer.isBuffer(out), 'a cache hit is answered synchronously');
    const second = decodeMessage(out);
    assert.equal(second.id, 8);
    assert.equal(second.answers[0]!.ttl, 290);
    assert.equal(upstreams.asked.length, 1);
    assert.equal(await metric('bootgate_dns_queries_total', { result: 'forwarded' }), 1);
    assert.equal(await metric('bootgate_dns_queries_total', { result: 'cache_hit', transport: 'udp', type: 'A' }), 1);
    assert.equal(await metric('bootgate_dns_upstream_queries_total', { outcome: 'ok' }), 1);
    assert.deepEqual(events.at(-1), {
      clientIp: UDP.clientIp,
      transport: 'udp',
      name: 'www.example.org',
      type: 'A',
      rcode: 'NOERROR',
      answers: ['A 192.0.2.10'],
      source: 'cache',
    });
  });

  it('caches NXDOMAIN (negative caching, RFC 2308) until the SOA minimum runs out', async () => {
    const { resolver, upstreams, clock } = makeResolver();
    const r = await ask(resolver, query('gone.example.org'));
    assert.equal(r!.rcode, Rcode.NXDOMAIN);
    assert.equal((await ask(resolver, query('gone.example.org')))!.rcode, Rcode.NXDOMAIN);
    assert.equal(upstreams.asked.length, 1);
    clock.now += 60_000;
    await ask(resolver, query('gone.example.org'));
    assert.equal(upstreams.asked.length, 2);
  });

  it('coalesces identical questions in flight into one upstream query', async () => {
    const { resolver, upstreams, metric } = makeResolver();
    upstreams.zone.set('slow.example.org', [A('slow.example.org', '192.0.2.20')]);
    let open!: () => void;
    upstreams.gate = new Promise((r) => (open = r));
    const pending = [1, 2, 3].map((id) => ask(resolver, query('slow.example.org', RRType.A, { id })));
    await new Promise((r) => setImmediate(r));
    open();
    const replies = await Promise.all(pending);
    assert.deepEqual(
      replies.map((r) => r!.id),
      [1, 2, 3],
    );
    assert.ok(replies.every((r) => r!.answers.length === 1));
    assert.equal(upstreams.asked.length, 1);
    assert.equal(await metric('bootgate_dns_coalesced_total'), 2);
  });

  it('ignores replies with the wrong ID or question (anti-spoofing) and waits for the real one', async () => {
    const { resolver, upstreams, metric } = makeResolver();
    upstreams.behaviour.set('192.0.2.53:53', 'spoof-then-answer');
    upstreams.zone.set('bank.example.org', [A('bank.example.org', '192.0.2.30')]);
    const r = await ask(resolver, query('bank.example.org'));
    assert.deepEqual(r!.answers[0]!.data, { kind: 'a', address: '192.0.2.30' });
    assert.equal(await metric('bootgate_dns_upstream_queries_total', { outcome: 'mismatch' }), 2);
    assert.equal(await metric('bootgate_dns_upstream_queries_total', { outcome: 'malformed' }), 1);
  });

  it('fails over to the next upstream on a timeout or SERVFAIL, and holds the dead one down', async () => {
    const { resolver, upstreams, metric, clock } = makeResolver({ holdDownMs: 30_000 });
    upstreams.behaviour.set('192.0.2.53:53', 'timeout');
    upstreams.zone.set('a.example.org', [A('a.example.org', '192.0.2.1', 0)]);
    assert.equal((await ask(resolver, query('a.example.org')))!.answers.length, 1);
    assert.deepEqual(
      upstreams.asked.map((q) => q.to),
      ['192.0.2.53:53', '192.0.2.54:5353'],
    );
    await ask(resolver, query('a.example.org')); // TTL 0: not cached; the held-down upstream goes last
    assert.equal(upstreams.asked.at(-1)!.to, '192.0.2.54:5353');
    assert.equal(upstreams.asked.length, 3);
    clock.now += 30_000;
    upstreams.behaviour.set('192.0.2.53:53', 'servfail');
    assert.equal((await ask(resolver, query('a.example.org')))!.answers.length, 1);
    assert.deepEqual(
      upstreams.asked.slice(3).map((q) => q.to),
      ['192.0.2.53:53', '192.0.2.54:5353'],
    );
    assert.equal(await metric('bootgate_dns_upstream_queries_total', { outcome: 'timeout' }), 1);
    assert.equal(await metric('bootgate_dns_upstream_queries_total', { outcome: 'servfail' }), 1);
  });

  it('answers SERVFAIL when every upstream fails in every round', async () => {
    const { resolver, upstreams, metric } = makeResolver({ attempts: 2 });
    upstreams.behaviour.set('192.0.2.53:53', 'timeout');
    upstreams.behaviour.set('192.0.2.54:5353', 'timeout');
    const r = await ask(resolver, query('down.example.org'));
    assert.equal(r!.rcode, Rcode.SERVFAIL);
    assert.equal(upstreams.asked.length, 4);
    assert.equal(await metric('bootgate_dns_queries_total', { result: 'servfail' }), 1);
  });

  it('asks again over TCP when the upstream truncates its UDP reply', async () => {
    const { resolver, upstreams } = makeResolver();
    upstreams.behaviour.set('192.0.2.53:53', 'truncate-udp');
    upstreams.zone.set('big.example.org', [bigTxt('big.example.org', 3000)]);
    const r = await ask(resolver, query('big.example.org', RRType.TXT), TCP);
    assert.equal(r!.answers.length, 1);
    assert.deepEqual(
      upstreams.asked.map((q) => q.transport),
      ['udp', 'tcp'],
    );
  });
});

describe('DNS resolver: sizes and refusals', () => {
  it('truncates (TC=1, no records) above 512 without EDNS and above the advertised size capped at maxUdpPayloadBytes', async () => {
    const { resolver, upstreams, metric } = makeResolver({ maxUdpPayloadBytes: 1232 });
    upstreams.zone.set('mid.example.org', [bigTxt('mid.example.org', 800)]);
    upstreams.zone.set('big.example.org', [bigTxt('big.example.org', 3000)]);
    const plain = await ask(resolver, query('mid.example.org', RRType.TXT));
    assert.equal(plain!.flags.tc, true);
    assert.equal(plain!.answers.length, 0);
    assert.equal(plain!.edns, undefined);
    const edns = await ask(resolver, query('mid.example.org', RRType.TXT, { edns: 4096 }));
    assert.equal(edns!.flags.tc, false);
    assert.equal(edns!.answers.length, 1);
    assert.equal(edns!.edns!.udpSize, 1232); // we advertise our own size (RFC 6891 §6.2.3)
    const tooBig = await ask(resolver, query('big.example.org', RRType.TXT, { edns: 4096 }));
    assert.equal(tooBig!.flags.tc, true);
    const tiny = await ask(resolver, query('mid.example.org', RRType.TXT, { edns: 100 })); // below 512 counts as 512
    assert.equal(tiny!.flags.tc, true);
    const tcp = await ask(resolver, query('big.example.org', RRType.TXT), TCP);
    assert.equal(tcp!.flags.tc, false);
    assert.equal(tcp!.answers.length, 1);
    assert.equal(await metric('bootgate_dns_truncated_total'), 3);
  });

  it('REFUSED for other classes and zone transfers, NOTIMP for other opcodes, BADVERS for EDNS > 0', async () => {
    const { resolver, upstreams } = makeResolver();
    assert.equal((await ask(resolver, query('version.bind', RRType.TXT, { cls: RRClass.CH })))!.rcode, Rcode.REFUSED);
    assert.equal((await ask(resolver, query('example.org', RRType.AXFR)))!.rcode, Rcode.REFUSED);
    const notimp = await ask(resolver, query('example.org', RRType.SOA, { opcode: 5 }));
    assert.equal(notimp!.rcode, Rcode.NOTIMP);
    assert.equal(notimp!.flags.opcode, 5);
    const q = decodeMessage(query('example.org', RRType.A, { edns: 1232 }));
    const v1 = encodeMessage({ ...q, edns: { ...q.edns!, version: 1 } });
    const bad = await ask(resolver, v1);
    assert.equal(((bad!.edns!.extendedRcode << 4) | bad!.rcode) as number, Rcode.BADVERS);
    assert.equal(upstreams.asked.length, 0);
  });

  it('FORMERR for a readable header with a malformed body or two questions; drops short packets and responses', async () => {
    const { resolver, metric } = makeResolver();
    const broken = Buffer.concat([query('example.org').subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
    const formerr = await ask(resolver, broken);
    assert.equal(formerr!.rcode, Rcode.FORMERR);
    assert.equal(formerr!.id, 0x4242);
    assert.equal(formerr!.questions.length, 0);
    const two = decodeMessage(query('a.example.org'));
    const twoQ = await ask(resolver, encodeMessage({ ...two, questions: [...two.questions, { name: 'b.example.org', type: 1, class: 1 }] }));
    assert.equal(twoQ!.rcode, Rcode.FORMERR);
    assert.equal(await ask(resolver, Buffer.from([1, 2, 3])), undefined);
    const response = Buffer.from(query('example.org'));
    response[2]! |= 0x80;
    assert.equal(await ask(resolver, response), undefined);
    assert.equal(await metric('bootgate_dns_drops_total', { reason: 'short_header' }), 1);
    assert.equal(await metric('bootgate_dns_drops_total', { reason: 'not_a_query' }), 1);
  });

  it('survives a throwing onQuery hook', async () => {
    const { resolver } = makeResolver({ hosts: { h: '10.0.0.1' } });
    (resolver as unknown as { deps: { onQuery: () => void } }).deps.onQuery = () => {
      throw new Error('audit down');
    };
    assert.equal((await ask(resolver, query('h')))!.answers.length, 1);
  });
});
