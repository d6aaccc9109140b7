import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsLab } from '../../src/lab/netns.ts';
import { BIN, BootgateProcess, leaseWithUdhcpc, waitForHttp } from '../helpers/bootgate-process.ts';

/**
 * The durability contract of the logging proxy: a request the client saw complete has its audit record committed.
 * A seat with an open session runs a storm of keep-alive requests (each with its own path /r/<n>) through the
 * explicit proxy of `bootgate serve`; bootgate is killed with SIGKILL mid-storm, restarted on the same data
 * directory, and every request the client logged as complete must be in the exported trail, which verifies.
 * A CONNECT tunnel held open across the kill (its record is written at its close, which never comes) must be in the
 * trail too, as "interrupted", with the seat and the person it belonged to.
 */
const GW_LAN = '10.95.1.1';
const WAN_HOST = '10.95.2.2';
const SEAT_MAC = '52:54:00:95:00:10';
const API = '127.0.0.1:18495';
const HOST = 'www.bgpk.test';
const CONNECTIONS = 32;

/**
 * The storm client (runs in the seat namespace): CONNECTIONS loops, each sending GET http://HOST/r/<n> through the
 * proxy on a keep-alive connection. A request is logged (synchronously, one line per request) only once its
 * response has completed with status 200 and the whole body. After an error a loop waits a little and goes on,
 * until SIGTERM.
 */
const CLIENT = `
import http from 'node:http';
import { openSync, writeSync } from 'node:fs';
const [proxyHost, proxyPort, host, conns, logFile] = process.argv.slice(2);
const out = openSync(logFile, 'a');
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(conns) });
let next = 0;
let stopping = false;
process.on('SIGTERM', () => { stopping = true; agent.destroy(); process.exit(0); });
function one() {
  return new Promise((resolve) => {
    const path = '/r/' + next++;
    const req = http.request({ host: proxyHost, port: Number(proxyPort), path: 'http://' + host + path, headers: { host }, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        if (res.statusCode === 200 && body === 'ok ' + path + '\\n') writeSync(out, 'done ' + path + '\\n');
        else writeSync(out, 'bad ' + path + ' ' + res.statusCode + '\\n');
        resolve(true);
      });
      res.on('error', () => resolve(false));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}
async function loop() {
  while (!stopping) if (!(await one())) await new Promise((r) => setTimeout(r, 50));
}
for (let i = 0; i < Number(conns); i++) void loop();
`;

/** A CONNECT tunnel through the proxy, one request inside it, then held open: prints "open" once through. */
const TUNNEL = `
import net from 'node:net';
const [proxyHost, proxyPort, host] = process.argv.slice(2);
const s = net.connect(Number(proxyPort), proxyHost, () => s.write('CONNECT ' + host + ':80 HTTP/1.1\\r\\nHost: ' + host + ':80\\r\\n\\r\\n'));
let got = '';
let inside = false;
s.on('data', (d) => {
  got += d.toString('latin1');
  if (!inside && got.includes('\\r\\n\\r\\n')) {
    if (!got.startsWith('HTTP/1.1 200')) { console.log('refused ' + got.split('\\r\\n')[0]); process.exit(1); }
    inside = true;
    got = '';
    s.write('GET /in-tunnel HTTP/1.1\\r\\nHost: ' + host + '\\r\\n\\r\\n');
  } else if (inside && got.includes('ok /in-tunnel')) console.log('open');
});
s.on('error', () => {});
s.on('close', () => process.exit(0));
`;

