import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsLab } from '../../src/lab/netns.ts';
import { BIN, BootgateProcess } from '../helpers/bootgate-process.ts';
import { leaseAndOpenSession, originLog, sha, startCountingOrigin } from '../helpers/cache-lab.ts';

/**
 * The edge cache reached through DNS, with the gateway off (docs/cache.md "Through DNS"): `bootgate serve` with
 * `gateway.enabled: false`, the resolver on the LAN and `cache.dnsListener` on a second LAN address. Real dig and
 * kdig ask for a cache domain and get the listener's address; real curl downloads from the address dig gave, by Host
 * header, as a seat with a DHCP lease and a cashier's session; the origin in the WAN namespace counts its requests.
 *
 *   s22c-srv: br0 10.221.1.1/24 (DHCP, DNS, HTTP boot) + 10.221.1.2 (the cache listener), wan0 10.221.2.1/24
 *   s22c-seat: DHCP on br0 (a seat with a session)    s22c-anon: 10.221.1.60 (no lease, no session)
 *   s22c-wan: 10.221.2.2 (the counting origin, test/helpers/cache-wan-origin.ts)
 */
const P = 's22c';
const GW = '10.221.1.1';
const CACHE_IP = '10.221.1.2';
const WAN_HOST = '10.221.2.2';
const SEAT_MAC = '52:54:00:22:1c:10';
const API = '127.0.0.1:18522';
const MiB = 1024 * 1024;
const SMALL = 8 * MiB; // /small/ paths: the first 8 MiB of the origin's file
const HOST = 'dl.cdn.s22c.test';
const OTHER_HOST = 'eu.cdn.s22c.test';

