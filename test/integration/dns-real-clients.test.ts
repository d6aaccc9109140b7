import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NetnsLab } from '../../src/lab/netns.ts';
import { DnsResolverProcess } from '../helpers/dns-process.ts';
import { BIG_TXT_STRINGS, SOA_MINIMUM, ZONE_RECORDS, peerDir, unboundConfig } from '../helpers/dns-upstream.ts';

/**
 * bootgate's resolver between real clients (dig, kdig) and a real upstream (unbound serving test.example as
 * local-data), in namespaces this test builds and always removes:
 *   bgdns-srv (the gateway): br0 10.53.0.1/24 (+10.53.0.10 for the failover instance), wan0 10.54.0.1/24
 *   bgdns-cli: 10.53.0.2 (dig, kdig)        bgdns-up: 10.54.0.2 (unbound on :53; nothing on :5399)
 */
const GW = '10.53.0.1';
const GW2 = '10.53.0.10';
const UP = '10.54.0.2';

describe('DNS resolver with dig, kdig and an unbound upstream in namespaces', () => {
  const lab = new NetnsLab('bgdns');
  const files = peerDir('bgdns-');
  let cli: string;
  let up: string;
  let dns: DnsResolverProcess;
  let failover: DnsResolverProcess;

  const sh = (ns: string, cmd: string, args: string[]): string => {
    try {
      return lab.exec(ns, cmd, args, { timeoutMs: 30_000 });
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string };
      return `${err.stdout ?? ''}${err.stderr ?? ''}`;
    }
  };
  const dig = (...args: string[]): string => sh(cli, 'dig', [`@${GW}`, '+tries=1', '+time=5', ...args]);
  const kdig = (...args: string[]): string => sh(cli, 'kdig', [`@${GW}`, '+retry=0', '+time=5', ...args]);
  const upstreamOk = (): Promise<number> => dns.metric('bootgate_dns_upstream_queries_total', { upstream: `${UP}:53`, outcome: 'ok' });

  before(async () => {
    lab.createServer('br0', `${GW}/24`);
    lab.exec(lab.server, 'ip', ['addr', 'add', `${GW2}/24`, 'dev', 'br0']);
    cli = lab.addClient({ name: 'cli', bridge: 'br0', address: '10.53.0.2/24' });
    up = lab.addClient({ name: 'up', serverIfname: 'wan0', serverAddress: '10.54.0.1/24', address: `${UP}/24` });
    const conf = files.write('unbound.conf', unboundConfig({ listen: UP, allow: '10.54.0.0/24', dir: files.dir }));
    const unbound = lab.spawnIn(up, 'unbound', ['-d', '-c', conf]);
    let unboundLog = '';
    unbound.stderr!.on('data', (d: Buffer) => (unboundLog += d.toString()));
    for (let i = 0; ; i++) {
      if (/192\.0\.2\.10/.test(sh(lab.server, 'dig', [`@${UP}`, '+short', '+tries=1', '+time=1', 'www.test.example']))) break;
      if (i > 50) throw new Error(`unbound did not come up: ${unboundLog}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    dns = new DnsResolverProcess(lab, lab.server, { listen: [GW], upstreams: [UP], hosts: { printer: '10.53.0.9' }, domain: 'lan' }, [
      'games.svc.lan=10.53.0.1',
    ]);
    // the first upstream has no host (timeout), the second nothing listening (ICMP port unreachable), the third works
    failover = new DnsResolverProcess(lab, lab.server, { listen: [GW2], upstreams: ['10.54.0.99', `${UP}:5399`, UP], timeoutMs: 400 });
    await dns.start();
    await failover.start();
  });

  after(async () => {
    await lab.destroy();
    files.remove();
  });

  it('answers A and AAAA for forwarded names (dig, kdig)', () => {
    const www = ZONE_RECORDS['www.test.example'];
    assert.equal(dig('+short', 'www.test.example', 'A').trim(), www.a);
    assert.equal(dig('+short', 'www.test.example', 'AAAA').trim(), www.aaaa);
    assert.equal(kdig('+short', 'www.test.example', 'A').trim(), www.a);
    assert.equal(kdig('+short', 'www.test.example', 'AAAA').trim(), www.aaaa);
  });

  it('answers the second query from the cache: the upstream is asked once (counted by metrics)', async () => {
    const before = await upstreamOk();
    const first = dig('+noall', '+answer', 'other.test.example', 'A');
    const second = dig('+noall', '+answer', 'other.test.example', 'A');
    assert.match(first, /other\.test\.example\.\s+\d+\s+IN\s+A\s+192\.0\.2\.11/);
    assert.match(second, /192\.0\.2\.11/);
    assert.equal((await upstreamOk()) - before, 1);
    assert.ok((await dns.metric('bootgate_dns_queries_total', { result: 'cache_hit', transport: 'udp' })) >= 1);
  });

  it('caches NXDOMAIN with the SOA (negative caching)', async () => {
    const before = await upstreamOk();
    for (let i = 0; i < 3; i++) {
      const out = dig('nope.test.example', 'A');
      assert.match(out, /status: NXDOMAIN/);
      assert.match(out, /AUTHORITY SECTION:\s+test\.example\.\s+(\d+)\s+IN\s+SOA/);
      const ttl = Number(/test\.example\.\s+(\d+)\s+IN\s+SOA/.exec(out)![1]);
      assert.ok(ttl <= SOA_MINIMUM, `negative TTL ${ttl}`);
    }
    assert.equal((await upstreamOk()) - before, 1);
  });

  it('serves TCP (dig +tcp, kdig +tcp), several queries on one kdig connection', async () => {
    assert.equal(dig('+tcp', '+short', 'www.test.example', 'A').trim(), ZONE_RECORDS['www.test.example'].a);
    assert.equal(kdig('+tcp', '+short', 'www.test.example', 'AAAA').trim(), ZONE_RECORDS['www.test.example'].aaaa);
    const both = kdig('+tcp', '+keepopen', '+short', 'www.test.example', 'A', 'other.test.example', 'A', 'printer.lan', 'A');
    assert.deepEqual(both.trim().split(/\s+/), [ZONE_RECORDS['www.test.example'].a, ZONE_RECORDS['other.test.example'].a, '10.53.0.9']);
    assert.ok((await dns.metric('bootgate_dns_queries_total', { transport: 'tcp' })) >= 5);
  });

  it('truncates a large TXT answer over UDP (TC=1) and dig gets all of it on its TCP retry', async () => {
    const truncatedBefore = await dns.metric('bootgate_dns_truncated_total');
    const ignored = dig('+ignore', 'big.test.example', 'TXT');
    assert.match(ignored, /flags: qr tc rd ra/);
    const out = dig('big.test.example', 'TXT');
    assert.match(out, /Truncated, retrying in TCP mode/);
    for (const s of BIG_TXT_STRINGS) assert.ok(out.includes(s), `missing ${s.slice(0, 10)}`);
    assert.ok((await dns.metric('bootgate_dns_truncated_total')) - truncatedBefore >= 2);
    // the upstream truncated too: the resolver fetched the RRset over TCP from unbound
    assert.ok((await dns.metric('bootgate_dns_upstream_queries_total', { transport: 'tcp', outcome: 'ok' })) >= 1);
  });

  it('honours EDNS buffer sizes: advertises its own 1232, 512 without EDNS', () => {
    assert.match(dig('+bufsize=4096', 'www.test.example'), /EDNS: version: 0, flags:; udp: 1232/);
    const noedns = dig('+noedns', '+ignore', 'big.test.example', 'TXT');
    assert.match(noedns, /flags: qr tc rd ra/);
    assert.doesNotMatch(noedns, /EDNS/);
    assert.match(kdig('+bufsize=1232', '+ignore', 'big.test.example', 'TXT'), /Flags: qr tc rd ra/i);
  });

  it('fails over past a dead and a refusing upstream', async () => {
    const out = sh(cli, 'dig', [`@${GW2}`, '+tries=1', '+time=5', '+short', 'www.test.example', 'A']);
    assert.equal(out.trim(), ZONE_RECORDS['www.test.example'].a);
    assert.equal(await failover.metric('bootgate_dns_upstream_queries_total', { upstream: '10.54.0.99:53', outcome: 'timeout' }), 1);
    assert.equal(await failover.metric('bootgate_dns_upstream_queries_total', { upstream: `${UP}:5399`, outcome: 'error' }), 1);
    assert.equal(await failover.metric('bootgate_dns_upstream_queries_total', { upstream: `${UP}:53`, outcome: 'ok' }), 1);
  });

  it('answers local names: hosts entries and the LocalAnswers port, never forwarded', async () => {
    const before = await dns.metric('bootgate_dns_upstream_queries_total');
    assert.equal(dig('+short', 'printer.lan').trim(), '10.53.0.9');
    assert.equal(kdig('+short', 'printer').trim(), '10.53.0.9');
    assert.equal(dig('+short', 'games.svc.lan').trim(), '10.53.0.1');
    assert.match(dig('+norecurse', 'printer.lan'), /flags: qr aa/);
    assert.match(dig('nobody.lan'), /status: NXDOMAIN/);
    assert.equal(dig('+short', '-x', '10.53.0.9').trim(), 'printer.lan.');
    assert.equal(await dns.metric('bootgate_dns_upstream_queries_total'), before);
  });

  it('reports every answered query to the onQuery hook with the client address', () => {
    const events = dns.queries();
    const e = events.find((q) => q.name === 'printer.lan' && q.type === 'A');
    assert.deepEqual(e && { clientIp: e.clientIp, rcode: e.rcode, answers: e.answers, source: e.source }, {
      clientIp: '10.53.0.2',
      rcode: 'NOERROR',
      answers: ['A 10.53.0.9'],
      source: 'local',
    });
    assert.ok(events.some((q) => q.name === 'nope.test.example' && q.rcode === 'NXDOMAIN'));
  });

  it('is still serving after the run (no crash on anything above)', () => {
    assert.equal(dns.child!.exitCode, null);
    assert.equal(dig('+short', 'www.test.example').trim(), ZONE_RECORDS['www.test.example'].a);
  });
});
