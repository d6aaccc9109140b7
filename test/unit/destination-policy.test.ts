import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { configSchema } from '../../src/config/schema.ts';
import { DestinationPolicy, type Decision } from '../../src/gateway/destination/policy.ts';
import { specialRange } from '../../src/gateway/destination/ranges.ts';
import { formatIp, parseIpLiteral, parseIpNetwork } from '../../src/wire/ip-address.ts';
import { staticLookup } from '../helpers/gateway-harness.ts';

const canonical = (text: string): string | undefined => {
  const a = parseIpLiteral(text);
  return a && formatIp(a);
};

describe('IP literals in every textual form', () => {
  it('127.0.0.1 written every way inet_aton, the WHATWG URL parser and RFC 4291 accept', () => {
    for (const form of [
      '127.0.0.1',
      '127.1',
      '127.0.1',
      '2130706433',
      '0x7f000001',
      '0X7F000001',
      '017700000001',
      '0177.0.0.1',
      '0177.0.0.01',
      '0x7f.1',
      '0x7f.0.0.0x1',
      '127.0.0.1.',
      '[::ffff:127.0.0.1]',
      '::ffff:127.0.0.1',
      '::FFFF:7F00:1',
      '::ffff:7f00:0001',
      '0:0:0:0:0:ffff:7f00:1',
      '0000:0000:0000:0000:0000:ffff:127.0.0.1',
      ' 127.0.0.1 ',
    ]) {
      assert.equal(canonical(form), '127.0.0.1', form);
    }
  });

  it('0.0.0.0 short forms, and IPv6 forms', () => {
    assert.equal(canonical('0'), '0.0.0.0');
    assert.equal(canonical('0x'), '0.0.0.0');
    assert.equal(canonical('0.0'), '0.0.0.0');
    assert.equal(canonical('::'), '::');
    assert.equal(canonical('[::1]'), '::1');
    assert.equal(canonical('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(canonical('fe80:0:0:0:0:0:0:1'), 'fe80::1');
    assert.equal(canonical('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1'); // RFC 5952 §4.2.3: the first of equal runs
    assert.equal(canonical('2001:DB8::A'), '2001:db8::a');
    assert.equal(canonical('1:2:3:4:5:6:7:8'), '1:2:3:4:5:6:7:8');
  });

  it('names and malformed text are not literals', () => {
    for (const name of [
      'example.com',
      'localhost',
      '1.2.3.4.5',
      '256.1.1.1',
      '1.256.1.1',
      '4294967296',
      '08.1.1.1',
      '1.2.3.4x',
      '0xg',
      '',
      '.',
      '1..1',
      ':::',
      '1:2:3:4:5:6:7:8:9',
      '1::2::3',
      '12345::',
      '::ffff:127.0.0.256',
      '::ffff:127.1',
      'fe80::1%eth0',
      '[::1',
      'g::1',
      '1:2:3:4:5:6:7::8:9',
    ]) {
      assert.equal(parseIpLiteral(name), undefined, JSON.stringify(name));
    }
  });

  it('property: any IPv4 address in decimal, hex, octal, short and IPv4-mapped forms is the same address', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 4 }), fc.constantFrom(8, 10, 16), (v, parts, radix) => {
        const bytes = [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
        const dotted = bytes.join('.');
        const head = bytes.slice(0, parts - 1);
        const tail = bytes.slice(parts - 1).reduce((a, b) => a * 256 + b, 0);
        const write = (n: number) => (radix === 16 ? `0x${n.toString(16)}` : radix === 8 ? `0${n.toString(8)}` : String(n));
        const short = [...head, tail].map(write).join('.');
        const mapped = `::ffff:${(v >>> 16).toString(16)}:${(v & 0xffff).toString(16)}`;
        assert.equal(canonical(short), dotted, short);
        assert.equal(canonical(mapped), dotted, mapped);
        assert.equal(canonical(`[::ffff:${dotted}]`), dotted);
      }),
      { numRuns: 500 },
    );
  });
});

