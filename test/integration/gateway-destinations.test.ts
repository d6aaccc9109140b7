/**
 * The destination policy from a seated terminal (issue 11), in namespaces this test builds and removes:
 *   gateway ns: LAN bridge 10.78.1.1/24; WAN 10.78.2.1/24 (allow-listed, as the shop's own servers);
 *               a second WAN-side private net 10.78.3.1/24 (not allowed); a loopback-only "admin" service on
 *               127.0.0.1:18080 and a service on 0.0.0.0:18081, both counting what reaches them
 *   seat 10.78.1.10 (session open), a LAN host 10.78.1.20:80, WAN hosts 10.78.2.2 and 10.78.3.2 (:80, :443, :8080)
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ip, NetnsLab } from '../../src/lab/netns.ts';
import { selfSignedCert, session } from '../helpers/gateway-harness.ts';
import { GatewayProcess } from '../helpers/gateway-process.ts';

const lab = new NetnsLab('bgdp');
const GW_LAN = '10.78.1.1';
const SEAT = '10.78.1.10';
const LAN_HOST = '10.78.1.20';
const WAN_OK = '10.78.2.2';
const WAN_PRIVATE = '10.78.3.2';
const cert = selfSignedCert(['secure.bgdp.test', 'localhost']);
let seatNs = '';
let gw: GatewayProcess | undefined;
const hits = { admin: 0, open: 0 };

function curl(args: string[]): { code: number; status: string; body: string } {
  try {
    const out = lab.exec(seatNs, 'curl', ['-s', '--max-time', '5', '--connect-timeout', '3', '-w', '\n%{http_code}', ...args]);
    const i = out.lastIndexOf('\n');
    return { code: 0, status: out.slice(i + 1), body: out.slice(0, i) };
  } catch (e) {
    const err = e as { status: number; stdout: string };
    const i = (err.stdout ?? '').lastIndexOf('\n');
    return { code: err.status, status: i >= 0 ? err.stdout.slice(i + 1) : '', body: '' };
  }
}

/** A node script serving `tag` on each listen address, printing a line per request (the test counts them). */
function server(ns: string, tag: string, listens: Array<[string, number]>, tls = false): Promise<void> {
  const script = join(cert.dir, `${tag}.mjs`);
  writeFileSync(
    script,
    `import http from 'node:http'; import https from 'node:https'; import fs from 'node:fs';
const h = (req, res) => { console.log('hit ' + req.url); res.writeHead(200); res.end('${tag} ' + req.headers.host); };
let n = 0; const ready = () => { if (++n === ${listens.length + (tls ? 1 : 0)}) console.log('ready'); };
for (const [a, p] of ${JSON.stringify(listens)}) http.createServer(h).listen(p, a, ready);
${tls ? `https.createServer({ key: fs.readFileSync('${cert.keyPath}'), cert: fs.readFileSync('${cert.certPath}') }, h).listen(443, '${listens[0]![0]}', ready);` : ''}`,
  );
  const child = lab.spawnIn(ns, process.execPath, [script]);
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      const text = c.toString();
      if (tag === 'admin') hits.admin += (text.match(/^hit /gm) ?? []).length;
      if (tag === 'open') hits.open += (text.match(/^hit /gm) ?? []).length;
      if (text.includes('ready')) resolve();
    });
    child.once('exit', () => reject(new Error(`${tag} server exited`)));
  });
}

before(async () => {
  lab.createServer('bgdpbr', `${GW_LAN}/24`);
  seatNs = lab.addClient({ name: 'seat', address: `${SEAT}/24`, bridge: 'bgdpbr', mac: '52:54:00:78:00:10' });
  ip('-n', seatNs, 'route', 'add', 'default', 'via', GW_LAN);
  const lanNs = lab.addClient({ name: 'lanhost', address: `${LAN_HOST}/24`, bridge: 'bgdpbr' });
  const wanNs = lab.addClient({ name: 'wan', address: `${WAN_OK}/24`, serverIfname: 'bgdpwan', serverAddress: '10.78.2.1/24' });
  const privNs = lab.addClient({ name: 'priv', address: `${WAN_PRIVATE}/24`, serverIfname: 'bgdppriv', serverAddress: '10.78.3.1/24' });
  ip('-n', wanNs, 'route', 'add', 'default', 'via', '10.78.2.1');
  ip('-n', privNs, 'route', 'add', 'default', 'via', '10.78.3.1');
  await Promise.all([
    server(lab.server, 'admin', [['127.0.0.1', 18080]]),
    server(lab.server, 'open', [['0.0.0.0', 18081]]),
    server(lanNs, 'lan', [[LAN_HOST, 80]]),
    server(
      wanNs,
      'wan',
      [
        [WAN_OK, 80],
        [WAN_OK, 8080],
      ],
      true,
    ),
    server(
      privNs,
      'private',
      [
        [WAN_PRIVATE, 80],
        [WAN_PRIVATE, 8080],
      ],
      true,
    ),
  ]);
  gw = await GatewayProcess.start(lab, lab.server, [
    '--lan',
    'bgdpbr',
    '--wan',
    'bgdpwan',
    '--lan-subnet',
    '10.78.1.0/24',
    '--portal-url',
    `http://${GW_LAN}:8081/`,
    '--host-map',
    `www.bgdp.test=${WAN_OK}`,
    '--host-map',
    `loop.bgdp.test=127.0.0.1`,
    '--log-level',
    'info',
    '--allow',
    '10.78.2.0/24',
  ]);
  await gw.open(SEAT, session('seat-1'));
});

