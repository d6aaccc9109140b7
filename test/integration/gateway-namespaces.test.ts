/**
 * The gateway with real peers: a seat namespace (curl, ping) on the LAN bridge of the gateway namespace (the
 * standalone gateway: nftables + proxies), and a "WAN" namespace with an HTTP server on :80 and a TLS server on
 * :443 (self-signed cert made with openssl now). The WAN has no route back to the LAN: traffic from the seat
 * only reaches it through the gateway's proxies or masquerade.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ip, NetnsLab } from '../../src/lab/netns.ts';
import { selfSignedCert, session } from '../helpers/gateway-harness.ts';
import { GatewayProcess } from '../helpers/gateway-process.ts';

const lab = new NetnsLab('bggw');
const GW_LAN = '10.76.1.1';
const SEAT = '10.76.1.10';
const WAN_HOST = '10.76.2.2';
const cert = selfSignedCert(['secure.bggw.test']);
let seatNs = '';
let wanNs = '';
let gw: GatewayProcess | undefined;

/** curl from the seat; returns exit code, HTTP status, body. */
function curl(args: string[]): { code: number; status: string; body: string; stderr: string } {
  try {
    const out = lab.exec(seatNs, 'curl', ['-sS', '--max-time', '5', '--connect-timeout', '3', '-w', '\n%{http_code}', ...args]);
    const i = out.lastIndexOf('\n');
    return { code: 0, status: out.slice(i + 1), body: out.slice(0, i), stderr: '' };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    const i = (err.stdout ?? '').lastIndexOf('\n');
    return { code: err.status, status: i >= 0 ? err.stdout.slice(i + 1) : '', body: '', stderr: err.stderr };
  }
}

function ping(): boolean {
  try {
    lab.exec(seatNs, 'ping', ['-c', '1', '-W', '1', WAN_HOST]);
    return true;
  } catch {
    return false;
  }
}

const proxy = ['-x', `http://${GW_LAN}:3128`];
const tlsOpts = ['--cacert', cert.certPath];
const transparentHttp = ['--resolve', `www.bggw.test:80:${WAN_HOST}`, 'http://www.bggw.test/index.html'];
const transparentHttps = [...tlsOpts, '--resolve', `secure.bggw.test:443:${WAN_HOST}`, 'https://secure.bggw.test/hello'];

before(async () => {
  lab.createServer('bggwbr', `${GW_LAN}/24`);
  seatNs = lab.addClient({ name: 'seat', address: `${SEAT}/24`, bridge: 'bggwbr', mac: '52:54:00:76:00:10' });
  ip('-n', seatNs, 'route', 'add', 'default', 'via', GW_LAN);
  wanNs = lab.addClient({ name: 'wan', address: `${WAN_HOST}/24`, serverIfname: 'bggwwan', serverAddress: '10.76.2.1/24' });
  const script = join(cert.dir, 'wan.mjs');
  writeFileSync(
    script,
    `import http from 'node:http'; import https from 'node:https'; import fs from 'node:fs';
const h = (tag) => (req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(tag + ' ' + req.url + ' from ' + req.socket.remoteAddress); };
http.createServer(h('plain')).listen(80, '${WAN_HOST}');
https.createServer({ key: fs.readFileSync('${cert.keyPath}'), cert: fs.readFileSync('${cert.certPath}') }, h('secure')).listen(443, '${WAN_HOST}', () => console.log('wan ready'));`,
  );
  const wan = lab.spawnIn(wanNs, process.execPath, [script]);
  await new Promise<void>((resolve, reject) => {
    wan.stdout!.on('data', (c: Buffer) => c.toString().includes('wan ready') && resolve());
    wan.once('exit', () => reject(new Error('WAN server exited')));
  });
  gw = await GatewayProcess.start(lab, lab.server, [
    '--lan',
    'bggwbr',
    '--wan',
    'bggwwan',
    '--lan-subnet',
    '10.76.1.0/24',
    '--portal-url',
    `http://${GW_LAN}:8081/`,
    '--host-map',
    `www.bggw.test=${WAN_HOST}`,
    '--host-map',
    `secure.bggw.test=${WAN_HOST}`,
    '--log-level',
    'info',
    // the WAN namespace's network is private (RFC 1918): listed as an operator lists the shop's own servers
    '--allow',
    '10.76.2.0/24',
  ]);
});

after(async () => {
  await gw?.stop();
  await lab.destroy();
  cert.cleanup();
});