describe('edge cache through DNS with the gateway off: dig, kdig and curl', { timeout: 120_000 }, () => {
  const lab = new NetnsLab(P);
  let bg: BootgateProcess;
  let seatNs: string;
  let anonNs: string;
  let wanNs: string;
  let body: Buffer;

  before(async () => {
    lab.createServer('br0', `${GW}/24`);
    lab.exec(lab.server, 'ip', ['addr', 'add', `${CACHE_IP}/24`, 'dev', 'br0']);
    seatNs = lab.addClient({ name: 'seat', bridge: 'br0', mac: SEAT_MAC });
    anonNs = lab.addClient({ name: 'anon', bridge: 'br0', address: '10.221.1.60/24' });
    wanNs = lab.addClient({ name: 'wan', address: `${WAN_HOST}/24`, serverIfname: 'wan0', serverAddress: '10.221.2.1/24' });
    bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0' },
      dhcp: { subnet: '10.221.1.0/24', range: { start: '10.221.1.100', end: '10.221.1.150' }, router: GW, dns: [GW] },
      // the HTTP boot server keeps to the gateway's own address: port 80 on CACHE_IP is the cache's
      http: { listen: GW },
      api: { listen: API },
      dns: { enabled: true, domain: 'cafe.lan', upstreams: ['10.221.2.99'] }, // nobody answers there: local names only
      // the gateway mode is off; its destination policy still decides where the cache's origin fetches go
      gateway: { enabled: false, hosts: { [HOST]: WAN_HOST, [OTHER_HOST]: WAN_HOST }, allowDestinations: ['10.221.2.0/24'] },
      cache: { enabled: true, maxBytes: 64 * MiB, builtinDomains: false, domains: ['PLACEHOLDER'], dnsListener: { address: CACHE_IP } },
    });
    const domains = join(bg.dir, 'games.txt');
    writeFileSync(domains, '*.cdn.s22c.test\n');
    writeFileSync(bg.configFile, readFileSync(bg.configFile, 'utf8').replace('PLACEHOLDER', domains));
    const file = join(bg.dir, 'origin.bin');
    execFileSync('head', ['-c', String(SMALL), '/dev/urandom'], { stdio: ['ignore', openSync(file, 'w'), 'inherit'] });
    body = readFileSync(file);
    await startCountingOrigin(lab, wanNs, WAN_HOST, file, 8);
    await bg.start();
    leaseAndOpenSession(lab, seatNs, bg.dir, cli, { name: 'S1', mac: SEAT_MAC });
  });

  after(async () => {
    await bg?.stop().catch(() => undefined);
    await lab.destroy();
    if (bg) rmSync(bg.dir, { recursive: true, force: true });
  });

  const cli = (...args: string[]): string => lab.exec(lab.server, process.execPath, [BIN, ...args, '--config', bg.configFile]).trim();
  const dig = (ns: string, ...args: string[]): string => lab.exec(ns, 'dig', [`@${GW}`, '+tries=1', '+time=5', ...args]);
  const kdig = (ns: string, ...args: string[]): string => lab.exec(ns, 'kdig', [`@${GW}`, '+retry=0', '+time=5', ...args]);
  const origin = originLog(lab, lab.ns('wan'), WAN_HOST);
  const originStats = origin.requests;
  const resetOrigin = origin.reset;
  /** curl in `ns` to http://host/path at the address dig gave for host; the body is in `out`, returns "code size" */
  const curl = (ns: string, host: string, path: string, out: string, extra: string[] = []): string => {
    const address = dig(ns, '+short', host, 'A').trim();
    try {
      return lab.exec(ns, 'curl', [
        '-s',
        '--max-time',
        '30',
        '--resolve',
        `${host}:80:${address}`,
        '-o',
        out,
        '-w',
        '%{http_code} %{size_download}',
        ...extra,
        `http://${host}${path}`,
      ]);
    } catch (e) {
      return `exit ${(e as { status: number }).status}`;
    }
  };

  it('dig and kdig get the listener address for cache domains (A), no AAAA, and local names as before', () => {
    assert.equal(dig(seatNs, '+short', HOST, 'A').trim(), CACHE_IP);
    assert.equal(kdig(seatNs, '+short', OTHER_HOST, 'A').trim(), CACHE_IP);
    const aaaa = dig(seatNs, HOST, 'AAAA');
    assert.match(aaaa, /status: NOERROR/);
    assert.match(aaaa, /ANSWER: 0/);
    assert.match(dig(seatNs, HOST, 'A'), /flags: qr aa/); // authoritative: the gateway owns the answer
    assert.equal(dig(seatNs, '+short', 'bootgate.cafe.lan', 'A').trim(), GW);
  });

  it('a seat downloads through the address DNS gave: byte-exact, each slice fetched once, then a hit with no origin request', () => {
    resetOrigin();
    const out = join(bg.dir, 'first.bin');
    assert.equal(curl(seatNs, HOST, '/small/game.bin', out), `200 ${SMALL}`);
    assert.equal(sha(readFileSync(out)), sha(body));
    const reqs = originStats();
    assert.equal(reqs.length, SMALL / MiB, 'one origin request per slice');
    assert.equal(
      reqs.reduce((n, r) => n + r.bytes, 0),
      SMALL,
    );
    resetOrigin();
    // the same path on another CDN host of the service is the same object: served from the store
    const again = join(bg.dir, 'again.bin');
    assert.equal(curl(seatNs, OTHER_HOST, '/small/game.bin', again, ['-r', '1000-3000000']), '206 2999001');
    assert.equal(sha(readFileSync(again)), sha(body.subarray(1000, 3_000_001)));
    // a HEAD of the stored object is answered from the cache too, with the fields a GET gets
    const head = join(bg.dir, 'head.txt');
    assert.equal(curl(seatNs, HOST, '/small/game.bin', head, ['-I']), `200 0`);
    assert.match(readFileSync(head, 'utf8'), new RegExp(`content-length: ${SMALL}\r\n`, 'i'));
    assert.equal(originStats().length, 0);
  });

  it('a Host that is not a cache domain is refused (421), and so is a proxy request', () => {
    const out = join(bg.dir, 'x.html');
    assert.equal(lab.exec(seatNs, 'curl', ['-s', '-o', out, '-w', '%{http_code}', '-H', 'Host: www.example.test', `http://${CACHE_IP}/`]), '421');
    assert.equal(
      lab.exec(seatNs, 'curl', ['-s', '-o', out, '-w', '%{http_code}', '-x', `http://${CACHE_IP}:80`, `http://${HOST}/small/game.bin`]),
      '400',
    );
  });

  it('a terminal without an open session gets the cashier page (403), and the origin is not asked', () => {
    resetOrigin();
    const out = join(bg.dir, 'anon.html');
    assert.equal(curl(anonNs, HOST, '/small/other.bin', out), '403 ' + String(readFileSync(out).length));
    assert.match(readFileSync(out, 'utf8'), /no open session/i);
    assert.equal(originStats().length, 0);
  });

  it('a request with Cookie is relayed to the origin uncached, as the gateway proxies do', () => {
    resetOrigin();
    const out = join(bg.dir, 'cookie.bin');
    assert.equal(curl(seatNs, HOST, '/small/game.bin', out, ['-H', 'Cookie: a=1', '-r', '0-99']), '206 100');
    assert.ok(readFileSync(out).equals(body.subarray(0, 100)));
    const reqs = originStats();
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0]!.range, 'bytes=0-99'); // the client's own request, not a slice fetch
  });

  it('every delivery is an http audit record of the person at the seat: miss, hit, bypass', () => {
    const file = join(bg.dir, 'audit.ndjson');
    cli('audit', 'export', '--from', '2020-01-01', '--to', '2100-01-01', '--format', 'ndjson', '--out', file);
    const records = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; host: string; url: string; detail?: string; userName?: string; seat?: string; status?: number });
    const http = records.filter((r) => r.kind === 'http' && r.host.endsWith('.cdn.s22c.test'));
    const marks = http.map((r) => /"cache":"(\w+)"/.exec(r.detail ?? '')?.[1]);
    assert.deepEqual(marks, ['miss', 'hit', 'hit', 'bypass']);
    for (const r of http) {
      assert.equal(r.userName, 'Ana Pérez');
      assert.equal(r.seat, 'S1');
    }
    // the DNS queries of the seat are on the trail too, with the listener's address as the answer
    assert.ok(records.some((r) => r.kind === 'dns' && r.host === HOST && (r.detail ?? '').includes(CACHE_IP)));
  });

  it('bootgate cache stats counts them', () => {
    const text = cli('cache', 'stats');
    const [header, row] = text.split('\n');
    const cells = Object.fromEntries(header!.split(/\s+/).map((h, i) => [h, row!.split(/\s+/)[i]]));
    assert.equal(cells['service'], 'games');
    assert.equal(cells['hits'], '2');
    assert.equal(cells['misses'], '1');
    assert.equal(cells['bypasses'], '1');
    assert.equal(cells['originBytes'], String(SMALL));
  });

  it('bootgate cache prefill fetches a list under a cap; the seat then gets it with no origin request', () => {
    resetOrigin();
    const list = join(bg.dir, 'urls.txt');
    writeFileSync(list, `# tonight\nhttp://${HOST}/small/update.bin\nhttp://www.example.test/not-cached\n`);
    const report = cli('cache', 'prefill', '--file', list, '--rate', '64M', '--wait');
    assert.match(report, /^prefill job 1: 2 URLs at 67108864 bytes\/s$/m);
    assert.match(report, new RegExp(`^done\\s+${SMALL}\\s+${SMALL}\\s+http://${HOST.replace(/\./g, '\\.')}/small/update\\.bin$`, 'm'));
    assert.match(report, /^skipped .*not-cached/m);
    assert.equal(originStats().length, SMALL / MiB, 'one origin request per slice');
    resetOrigin();
    const out = join(bg.dir, 'update.bin');
    assert.equal(curl(seatNs, OTHER_HOST, '/small/update.bin', out), `200 ${SMALL}`);
    assert.equal(sha(readFileSync(out)), sha(body));
    assert.equal(originStats().length, 0);
    assert.match(cli('cache', 'prefill', '--status'), /^job 1 finished/m);
  });
});