describe('logging proxy: no completed request is lost when bootgate is killed (-9) during a request storm', () => {
  const lab = new NetnsLab('bgpk');
  let bg: BootgateProcess;
  let seatNs: string;
  let clientLog: string;

  before(async () => {
    lab.createServer('br0', `${GW_LAN}/24`);
    seatNs = lab.addClient({ name: 'seat', bridge: 'br0', mac: SEAT_MAC });
    const wanNs = lab.addClient({ name: 'wan', address: `${WAN_HOST}/24`, serverIfname: 'wan0', serverAddress: '10.95.2.1/24' });
    bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0', wan: 'wan0' },
      dhcp: { subnet: '10.95.1.0/24', range: { start: '10.95.1.100', end: '10.95.1.150' }, router: GW_LAN, dns: [GW_LAN] },
      gateway: { enabled: true, table: 'bootgate_bgpk', hosts: { [HOST]: WAN_HOST }, connectPorts: [80, 443], allowDestinations: ['10.95.2.0/24'] },
      api: { listen: API },
    });
    clientLog = join(bg.dir, 'client.log');
    // The "WAN" web server: nginx answering every path with its own path.
    const www = join(bg.dir, 'nginx');
    writeFileSync(
      join(bg.dir, 'nginx.conf'),
      `daemon off; worker_processes 1; pid ${www}.pid; error_log ${www}.err warn;
events { worker_connections 1024; }
http { access_log off; keepalive_requests 100000; client_body_temp_path ${www}-body; proxy_temp_path ${www}-proxy;
  fastcgi_temp_path ${www}-fcgi; uwsgi_temp_path ${www}-uwsgi; scgi_temp_path ${www}-scgi;
  server { listen ${WAN_HOST}:80; default_type text/plain; location / { return 200 "ok $uri\\n"; } } }
`,
    );
    lab.spawnIn(wanNs, 'nginx', ['-c', join(bg.dir, 'nginx.conf'), '-p', bg.dir]);
    writeFileSync(join(bg.dir, 'storm.mjs'), CLIENT);
    writeFileSync(join(bg.dir, 'tunnel.mjs'), TUNNEL);
    await bg.start();
    leaseWithUdhcpc(lab, seatNs, bg.dir);
    await waitForHttp(lab, wanNs, `http://${WAN_HOST}/up`);
  });

  after(async () => {
    await lab.destroy(); // kills bootgate, nginx and the storm client (by PID), removes the namespaces
    rmSync(bg.dir, { recursive: true, force: true });
  });

  const cli = (...args: string[]): string =>
    lab.exec(lab.server, process.execPath, [BIN, ...args, '--config', bg.configFile], { timeoutMs: 60_000 }).trim();
  const completed = (): string[] =>
    existsSync(clientLog)
      ? readFileSync(clientLog, 'utf8')
          .split('\n')
          .filter((l) => l.startsWith('done '))
          .map((l) => l.slice(5))
      : [];

  it('every request the client saw complete before the kill is in the trail after restart, and the chain verifies', async (t) => {
    const userId = cli('users', 'add', '--name', 'Ana Pérez', '--doc-type', 'passport', '--doc-number', 'X1234567', '--doc-country', 'ES');
    cli('seats', 'add', '--name', 'S1', '--mac', SEAT_MAC);
    cli('sessions', 'open', '--user', userId, '--seat', 'S1');

    const storm = lab.spawnIn(seatNs, process.execPath, [join(bg.dir, 'storm.mjs'), GW_LAN, '3128', HOST, String(CONNECTIONS), clientLog]);
    const stormExited = new Promise((r) => storm.once('exit', r));
    // Mid-storm: once a few thousand requests have completed (the client keeps CONNECTIONS requests in flight).
    for (let i = 0; i < 600 && completed().length < 3000; i++) await new Promise((r) => setTimeout(r, 100));
    const before = completed().length;
    assert.ok(before >= 3000, `the storm completed only ${before} requests through the proxy`);
    // a tunnel held open across the kill
    const tunnel = lab.spawnIn(seatNs, process.execPath, [join(bg.dir, 'tunnel.mjs'), GW_LAN, '3128', HOST]);
    let tunnelOut = '';
    await new Promise<void>((resolve, reject) => {
      tunnel.stdout!.on('data', (c: Buffer) => {
        tunnelOut += c.toString();
        if (tunnelOut.includes('open')) resolve();
      });
      tunnel.once('exit', (code) => reject(new Error(`tunnel client exited (${code}): ${tunnelOut}`)));
    });
    await new Promise((r) => setTimeout(r, 300)); // its note reaches the trail with the storm's next group commits
    await bg.kill9();
    await new Promise((r) => setTimeout(r, 500)); // failed requests settle in the client
    process.kill(storm.pid!, 'SIGTERM');
    await stormExited;
    const done = completed();
    const bad = readFileSync(clientLog, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('bad '));
    assert.deepEqual(bad, [], 'every completed response was the origin’s 200');

    bg.output = '';
    await bg.start(); // same config, same data directory
    const file = join(bg.dir, 'export.ndjson');
    cli('audit', 'export', '--from', '2020-01-01', '--to', '2100-01-01', '--format', 'ndjson', '--out', file);
    const verified = lab.exec(lab.server, process.execPath, [
      BIN,
      'audit',
      'verify',
      file,
      '--public-key',
      join(bg.dir, 'data', 'keys', 'audit-ed25519.pub.pem'),
    ]);
    assert.match(verified, /OK .* chain intact/);
    const records = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            kind: string;
            url: string | null;
            seat: string | null;
            docNumber: string | null;
            host: string | null;
            port: number | null;
            verdict: string;
            status: number | null;
            bytesUp: number | null;
          },
      );
    const recorded = new Set(records.filter((r) => r.kind === 'http' && r.seat === 'S1' && r.docNumber === 'X1234567').map((r) => r.url));
    const missing = done.filter((path) => !recorded.has(`http://${HOST}${path}`));
    t.diagnostic(
      `${done.length} requests completed (${before} when the kill was sent), ${recorded.size} http records after restart, ${missing.length} missing`,
    );
    assert.deepEqual(missing.slice(0, 20), [], `${missing.length} of ${done.length} completed requests are missing from the trail`);
    assert.ok(recorded.size >= done.length, `${recorded.size} http records for ${done.length} completed requests`);
    const tunnels = records.filter((r) => r.kind === 'tunnel');
    assert.deepEqual(
      tunnels.map((r) => [r.host, r.port, r.verdict, r.status, r.seat, r.docNumber, r.bytesUp]),
      [[HOST, 80, 'interrupted', 200, 'S1', 'X1234567', null]],
      'the tunnel open at the kill is recorded as interrupted, once',
    );
    assert.match(bg.output, /recorded as interrupted/);

    assert.equal(await bg.stop(), 0);
  });
});