describe('special-purpose ranges', () => {
  const reason = (text: string) => specialRange(parseIpLiteral(text)!);
  it('every refused range, at its edges', () => {
    const cases: Array<[string, string | undefined]> = [
      ['0.0.0.0', 'unspecified'],
      ['0.255.255.255', 'unspecified'],
      ['1.0.0.0', undefined],
      ['127.0.0.1', 'loopback'],
      ['127.255.255.254', 'loopback'],
      ['128.0.0.1', undefined],
      ['10.0.0.0', 'private'],
      ['10.255.255.255', 'private'],
      ['11.0.0.0', undefined],
      ['9.255.255.255', undefined],
      ['172.16.0.0', 'private'],
      ['172.31.255.255', 'private'],
      ['172.15.255.255', undefined],
      ['172.32.0.0', undefined],
      ['192.168.0.1', 'private'],
      ['192.168.255.255', 'private'],
      ['192.169.0.1', undefined],
      ['100.64.0.0', 'shared_address'],
      ['100.127.255.255', 'shared_address'],
      ['100.63.255.255', undefined],
      ['100.128.0.0', undefined],
      ['169.254.0.1', 'link_local'],
      ['169.254.169.254', 'link_local'],
      ['169.255.0.1', undefined],
      ['192.0.0.8', 'reserved'],
      ['198.18.0.1', 'reserved'],
      ['198.19.255.255', 'reserved'],
      ['198.20.0.1', undefined],
      ['224.0.0.1', 'multicast'],
      ['239.255.255.255', 'multicast'],
      ['240.0.0.1', 'reserved'],
      ['255.255.255.255', 'reserved'],
      ['8.8.8.8', undefined],
      ['203.0.113.9', undefined],
      ['::', 'unspecified'],
      ['::1', 'loopback'],
      ['::2', 'unspecified'] /* IPv4-compatible ::0.0.0.2 */,
      ['::1:0:0:2', undefined],
      ['fe80::1', 'link_local'],
      ['febf:ffff::1', 'link_local'],
      ['fec0::1', 'reserved'],
      ['fc00::1', 'unique_local'],
      ['fdff:ffff::1', 'unique_local'],
      ['fe00::1', undefined],
      ['fbff::1', undefined],
      ['ff02::1', 'multicast'],
      ['100::1', 'reserved'],
      ['64:ff9b:1::1', 'private'],
      ['2001:4860:4860::8888', undefined],
      // IPv6 forms that lead to an IPv4 address are judged by it
      ['::ffff:10.1.2.3', 'private'],
      ['::127.0.0.1', 'loopback'],
      ['::ffff:169.254.169.254', 'link_local'],
      ['64:ff9b::7f00:1', 'loopback'],
      ['64:ff9b::a00:1', 'private'],
      ['64:ff9b::808:808', undefined],
      ['2002:7f00:1::1', 'loopback'],
      ['2002:c0a8:101::1', 'private'],
      ['2002:808:808::1', undefined],
    ];
    for (const [text, expected] of cases) assert.equal(reason(text), expected, text);
  });
});

