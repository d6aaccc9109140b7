import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsLab } from '../../src/lab/netns.ts';
import { BIN, BootgateProcess, leaseWithUdhcpc, waitForHttp } from '../helpers/bootgate-process.ts';

/**
 * The logging gateway inside `bootgate serve`, wired to DHCP, identity and audit: a seat namespace gets its lease
 * from bootgate, a cashier opens a session with the CLI, and the seat's web traffic (explicit proxy and
 * transparent HTTP through the nftables redirect) reaches a "WAN" web server and is recorded against the person;
 * without a session it is refused. The WAN namespace has no route back to the LAN.
 */
const GW_LAN = '10.79.1.1';
const WAN_HOST = '10.79.2.2';
const SEAT_MAC = '52:54:00:79:00:10';
const API = '127.0.0.1:18445';

describe('gateway wired into bootgate serve (DHCP lease → cashier session → proxied and audited web access)', () => {
  const lab = new NetnsLab('bggwa');
  let bg: BootgateProcess;
  let seatNs: string;

  before(async () => {
    lab.createServer('br0', `${GW_LAN}/24`);
    seatNs = lab.addClient({ name: 'seat', bridge: 'br0', mac: SEAT_MAC });
    const wanNs = lab.addClient({ name: 'wan', address: `${WAN_HOST}/24`, serverIfname: 'wan0', serverAddress: '10.79.2.1/24' });
    bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0', wan: 'wan0' },
      dhcp: { subnet: '10.79.1.0/24', range: { start: '10.79.1.100', end: '10.79.1.150' }, router: GW_LAN, dns: [GW_LAN] },
      gateway: { enabled: true, hosts: { 'www.bggwa.test': WAN_HOST }, allowDestinations: ['10.79.2.0/24'] },
      api: { listen: API },
      // a registered platform instance on a private network beyond the WAN side: seats may reach it (302 mode)
      platforms: { instances: [{ class: 'game', name: 'far', url: 'http://192.168.77.7:8080/', capacity: 5 }] },
    });
    writeFileSync(join(bg.dir, 'index.html'), 'hello from the wan\n');
    lab.spawnIn(wanNs, 'python3', ['-m', 'http.server', '80', '--bind', WAN_HOST, '--directory', bg.dir]);
    await bg.start();
    leaseWithUdhcpc(lab, seatNs, bg.dir);
    await waitForHttp(lab, wanNs, `http://${WAN_HOST}/index.html`);
  });

  after(async () => {
    // On failure the gateway's nftables table goes with its namespace.
    await lab.destroy();
  });

  const cli = (...args: string[]): string => lab.exec(lab.server, process.execPath, [BIN, ...args, '--config', bg.configFile]).trim();
  const curl = (...args: string[]): string => {
    try {
      return lab.exec(seatNs, 'curl', ['-s', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', ...args]);
    } catch (e) {
      return `exit ${(e as { status: number }).status}`;
    }
  };
  /** the gate's set changes a moment after the CLI returns: the transparent path's status once it is 200, or the last */
  const transparentOnceAllowed = async (): Promise<string> => {
    let status = '';
    for (let i = 0; i < 30 && status !== '200'; i++) {
      status = curl(...transparent);
      if (status !== '200') await new Promise((r) => setTimeout(r, 100));
    }
    return status;
  };
  const explicit = ['-x', `http://${GW_LAN}:3128`, 'http://www.bggwa.test/index.html'];
  const transparent = ['--resolve', `www.bggwa.test:80:${WAN_HOST}`, 'http://www.bggwa.test/index.html'];

  it('without a session the seat is refused: 403 from the explicit proxy, the portal for plain HTTP', () => {
    assert.equal(curl(...explicit), '403');
    const portal = lab.exec(seatNs, 'curl', ['-s', '-L', '--max-time', '5', ...transparent]);
    assert.match(portal, /see the cashier/i);
  });

  it('with a session opened by the cashier, both paths reach the WAN and each request is audited against the person', async () => {
    const userId = cli('users', 'add', '--name', 'Ana Pérez', '--doc-type', 'passport', '--doc-number', 'X1234567', '--doc-country', 'ES');
    cli('seats', 'add', '--name', 'S1', '--mac', SEAT_MAC);
    cli('sessions', 'open', '--user', userId, '--seat', 'S1');
    const status = await transparentOnceAllowed();
    assert.equal(status, '200', 'transparent HTTP through the nftables redirect');
    assert.equal(curl(...explicit), '200', 'explicit proxy');
    const file = join(bg.dir, 'export.ndjson');
    cli('audit', 'export', '--from', '2020-01-01', '--to', '2100-01-01', '--format', 'ndjson', '--out', file);
    const records = lab
      .exec(lab.server, 'cat', [file])
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            kind: string;
            seat: string | null;
            userName: string | null;
            docNumber: string | null;
            host: string | null;
            status: number | null;
          },
      );
    const web = records.filter((r) => r.kind === 'http');
    assert.ok(web.length >= 2, `${web.length} http records`);
    for (const r of web) {
      assert.equal(r.seat, 'S1');
      assert.equal(r.userName, 'Ana Pérez');
      assert.equal(r.docNumber, 'X1234567');
      assert.equal(r.host, 'www.bggwa.test');
      assert.equal(r.status, 200);
    }
  });

  it('a paused session shuts the seat out (both paths, the gate set emptied) and resume lets it in again', async () => {
    const gateSet = () => lab.exec(lab.server, 'nft', ['list', 'set', 'inet', 'bootgate', 'seats']);
    const open = () =>
      JSON.parse(cli('sessions', 'list', '--json')) as Array<{ id: string; seat: string; pausedAt: string | null; pausedMs: number }>;
    const before = open()[0]!.id;
    assert.match(gateSet(), /10\.79\.1\.1\d\d/, 'the seat is in the gate set');
    assert.match(cli('sessions', 'pause', '--seat', 'S1'), /paused/);
    assert.equal(typeof open()[0]!.pausedAt, 'string');
    assert.equal(curl(...explicit), '403', 'explicit proxy refuses a paused seat');
    const portal = lab.exec(seatNs, 'curl', ['-s', '-L', '--max-time', '5', ...transparent]);
    assert.match(portal, /see the cashier/i, 'plain HTTP of a paused seat goes to the portal');
    assert.doesNotMatch(gateSet(), /10\.79\.1\.1\d\d/, 'the seat is out of the gate set');
    assert.match(cli('sessions', 'resume', '--seat', 'S1'), /resumed/);
    const status = await transparentOnceAllowed();
    assert.equal(status, '200', 'transparent HTTP again after resume');
    assert.equal(curl(...explicit), '200', 'explicit proxy again after resume');
    const after = open();
    assert.deepEqual([after.length, after[0]!.id, after[0]!.pausedAt], [1, before, null], 'the same session throughout');
    assert.ok(after[0]!.pausedMs > 0);
  });

  it('after the session closes the seat is refused again', async () => {
    cli('sessions', 'close', '--seat', 'S1');
    assert.equal(curl(...explicit), '403');
  });

  it('registered platform instances are allow-listed for seats in the forward chain; the rest of the private range is not', () => {
    const set = JSON.parse(lab.exec(lab.server, 'nft', ['-j', 'list', 'set', 'inet', 'bootgate', 'allowed_destinations'])) as {
      nftables: Array<{ set?: { elem?: unknown[] } }>;
    };
    const elems = JSON.stringify(set.nftables.find((e) => e.set)?.set?.elem ?? []);
    assert.match(elems, /"192\.168\.77\.7"/, elems);
    assert.doesNotMatch(elems, /192\.168\.77\.(?!7")/, 'only the instance, not its network');
    const refused = lab.exec(lab.server, 'nft', ['list', 'set', 'inet', 'bootgate', 'refused_destinations']);
    assert.match(refused, /192\.168\.0\.0\/16/); // one registered through the API while the gateway runs is allow-listed at once
    assert.match(cli('platforms', 'add', '--class', 'game', '--name', 'late', '--url', 'http://192.168.88.8/', '--capacity', '1'), /^id: /m);
    assert.match(lab.exec(lab.server, 'nft', ['list', 'set', 'inet', 'bootgate', 'allowed_destinations']), /192\.168\.88\.8/);
  });

  it('an instance removed through the API is no longer allow-listed (at once), unless another instance shares its address', () => {
    const allowed = (): string => lab.exec(lab.server, 'nft', ['list', 'set', 'inet', 'bootgate', 'allowed_destinations']);
    const idOf = (out: string): string => /^id: (\S+)$/m.exec(out)![1]!;
    const a = idOf(cli('platforms', 'add', '--class', 'web', '--name', 'one', '--url', 'http://192.168.99.9:8001/', '--capacity', '1'));
    const b = idOf(cli('platforms', 'add', '--class', 'web', '--name', 'two', '--url', 'http://192.168.99.9:8002/', '--capacity', '1'));
    assert.match(allowed(), /192\.168\.99\.9/);
    cli('platforms', 'remove', a);
    assert.match(allowed(), /192\.168\.99\.9/, 'still registered at that address (instance two)');
    cli('platforms', 'remove', b);
    const after = allowed();
    assert.doesNotMatch(after, /192\.168\.99\.9/);
    // the configured network and the other instances keep their places
    assert.match(after, /10\.79\.2\.0\/24/);
    assert.match(after, /192\.168\.77\.7/);
    assert.match(after, /192\.168\.88\.8/);
  });

  it('stopping bootgate removes its nftables table', async () => {
    assert.match(lab.exec(lab.server, 'nft', ['list', 'tables']), /bootgate/);
    assert.equal(await bg.stop(), 0);
    assert.doesNotMatch(lab.exec(lab.server, 'nft', ['list', 'tables']), /bootgate/);
  });
});
