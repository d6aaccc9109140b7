import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DnsCache, type CachedReply } from '../../src/dns/cache.ts';
import type { DnsRecord } from '../../src/dns/codec.ts';
import { RRClass, RRType, Rcode } from '../../src/dns/constants.ts';

const IN = RRClass.IN;
const a = (name: string, ttl: number, address = '192.0.2.1'): DnsRecord => ({ name, type: RRType.A, class: IN, ttl, data: { kind: 'a', address } });
const soa = (ttl: number, minimum: number): DnsRecord => ({
  name: 'example.org',
  type: RRType.SOA,
  class: IN,
  ttl,
  data: { kind: 'soa', mname: 'ns.example.org', rname: 'h.example.org', serial: 1, refresh: 1, retry: 1, expire: 1, minimum },
});
const reply = (rcode: number, answers: DnsRecord[], authority: DnsRecord[] = []): CachedReply => ({ rcode, answers, authority, additional: [] });

function setup(opts: Partial<ConstructorParameters<typeof DnsCache>[0]> = {}) {
  const clock = { now: 1_000_000 };
  const cache = new DnsCache({ maxEntries: 100, minTtlSeconds: 0, maxTtlSeconds: 86_400, maxNegativeTtlSeconds: 3600, ...opts }, () => clock.now);
  return { cache, clock };
}

describe('DNS cache', () => {
  it('serves a positive answer for its smallest TTL (one TTL per RRset, RFC 2181 §5.2), decremented by whole seconds', () => {
    const { cache, clock } = setup();
    assert.equal(
      cache.put('www.example.org', RRType.A, IN, reply(Rcode.NOERROR, [a('www.example.org', 300), a('www.example.org', 60, '192.0.2.2')])),
      true,
    );
    assert.deepEqual(
      cache.get('WWW.Example.ORG', RRType.A, IN)!.answers.map((r) => r.ttl),
      [60, 60],
    );
    clock.now += 59_500;
    assert.deepEqual(
      cache.get('www.example.org', RRType.A, IN)!.answers.map((r) => r.ttl),
      [1, 1],
    );
    clock.now += 500; // 60 s: the RRset's smallest TTL is spent
    assert.equal(cache.get('www.example.org', RRType.A, IN), undefined);
    assert.equal(cache.size, 0);
  });

  it('keys on type and class too', () => {
    const { cache } = setup();
    cache.put('x.example.org', RRType.A, IN, reply(Rcode.NOERROR, [a('x.example.org', 60)]));
    assert.equal(cache.get('x.example.org', RRType.AAAA, IN), undefined);
    assert.equal(cache.get('x.example.org', RRType.A, RRClass.CH), undefined);
  });

  it('caches NXDOMAIN and NODATA for min(SOA TTL, SOA MINIMUM) (RFC 2308 §5) and not without an SOA', () => {
    const { cache, clock } = setup();
    assert.equal(cache.put('nope.example.org', RRType.A, IN, reply(Rcode.NXDOMAIN, [], [soa(3600, 120)])), true);
    assert.equal(cache.put('www.example.org', RRType.AAAA, IN, reply(Rcode.NOERROR, [], [soa(90, 600)])), true);
    assert.equal(cache.put('bare.example.org', RRType.A, IN, reply(Rcode.NXDOMAIN, [])), false);
    const nx = cache.get('nope.example.org', RRType.A, IN)!;
    assert.equal(nx.negative, true);
    assert.equal(nx.rcode, Rcode.NXDOMAIN);
    assert.equal(nx.authority[0]!.ttl, 120); // the SOA handed out carries the negative TTL
    clock.now += 90_000;
    assert.equal(cache.get('www.example.org', RRType.AAAA, IN), undefined);
    assert.equal(cache.get('nope.example.org', RRType.A, IN)!.authority[0]!.ttl, 30);
    clock.now += 30_000;
    assert.equal(cache.get('nope.example.org', RRType.A, IN), undefined);
  });

  it('treats a CNAME chain without the asked type as negative (NODATA after the chain)', () => {
    const { cache } = setup();
    const cname: DnsRecord = {
      name: 'alias.example.org',
      type: RRType.CNAME,
      class: IN,
      ttl: 500,
      data: { kind: 'name', target: 'www.example.org' },
    };
    assert.equal(cache.put('alias.example.org', RRType.AAAA, IN, reply(Rcode.NOERROR, [cname], [soa(60, 60)])), true);
    assert.equal(cache.get('alias.example.org', RRType.AAAA, IN)!.negative, true);
    assert.equal(cache.put('alias.example.org', RRType.CNAME, IN, reply(Rcode.NOERROR, [cname])), true);
    assert.equal(cache.get('alias.example.org', RRType.CNAME, IN)!.negative, false);
  });

  it('clamps TTLs to [min, max] and negative TTLs to maxNegativeTtlSeconds', () => {
    const { cache, clock } = setup({ minTtlSeconds: 30, maxTtlSeconds: 100, maxNegativeTtlSeconds: 50 });
    cache.put('low.example.org', RRType.A, IN, reply(Rcode.NOERROR, [a('low.example.org', 0)]));
    cache.put('high.example.org', RRType.A, IN, reply(Rcode.NOERROR, [a('high.example.org', 99_999)]));
    cache.put('neg.example.org', RRType.A, IN, reply(Rcode.NXDOMAIN, [], [soa(3600, 3600)]));
    assert.equal(cache.get('low.example.org', RRType.A, IN)!.answers[0]!.ttl, 30);
    assert.equal(cache.get('high.example.org', RRType.A, IN)!.answers[0]!.ttl, 100);
    assert.equal(cache.get('neg.example.org', RRType.A, IN)!.authority[0]!.ttl, 50);
    clock.now += 50_000;
    assert.equal(cache.get('neg.example.org', RRType.A, IN), undefined);
  });

  it('does not cache SERVFAIL, REFUSED or TTL 0', () => {
    const { cache } = setup();
    assert.equal(cache.put('s.example.org', RRType.A, IN, reply(Rcode.SERVFAIL, [])), false);
    assert.equal(cache.put('r.example.org', RRType.A, IN, reply(Rcode.REFUSED, [])), false);
    assert.equal(cache.put('z.example.org', RRType.A, IN, reply(Rcode.NOERROR, [a('z.example.org', 0)])), false);
    assert.equal(cache.size, 0);
  });

  it('evicts the least recently used entry beyond maxEntries', () => {
    const { cache } = setup({ maxEntries: 3 });
    for (const n of ['a', 'b', 'c']) cache.put(`${n}.example.org`, RRType.A, IN, reply(Rcode.NOERROR, [a(`${n}.example.org`, 60)]));
    assert.ok(cache.get('a.example.org', RRType.A, IN)); // a is now the most recent
    cache.put('d.example.org', RRType.A, IN, reply(Rcode.NOERROR, [a('d.example.org', 60)]));
    assert.equal(cache.size, 3);
    assert.equal(cache.get('b.example.org', RRType.A, IN), undefined);
    for (const n of ['a', 'c', 'd']) assert.ok(cache.get(`${n}.example.org`, RRType.A, IN), n);
  });
});
