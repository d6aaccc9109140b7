import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeRouterAdvertisement, parseIpv6Prefix } from '../../src/ipv6/router-advertisement.ts';

describe('IPv6 router advertisement codec (RFC 4861 §4.2)', () => {
  it('encodes type 134, hop limit 64, M/O clear, lifetime, SLLA and prefix options', () => {
    const prefix = parseIpv6Prefix('fd00:b007::/64');
    const b = encodeRouterAdvertisement({
      routerLifetimeSeconds: 0,
      sourceMac: Buffer.from('525400000001', 'hex'),
      prefix: { ...prefix, validSeconds: 3600, preferredSeconds: 1800 },
    });
    assert.equal(b.length, 16 + 8 + 32);
    assert.deepEqual([...b.subarray(0, 8)], [134, 0, 0, 0, 64, 0, 0, 0]);
    assert.deepEqual([...b.subarray(16, 24)], [1, 1, 0x52, 0x54, 0, 0, 0, 1]);
    const p = b.subarray(24);
    assert.deepEqual([p[0], p[1], p[2], p[3]], [3, 4, 64, 0xc0]);
    assert.equal(p.readUInt32BE(4), 3600);
    assert.equal(p.readUInt32BE(8), 1800);
    assert.equal(p.subarray(16).toString('hex'), 'fd00b007000000000000000000000000');
  });

  it('parses /64 prefixes and rejects others', () => {
    assert.equal(parseIpv6Prefix('fd12:3456:789a:1::/64').address.toString('hex'), 'fd123456789a00010000000000000000');
    for (const bad of ['fd00::/48', 'fd00::1/64', 'zz::/64', '1:2:3:4:5:6:7:8:9/64']) assert.throws(() => parseIpv6Prefix(bad), RangeError, bad);
  });
});
