/**
 * The web UI of `bootgate serve` in real Chromium (the Debian package, driven by playwright-core over its CDP
 * pipe), run inside the gateway namespace (bgui-srv, LAN br0 10.77.0.1/24) where the management listener is. A
 * cashier made with `bootgate staff add` logs in and sees the room; a terminal namespace then takes a lease with
 * busybox udhcpc (as PXE firmware: vendor class PXEClient), fetches its iPXE script and reports /booted, and the tile follows each step without a reload
 * (the test waits for the DOM to change; no timing assertions). The server refuses a state change without the
 * CSRF token, logout ends the session, repeated wrong passwords are answered 429, and the CSP header is present.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { NetnsLab } from '../../src/lab/netns.ts';
import { BIN, BootgateProcess, writeScript } from '../helpers/bootgate-process.ts';
import { endBrowserLab, launchChromiumInNetns, type NetnsBrowser } from '../helpers/chromium-netns.ts';

const GW = '10.77.0.1';
const API = '127.0.0.1:18497';
const HTTP_PORT = 18498;
const UI = `http://${API}/ui/`;
const MAC = '52:54:00:77:00:01';
const PASSWORD = 'counter-pass-77';
const ROOT = join(import.meta.dirname, '../..');

describe('the room screen in Chromium against bootgate serve', () => {
  const lab = new NetnsLab('bgui');
  let bg: BootgateProcess | undefined;
  let termNs = '';
  let admin = '';
  let chrome: NetnsBrowser | undefined;
  let page: Page;
  let cspViolations: string[] = [];

  before(async () => {
    execFileSync('bash', [join(ROOT, 'scripts/build-ui.sh')], { stdio: 'inherit' }); // the bundle the appliance serves
    lab.createServer('br0', `${GW}/24`);
    termNs = lab.addClient({ name: 'term', bridge: 'br0', mac: MAC });
    bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0' },
      dhcp: { subnet: '10.77.0.0/24', range: { start: '10.77.0.100', end: '10.77.0.150' }, router: GW, dns: [GW], leaseSeconds: 600 },
      http: { port: HTTP_PORT },
      api: { listen: API },
    });
    await bg.start();
    admin = readFileSync(join(bg.dir, 'data/keys/admin.token'), 'utf8').trim();
    api('PUT', '/seat-groups/standard', { rateMinorPerHour: 120 });
    api('POST', '/seats', { name: 'S7', mac: MAC, group: 'standard' });
    chrome = await launchChromiumInNetns(bg.dir, lab.server);
    page = chrome.page;
    cspViolations = chrome.cspViolations;
  });

  after(async () => {
    await endBrowserLab({ chrome, bg, lab });
  });

  /** /api/v1 inside the gateway namespace with the bootstrap admin token. */
  function api(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): unknown {
    const args = ['-sS', '--fail-with-body', '-X', method, '-H', `authorization: Bearer ${admin}`];
    if (body !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(body));
    return JSON.parse(lab.exec(lab.server, 'curl', [...args, `http://${API}/api/v1${path}`]));
  }
  const cli = (args: string[], input?: string): string =>
    lab.exec(lab.server, process.execPath, [BIN, ...args, '--config', bg!.configFile], {
      timeoutMs: 30_000,
      ...(input !== undefined ? { input } : {}),
    });
  const tile = (stage?: string) => `.tile[data-mac="${MAC}"]${stage ? `[data-stage="${stage}"]` : ''}`;
  /** What the page's own fetch gets back from the UI API (same origin, the session cookie). */
  const pageFetch = (path: string, init: { method: string; headers?: Record<string, string>; body?: string }) =>
    page.evaluate(
      async ([p, i]) => {
        const r = await fetch(p, i);
        return { status: r.status, retryAfter: r.headers.get('retry-after'), body: (await r.json().catch(() => null)) as { error?: string } | null };
      },
      [path, init] as const,
    );

  it('bootgate staff add reads the password from stdin and prints nothing secret; list shows the account', () => {
    const out = cli(['staff', 'add', 'cash1', '--role', 'cashier'], `${PASSWORD}\n`);
    assert.equal(out, 'cash1 cashier\n');
    assert.ok(!out.includes(PASSWORD));
    assert.match(cli(['staff', 'list']), /cash1\s+cashier/);
    const pwFile = join(bg!.dir, 'aud.pw');
    writeFileSync(pwFile, 'auditor-pass-77\n', { mode: 0o600 });
    cli(['staff', 'add', 'aud1', '--role', 'auditor', '--password-file', pwFile]);
    cli(['staff', 'remove', 'aud1']);
    assert.doesNotMatch(cli(['staff', 'list']), /aud1/);
  });

  it('the page carries a strict CSP; a cashier logs in and sees the grid with the seat off', async () => {
    const res = await page.goto(UI);
    assert.equal(res?.status(), 200);
    const h = res!.headers();
    assert.match(h['content-security-policy'] ?? '', /default-src 'self'.*frame-ancestors 'none'/);
    assert.doesNotMatch(h['content-security-policy'] ?? '', /unsafe-inline/);
    assert.equal(h['x-content-type-options'], 'nosniff');
    assert.equal(h['referrer-policy'], 'no-referrer');
    await page.fill('#login-username', 'cash1');
    await page.fill('#login-password', PASSWORD);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector(tile('off'));
    assert.equal(await page.textContent(`${tile()} .seat`), 'S7');
    assert.equal(await page.textContent(`${tile()} .group`), 'standard');
    assert.equal(await page.textContent(`${tile()} .ip`), '–');
    assert.match((await page.textContent('#whoami')) ?? '', /cash1 \(cashier\)/);
    await page.waitForSelector('#live[data-state="live"]');
    const cookie = (await page.context().cookies()).find((c) => c.name === 'bootgate_ui');
    assert.equal(cookie?.httpOnly, true);
    assert.equal(cookie?.sameSite, 'Strict');
    assert.equal(cookie?.path, '/ui');
  });

  it('the terminal takes a lease, fetches its script and reports booted: the tile follows live, the panel shows the waterfall', async () => {
    const script = writeScript(
      bg!.dir,
      'udhcpc.sh',
      'case "$1" in bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface";; esac',
    );
    // as PXE firmware does (option 60 PXEClient), so the DHCP exchange starts a boot on the timeline
    const pxe = ['-V', 'PXEClient:Arch:00000:UNDI:002001'];
    lab.exec(termNs, 'busybox', ['udhcpc', '-i', 'eth0', '-q', '-n', '-t', '4', '-T', '1', ...pxe, '-s', script], { timeoutMs: 20_000 });
    const ip = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(lab.exec(termNs, 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0']))?.[1] ?? '';
    assert.match(ip, /^10\.77\.0\.\d+$/);
    await page.waitForSelector(tile('dhcp'));
    await page.waitForFunction(([sel, want]) => document.querySelector(sel)?.textContent === want, [`${tile()} .ip`, ip] as const);

    lab.exec(termNs, 'curl', ['-sS', '--fail', '-o', '/dev/null', `http://${GW}:${HTTP_PORT}/boot.ipxe?mac=${MAC}`]);
    await page.waitForSelector(tile('loading'));
    lab.exec(termNs, 'curl', ['-sS', '--fail', '-o', '/dev/null', `http://${GW}:${HTTP_PORT}/booted?mac=${MAC}`]);
    await page.waitForSelector(tile('booted'));
    assert.doesNotMatch((await page.textContent(`${tile()} .last-boot`)) ?? '', /never/);

    await page.click(tile());
    await page.waitForSelector(`#detail[data-mac="${MAC}"] .waterfall tr.step[data-stage="booted"]`);
    const steps = await page.$$eval('#detail .waterfall:first-of-type tr.step', (rows) => rows.map((r) => (r as HTMLElement).dataset.stage));
    assert.deepEqual(steps, ['dhcp-offered', 'dhcp-acked', 'script', 'booted']);
  });

  /** BOOTGATE_UI_SCREENSHOTS=1: the screen as it is now, saved as docs/ui/<name>.png (checked by eye, committed) */
  const shot = async (name: string): Promise<void> => {
    if (process.env.BOOTGATE_UI_SCREENSHOTS) await page.screenshot({ path: join(ROOT, 'docs/ui', `${name}.png`) });
  };

  it('a session opened at the counter shows on the tile; the language menu switches to zh-CN and French, dates and money per locale', async () => {
    const user = api('POST', '/users', { name: 'Zoé Martin', docType: 'id-card', docNumber: 'F7700001' }) as { id: string };
    api('POST', `/users/${user.id}/credit`, { amountMinor: 123456 });
    api('POST', '/sessions', { userId: user.id, seat: 'S7' });
    await page.waitForSelector(tile('session'));
    assert.match((await page.textContent(`${tile()} .person`)) ?? '', /^Zoé Martin · for \d+ s$/);
    assert.match((await page.textContent(`${tile()} .last-boot`)) ?? '', /^last boot: \d{1,2}\/\d{1,2}\/\d{2}, \d{1,2}:\d{2}:\d{2}\s[AP]M$/);
    await shot('room-en');
    await page.selectOption('#lang-select', 'zh-CN');
    await page.waitForFunction(() => document.querySelector('.bar h1')?.textContent === '机房');
    assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
    await shot('room-zh-CN');
    assert.equal(await page.textContent(`${tile()} .stage`), '使用中');
    assert.match((await page.textContent(`${tile()} .person`)) ?? '', /^Zoé Martin · 已用 \d+ 秒$/);
    // zh-CN dates: year first, 24-hour clock
    assert.match((await page.textContent(`${tile()} .last-boot`)) ?? '', /^上次启动: \d{4}\/\d{1,2}\/\d{1,2} \d{2}:\d{2}:\d{2}$/);
    assert.equal(await page.textContent('#nav-cashier'), '收银');
    // the choice is remembered: a reload stays in zh-CN
    await page.reload();
    await page.waitForFunction(() => document.querySelector('.bar h1')?.textContent === '机房');
    await page.click('#nav-cashier');
    await page.fill('#customer-search', 'zoe');
    await page.click('#customer-list button.customer');
    assert.equal(await page.textContent('#selected-balance'), '会员余额：1,234.56');
    await shot('cashier-zh-CN');
    assert.equal(await page.textContent('.bar h1'), '收银');
    await page.selectOption('#lang-select', 'fr');
    await page.waitForFunction(() => document.querySelector('.bar h1')?.textContent === 'Caisse');
    await page.fill('#customer-search', 'zoe');
    await page.click('#customer-list button.customer');
    assert.equal(await page.textContent('#selected-balance'), 'Solde membre : 1\u202f234,56');
    await shot('cashier-fr');
    await page.click('#nav-room');
    await page.waitForFunction(() => document.querySelector('.bar h1')?.textContent === 'Salle');
    assert.equal(await page.textContent(`${tile()} .stage`), 'en session');
    assert.match((await page.textContent(`${tile()} .last-boot`)) ?? '', /^dernier démarrage: \d{2}\/\d{2}\/\d{4} \d{2}:\d{2}:\d{2}$/);
    await page.selectOption('#lang-select', 'en');
    await page.waitForFunction(() => document.querySelector('.bar h1')?.textContent === 'Room');
    api('POST', '/sessions/close', { seat: 'S7' });
    await page.waitForSelector(tile('booted'));
  });

  it('a state change without the CSRF token is refused 403; logout ends the session', async () => {
    const refused = await pageFetch('/ui/api/logout', { method: 'POST' });
    assert.equal(refused.status, 403);
    assert.equal(refused.body?.error, 'CSRF_TOKEN');
    const cookie = (await page.context().cookies()).find((c) => c.name === 'bootgate_ui')!;
    await page.click('#logout');
    await page.waitForSelector('#login-form');
    const status = lab.exec(lab.server, 'curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-H',
      `cookie: bootgate_ui=${cookie.value}`,
      `${UI}api/session`,
    ]);
    assert.equal(status, '401', 'the old cookie opens nothing');
    const trail = (api('GET', '/audit/records?kind=admin&limit=1000') as Array<{ action: string; actor: string }>).map(
      (r) => `${r.action} ${r.actor}`,
    );
    assert.ok(trail.includes('ui.login operator:cash1'));
    assert.ok(trail.includes('ui.logout operator:cash1'));
  });

  it('wrong passwords: after five failures the login is refused 429 with Retry-After, and the page says so', async () => {
    const wrong = JSON.stringify({ username: 'cash1', password: 'not-the-password' });
    for (let i = 0; i < 5; i++) {
      const r = await pageFetch('/ui/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: wrong });
      assert.equal(r.status, 401);
      assert.equal(r.body?.error, 'LOGIN_FAILED');
    }
    const r = await pageFetch('/ui/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: wrong });
    assert.equal(r.status, 429);
    assert.equal(r.body?.error, 'LOGIN_RATE_LIMITED');
    assert.ok(Number(r.retryAfter) > 0);
    await page.fill('#login-username', 'cash1');
    await page.fill('#login-password', PASSWORD);
    await page.click('#login-form button[type=submit]');
    await page.waitForFunction(() => /Too many failed logins/.test(document.getElementById('login-error')?.textContent ?? ''));
    assert.deepEqual(cspViolations, [], 'the page broke no CSP rule');
  });
});