after(async () => {
  await gw?.stop();
  await lab.destroy();
  cert.cleanup();
});

const proxy = ['-x', `http://${GW_LAN}:3128`];

describe('destination policy from a seated terminal (issue 11)', () => {
  it('explicit proxy: loopback in every form, the gateway, the LAN and WAN-side private hosts are 403 and recorded', async () => {
    const refused: Array<[string, string]> = [
      ['http://127.0.0.1:18080/', 'loopback'],
      ['http://localhost:18080/', 'loopback'],
      ['http://loop.bgdp.test:18080/', 'loopback'],
      ['http://127.1:18080/', 'loopback'],
      ['http://2130706433:18080/', 'loopback'],
      ['http://0x7f000001:18080/', 'loopback'],
      ['http://[::ffff:127.0.0.1]:18080/', 'loopback'],
      [`http://${GW_LAN}:18081/`, 'gateway_address'],
      ['http://10.78.2.1:18081/', 'gateway_address'],
      [`http://${LAN_HOST}/`, 'lan'],
      [`http://${WAN_PRIVATE}/`, 'private'],
    ];
    const before = gw!.records.length;
    for (const [url, reason] of refused) {
      const r = curl([...proxy, '--globoff', url]);
      assert.equal(r.status, '403', `${url}: ${r.status} ${r.body}`);
      assert.match(r.body, /Destination refused/, `${url} (${reason})`);
      await gw!.waitRecords(before + refused.findIndex(([u]) => u === url) + 1); // in order, one per request
    }
    const recs = (await gw!.waitRecords(before + refused.length)).slice(before);
    recs.forEach((rec, i) => {
      assert.equal(rec.verdict, 'refused', JSON.stringify(rec));
      assert.equal(JSON.parse(rec.detail!).reason, refused[i]![1], `${refused[i]![0]}: ${rec.detail}`);
    });
    assert.equal(hits.admin, 0, 'the loopback service was never reached');
    assert.equal(hits.open, 0, 'nor the gateway-side service');
  });

  it('CONNECT and WebSocket upgrades to the loopback are refused the same way', async () => {
    const before = gw!.records.length;
    const tunnel = curl([...proxy, '-p', 'http://127.0.0.1:18080/']);
    assert.notEqual(tunnel.status, '200');
    const ws = curl([
      ...proxy,
      '-H',
      'Connection: Upgrade',
      '-H',
      'Upgrade: websocket',
      '-H',
      'Sec-WebSocket-Version: 13',
      '-H',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'http://127.0.0.1:18080/',
    ]);
    assert.equal(ws.status, '403');
    const recs = (await gw!.waitRecords(before + 2)).slice(before);
    assert.deepEqual(
      recs.map((r) => [r.kind, r.verdict]),
      [
        ['tunnel', 'refused'],
        ['http', 'refused'],
      ],
    );
    assert.equal(JSON.parse(recs[1]!.detail!).reason, 'loopback');
    assert.equal(hits.admin, 0);
  });

  it('transparent HTTP and TLS go to the address dialled, not to a spoofed Host or SNI', async () => {
    const before = gw!.records.length;
    const http = curl(['-H', 'Host: 127.0.0.1:18080', `http://${WAN_OK}/`]);
    assert.equal(http.status, '200');
    assert.match(http.body, /^wan /, 'the WAN host answered, not the gateway loopback');
    const tls = curl(['--cacert', cert.certPath, '--resolve', `localhost:443:${WAN_OK}`, 'https://localhost/']);
    assert.equal(tls.status, '200');
    assert.match(tls.body, /^wan /);
    const recs = (await gw!.waitRecords(before + 2)).slice(before);
    assert.ok(
      recs.every((r) => r.verdict === 'allowed'),
      JSON.stringify(recs),
    );
    for (const r of recs)
      assert.deepEqual(
        JSON.parse(r.detail!),
        { dst: `${WAN_OK}:${r.kind === 'tls' ? 443 : 80}`, hostMismatch: true },
        'the mismatch is on the record',
      );
    assert.equal(hits.admin, 0);
  });

  it('an allow-listed WAN-side server is reached through the proxy and forwarded; a private one is not', () => {
    assert.equal(curl([...proxy, 'http://www.bgdp.test/']).status, '200');
    assert.equal(curl([`http://${WAN_OK}:8080/`]).status, '200', 'forwarded by nftables');
    const priv = curl([`http://${WAN_PRIVATE}:8080/`]);
    assert.notEqual(priv.status, '200', 'the forward chain refuses the private network');
    const own = curl([`http://${GW_LAN}:18081/`]);
    assert.notEqual(own.status, '200', "the input chain refuses the gateway's other services");
    assert.equal(hits.open, 0);
  });
});
