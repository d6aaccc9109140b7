/**
 * The cashier's clicks open and close the seat's way out (issue 13): `bootgate serve` with the gateway on, in
 * namespaces this test makes (bguig-srv with br0 10.228.0.1/24 and wan0 10.228.1.1/24, a seat namespace that
 * takes its lease with busybox udhcpc, a WAN namespace with a web server and no route back). A cashier in Chromium
 * registers a customer and opens a session at the seat: the seat's curl then reaches the WAN (transparent HTTP
 * through the nftables redirect) and the request is audited against that customer; the cashier closes the session
 * in the browser: the seat is refused again.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { NetnsLab } from '../../src/lab/netns.ts';
import { BootgateProcess, leaseWithUdhcpc, waitForHttp } from '../helpers/bootgate-process.ts';
import { endBrowserLab, launchChromiumInNetns, logIn, type NetnsBrowser } from '../helpers/chromium-netns.ts';

const GW_LAN = '10.228.0.1';
const WAN_HOST = '10.228.1.2';
const SEAT_MAC = '52:54:00:28:00:10';
const API = '127.0.0.1:18751';
const UI = `http://${API}/ui/`;
const CASHIER = { user: 'gatecash', password: 'gate-cashier-pass' };
const ROOT = join(import.meta.dirname, '../..');

describe('a session opened and closed in the UI opens and closes the seat gate (Chromium, curl)', () => {
  const lab = new NetnsLab('bguig');
  let bg: BootgateProcess | undefined;
  let seatNs = '';
  let chrome: NetnsBrowser | undefined;
  let page: Page;

  before(async () => {
    execFileSync('bash', [join(ROOT, 'scripts/build-ui.sh')], { stdio: 'inherit' });
    lab.createServer('br0', `${GW_LAN}/24`);
    seatNs = lab.addClient({ name: 'seat', bridge: 'br0', mac: SEAT_MAC });
    const wanNs = lab.addClient({ name: 'wan', address: `${WAN_HOST}/24`, serverIfname: 'wan0', serverAddress: '10.228.1.1/24' });
    bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0', wan: 'wan0' },
      dhcp: { subnet: '10.228.0.0/24', range: { start: '10.228.0.100', end: '10.228.0.150' }, router: GW_LAN, dns: [GW_LAN] },
      gateway: { enabled: true, hosts: { 'www.bguig.test': WAN_HOST }, allowDestinations: ['10.228.1.0/24'] },
      http: { port: 18752 },
      api: { listen: API },
    });
    writeFileSync(join(bg.dir, 'index.html'), 'hello from the wan\n');
    lab.spawnIn(wanNs, 'python3', ['-m', 'http.server', '80', '--bind', WAN_HOST, '--directory', bg.dir]);
    await bg.start();
    bg.api(API, 'PUT', '/seat-groups/standard', { rateMinorPerHour: 120 });
    bg.api(API, 'POST', '/seats', { name: 'G1', mac: SEAT_MAC, group: 'standard' });
    bg.cli(['staff', 'add', CASHIER.user, '--role', 'cashier'], `${CASHIER.password}\n`);
    leaseWithUdhcpc(lab, seatNs, bg.dir);
    await waitForHttp(lab, wanNs, `http://${WAN_HOST}/index.html`);
    chrome = await launchChromiumInNetns(bg.dir, lab.server);
    page = chrome.page;
  });

  // the gateway's nftables table goes with its namespace
  after(() => endBrowserLab({ chrome, bg, lab }));

  /** The seat's transparent HTTP to the WAN: the status code, or `exit N` when curl itself failed. */
  const fromSeat = (): string => {
    try {
      return lab.exec(seatNs, 'curl', [
        '-s',
        '--max-time',
        '5',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--resolve',
        `www.bguig.test:80:${WAN_HOST}`,
        'http://www.bguig.test/index.html',
      ]);
    } catch (e) {
      return `exit ${(e as { status: number }).status}`;
    }
  };
  /** Retries while the gate catches up with the session change (the nftables set is updated after the commit). */
  const seatGets = async (want: (s: string) => boolean): Promise<string> => {
    let s = fromSeat();
    for (let i = 0; i < 50 && !want(s); i++) {
      await new Promise((r) => setTimeout(r, 100));
      s = fromSeat();
    }
    return s;
  };

  it('before any session the seat does not reach the WAN (the portal answers instead)', () => {
    assert.notEqual(fromSeat(), '200');
    assert.match(
      lab.exec(seatNs, 'curl', ['-s', '-L', '--max-time', '5', '--resolve', `www.bguig.test:80:${WAN_HOST}`, 'http://www.bguig.test/index.html']),
      /cashier/i,
    );
  });

  it('the cashier opens a session by clicking: the seat reaches the WAN, audited against the customer', async () => {
    await logIn(page, UI, CASHIER);
    await page.click('#nav-cashier');
    await page.waitForSelector('#register-form');
    await page.fill('#reg-name', 'Iker Gate');
    await page.selectOption('#reg-doc-type', 'passport');
    await page.fill('#reg-doc-number', 'ES2280001');
    await page.fill('#reg-doc-country', 'ES');
    await page.click('#register-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('selected-name')?.textContent === 'Iker Gate');
    await page.selectOption('#open-seat', 'G1');
    await page.click('#open-submit');
    await page.waitForSelector('#sessions-table tr[data-seat="G1"]');
    assert.equal(await seatGets((s) => s === '200'), '200');
    const list = bg!.api(API, 'GET', '/audit/records?kind=http&seat=G1') as Array<{
      userName: string;
      docNumber: string;
      host: string;
      status: number;
    }>;
    assert.ok(list.length >= 1, JSON.stringify(list).slice(0, 500));
    assert.deepEqual([list[0]!.userName, list[0]!.docNumber, list[0]!.host, list[0]!.status], ['Iker Gate', 'ES2280001', 'www.bguig.test', 200]);
  });

  it('the cashier closes the session by clicking: the seat is refused again', async () => {
    await page.selectOption('#sessions-table tr[data-seat="G1"] select.close-payment', 'desk');
    await page.click('#sessions-table tr[data-seat="G1"] button.close-session');
    await page.waitForSelector('#receipt');
    assert.notEqual(await seatGets((s) => s !== '200'), '200');
    // a cashier's terminal panel has no audit records (the trail is the auditor's and the admin's)
    await page.click('#nav-room');
    await page.click('.tile[data-mac="52:54:00:28:00:10"]');
    await page.waitForSelector('#detail[data-mac="52:54:00:28:00:10"]');
    assert.equal(await page.$('#detail-audit'), null);
    assert.deepEqual(chrome!.cspViolations, []);
  });
});