describe('gateway in namespaces: gate, portal, explicit and transparent proxying', () => {
  it('start: the bootgate table is in place and IP forwarding is on, and logged', async () => {
    const tables = lab.exec(lab.server, 'nft', ['list', 'tables']);
    assert.match(tables, /table inet bootgate/);
    assert.equal(lab.exec(lab.server, 'cat', ['/proc/sys/net/ipv4/ip_forward']).trim(), '1');
    // pino writes asynchronously: its lines may follow "gateway ready"
    const logged = () => gw!.lines.some((l) => l.includes('IPv4 forwarding turned on'));
    for (let i = 0; i < 100 && !logged(); i++) await new Promise((r) => setTimeout(r, 50));
    const log = gw!.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; module?: string });
    assert.ok(
      log.some((l) => l.module === 'gateway.nftables' && /IPv4 forwarding turned on/.test(l.msg)),
      'forwarding is logged',
    );
    assert.ok(log.some((l) => /applied and verified/.test(l.msg)));
  });

  it('no session: explicit proxy 403, CONNECT 403, HTTP → portal, HTTPS and ping dropped; no records', () => {
    const r1 = curl([...proxy, 'http://www.bggw.test/index.html']);
    assert.equal(r1.status, '403');
    assert.match(r1.body, /see the cashier/);
    const r2 = curl([...proxy, ...tlsOpts, 'https://secure.bggw.test/hello']);
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /CONNECT tunnel failed, response 403/);
    const r3 = curl(['-L', ...transparentHttp]);
    assert.equal(r3.status, '200');
    assert.match(r3.body, /Please see the cashier/);
    const r4 = curl(transparentHttps);
    // refused at once with a TCP reset by the forward chain (curl: 7 = could not connect), not left to time out
    assert.equal(r4.code, 7, `HTTPS from a seat without a session is refused: ${r4.stderr}`);
    assert.match(r4.stderr, /Failed to connect|refused|reset/i);
    assert.equal(ping(), false);
    assert.equal(gw!.records.length, 0);
  });

  it('open session: explicit HTTP + CONNECT, transparent HTTP + HTTPS, masqueraded ping; one record each', async () => {
    await gw!.open(SEAT, session('seat-1'));
    const a = curl([...proxy, 'http://www.bggw.test/index.html']);
    assert.equal(a.status, '200');
    assert.match(a.body, /^plain \/index.html from 10\.76\.2\.1$/);
    const b = curl([...proxy, ...tlsOpts, 'https://secure.bggw.test/hello']);
    assert.equal(b.status, '200');
    assert.match(b.body, /^secure \/hello from 10\.76\.2\.1$/);
    const c = curl(transparentHttp);
    assert.equal(c.status, '200');
    assert.match(c.body, /^plain \/index.html/);
    const d = curl(transparentHttps);
    assert.equal(d.status, '200', d.stderr);
    assert.match(d.body, /^secure \/hello/);
    assert.equal(ping(), true, 'forwarded and masqueraded (the WAN has no route to the LAN)');
    const recs = await gw!.waitRecords(4);
    assert.deepEqual(
      recs.map((r) => r.kind),
      ['http', 'tunnel', 'http', 'tls'],
    );
    for (const r of recs) {
      assert.equal(r.seat, 'seat-1');
      assert.equal(r.ip, SEAT);
      assert.equal(r.userName, 'Ana Pérez');
      assert.equal(r.docNumber, 'X1234567');
      assert.equal(r.sessionId, 's-seat-1');
      assert.equal(r.verdict, 'allowed');
    }
    assert.equal(recs[0]!.url, 'http://www.bggw.test/index.html');
    assert.equal(recs[1]!.host, 'secure.bggw.test');
    assert.equal(recs[1]!.port, 443);
    assert.equal(recs[2]!.url, 'http://www.bggw.test/index.html');
    assert.equal(recs[3]!.sni, 'secure.bggw.test');
    assert.ok(recs[3]!.bytesDown > 0 && recs[3]!.bytesUp > 0);
    const counters = await gw!.counters();
    assert.ok((counters[SEAT]?.packets ?? 0) >= 1, `per-seat counter counts forwarded packets: ${JSON.stringify(counters)}`);
  });

  it('close session: refused again everywhere', async () => {
    await gw!.close(SEAT);
    const before = gw!.records.length;
    assert.equal(curl([...proxy, 'http://www.bggw.test/index.html']).status, '403');
    assert.match(curl(['-L', ...transparentHttp]).body, /Please see the cashier/);
    assert.notEqual(curl(transparentHttps).code, 0);
    assert.equal(ping(), false);
    assert.equal(gw!.records.length, before);
  });

  it('stop: the table is removed and forwarding put back as it was', async () => {
    assert.equal(await gw!.stop(), 0);
    assert.doesNotMatch(lab.exec(lab.server, 'nft', ['list', 'tables']), /bootgate/);
    assert.equal(lab.exec(lab.server, 'cat', ['/proc/sys/net/ipv4/ip_forward']).trim(), '0');
  });
});
