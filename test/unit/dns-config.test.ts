import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dnsConfigSchema, parseUpstream } from '../../src/dns/config.ts';

const issues = (raw: unknown): Array<[string, string]> => {
  const r = dnsConfigSchema.safeParse(raw);
  assert.equal(r.success, false);
  return r.error!.issues.map((i) => [i.path.join('.'), i.message]);
};

describe('dns config slice', () => {
  it('has working defaults and parses upstream forms', () => {
    const c = dnsConfigSchema.parse({});
    assert.equal(c.enabled, false);
    assert.equal(c.port, 53);
    assert.equal(c.maxUdpPayloadBytes, 1232);
    assert.deepEqual(dnsConfigSchema.parse({ upstreams: ['192.0.2.1', '192.0.2.2:5353', '2001:db8::1', '[2001:db8::2]:853'] }).upstreams, [
      { address: '192.0.2.1', port: 53 },
      { address: '192.0.2.2', port: 5353 },
      { address: '2001:db8::1', port: 53 },
      { address: '2001:db8::2', port: 853 },
    ]);
    assert.equal(parseUpstream('example.org'), undefined);
    assert.equal(parseUpstream('192.0.2.1:70000'), undefined);
  });

  it('names the key and the reason for bad values, and rejects unknown keys', () => {
    assert.deepEqual(issues({ enabled: true }), [['upstreams', 'needs at least one upstream when dns.enabled is true']]);
    assert.deepEqual(issues({ upstreams: ['dns.google'] }), [['upstreams.0', 'must be ip, ip:port, ipv6 or [ipv6]:port']]);
    assert.equal(issues({ listen: ['10.0.0.300'] })[0]![0], 'listen.0');
    assert.equal(issues({ hosts: { 'bad name!': '10.0.0.1' } })[0]![0], 'hosts.bad name!');
    assert.equal(issues({ hosts: { printer: 'not-an-ip' } })[0]![0], 'hosts.printer');
    assert.equal(issues({ timeoutMs: 1 })[0]![0], 'timeoutMs');
    assert.deepEqual(issues({ minTtlSeconds: 500, maxTtlSeconds: 100 }), [['minTtlSeconds', 'must not be above maxTtlSeconds']]);
    assert.equal(dnsConfigSchema.safeParse({ cacheSize: 5 }).error!.issues[0]!.code, 'unrecognized_keys');
  });
});