describe('destination policy', () => {
  const policy = (allow: string[] = [], names: Record<string, string | string[]> = {}) =>
    new DestinationPolicy({
      options: { allow, lanSubnets: ['10.76.1.0/24', '10.77.0.0/16'] },
      gatewayAddresses: () => ['127.0.0.1', '10.76.1.1', '203.0.113.5', 'fe80::1%bg0', '::1'],
      lookup: ((host: string, _o: unknown, cb: (e: Error | null, a?: Array<{ address: string; family: number }>) => void) => {
        const a = names[host];
        if (a === undefined) return process.nextTick(cb, Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }));
        process.nextTick(
          cb,
          null,
          (Array.isArray(a) ? a : [a]).map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
        );
      }) as never,
    });
  const verdict = (d: Decision | Promise<Decision>) => d as Decision;

  it("the gateway's own addresses are refused in every form, even when their network is allow-listed", () => {
    const p = policy(['203.0.113.0/24']);
    for (const form of ['203.0.113.5', '::ffff:203.0.113.5', '3405803781', '0xcb.0.113.5']) {
      assert.deepEqual(verdict(p.decide(form)), { allowed: false, reason: 'gateway_address', address: '203.0.113.5' }, form);
    }
    assert.equal(verdict(p.decide('203.0.113.6')).allowed, true, 'the rest of the allowed network');
    assert.deepEqual(verdict(p.decide('[fe80::1]')), { allowed: false, reason: 'gateway_address', address: 'fe80::1' });
  });

  it('the LAN and private ranges are refused unless allow-listed; public addresses pass', () => {
    const p = policy();
    assert.deepEqual(verdict(p.decide('10.76.1.20')), { allowed: false, reason: 'lan', address: '10.76.1.20' });
    assert.deepEqual(verdict(p.decide('10.77.3.4')), { allowed: false, reason: 'lan', address: '10.77.3.4' });
    assert.deepEqual(verdict(p.decide('192.168.1.1')), { allowed: false, reason: 'private', address: '192.168.1.1' });
    assert.deepEqual(verdict(p.decide('127.0.0.2')), { allowed: false, reason: 'loopback', address: '127.0.0.2' });
    assert.deepEqual(verdict(p.decide('0')), { allowed: false, reason: 'unspecified', address: '0.0.0.0' });
    assert.deepEqual(verdict(p.decide('8.8.8.8')), { allowed: true, address: '8.8.8.8', family: 4 });
    assert.deepEqual(verdict(p.decide('[2001:4860::8888]')), { allowed: true, address: '2001:4860::8888', family: 6 });
    const shop = policy(['192.168.50.0/24', 'fd00:50::/64']);
    assert.deepEqual(verdict(shop.decide('192.168.50.7')), { allowed: true, address: '192.168.50.7', family: 4 });
    assert.deepEqual(verdict(shop.decide('::ffff:192.168.50.7')), { allowed: true, address: '192.168.50.7', family: 4 });
    assert.equal(verdict(shop.decide('192.168.51.7')).allowed, false);
    assert.equal(verdict(shop.decide('fd00:50::9')).allowed, true);
    assert.equal(verdict(shop.decide('fd00:51::9')).allowed, false);
  });

  it('a name is judged by what it resolves to; the first allowed address is the one to dial', async () => {
    const p = policy([], {
      'rebind.example': '127.0.0.1',
      'mixed.example': ['10.0.0.5', '93.184.215.14'],
      'inner.example': ['10.0.0.5', '192.168.0.9'],
      'v6.example': ['::ffff:127.0.0.1'],
    });
    assert.ok(p.decide('rebind.example') instanceof Promise, 'names are resolved, never judged by their text');
    assert.deepEqual(await p.decide('rebind.example'), { allowed: false, reason: 'loopback', address: '127.0.0.1' });
    assert.deepEqual(await p.decide('mixed.example'), { allowed: true, address: '93.184.215.14', family: 4 });
    assert.deepEqual(await p.decide('inner.example'), { allowed: false, reason: 'private', address: '10.0.0.5' });
    assert.deepEqual(await p.decide('v6.example'), { allowed: false, reason: 'loopback', address: '127.0.0.1' });
    assert.deepEqual(await p.decide('nowhere.example'), { allowed: false, reason: 'unresolved' });
  });

  it('decideWithin: a lookup that never answers is unresolved after the deadline', async () => {
    const p = new DestinationPolicy({ options: { allow: [], lanSubnets: [] }, gatewayAddresses: () => [], lookup: (() => undefined) as never });
    assert.deepEqual(await p.decideWithin('hang.example', 50), { allowed: false, reason: 'unresolved' });
  });

  it('names(): does a Host or SNI mean the address dialled?', async () => {
    const p = policy([], { 'site.example': ['93.184.215.14', '93.184.215.15'] });
    const dialled = parseIpLiteral('93.184.215.14')!;
    assert.equal(p.names('93.184.215.14', dialled), true);
    assert.equal(p.names('0x5db8d70e', dialled), true);
    assert.equal(p.names('127.0.0.1', dialled), false);
    assert.equal(await p.names('site.example', dialled), true);
    assert.equal(await p.names('site.example', parseIpLiteral('93.184.215.16')!), false);
    assert.equal(await p.names('other.example', dialled), false);
  });

  it("the gateway's addresses are re-read after their TTL (an interface that comes up later)", () => {
    let now = 0;
    let addresses = ['10.76.1.1'];
    const p = new DestinationPolicy({
      options: { allow: ['198.51.100.0/24'], lanSubnets: [] },
      gatewayAddresses: () => addresses,
      gatewayAddressTtlMs: 1000,
      lookup: staticLookup({}),
      clock: () => now,
    });
    assert.equal(verdict(p.decide('198.51.100.1')).allowed, true);
    addresses = ['10.76.1.1', '198.51.100.1'];
    now = 500;
    assert.equal(verdict(p.decide('198.51.100.1')).allowed, true, 'cached within the TTL');
    now = 1500;
    assert.deepEqual(verdict(p.decide('198.51.100.1')), { allowed: false, reason: 'gateway_address', address: '198.51.100.1' });
  });
});

describe('gateway.allowDestinations in the config', () => {
  const base = { interfaces: { lan: 'bg0' }, dhcp: { subnet: '10.76.1.0/24', range: { start: '10.76.1.100', end: '10.76.1.150' } } };
  const check = (allow: unknown[]) => configSchema.safeParse({ ...base, gateway: { allowDestinations: allow } });
  it('accepts IPv4 and IPv6 networks', () => {
    assert.equal(check(['192.168.50.0/24', 'fd00:50::/64', '10.0.0.0/8']).success, true);
  });
  it('refuses loopback, "this host", malformed entries and host bits, naming the entry', () => {
    for (const bad of ['127.0.0.0/8', '127.0.0.1/32', '0.0.0.0/0', '::/0', '::1/128', '10.0.0.1/8', 'example.com', '10.0.0.0/33', '10.0.0.0']) {
      const r = check(['192.168.50.0/24', bad]);
      assert.equal(r.success, false, bad);
      assert.deepEqual(r.error!.issues[0]!.path, ['gateway', 'allowDestinations', 1], bad);
    }
  });
  it('parseIpNetwork holds IPv4 as its mapped /96+n form', () => {
    assert.equal(parseIpNetwork('10.0.0.0/8').prefix, 104);
    assert.throws(() => parseIpNetwork('10.0.0.1/8'), /host bits/);
  });
});
