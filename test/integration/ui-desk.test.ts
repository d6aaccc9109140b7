/**
 * The cashier and audit screens of `bootgate serve` in real Chromium (playwright-core, the Debian package), run in
 * the gateway namespace (bgdk-srv, LAN br0 10.78.0.1/24) where the management listener is, as ui-room.test.ts
 * does. A cashier registers a customer, opens a session at a seat, pauses it (row, room tile), sees a CLI resume arrive
 * live on the room screen, closes it and gets the bill and a receipt that
 * prints alone; the cashier has no audit link and /ui/api/v1/audit/* answers 403. An auditor has no cashier link
 * and cannot register or open (403), searches the trail page by page, exports a signed file (two downloads),
 * uploads it and is told "valid", then uploads a copy with one record edited and is told which record broke.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Download, Page } from 'playwright-core';
import { NetnsLab } from '../../src/lab/netns.ts';
import { BIN, BootgateProcess } from '../helpers/bootgate-process.ts';
import { csrfFetch, endBrowserLab, launchChromiumInNetns, logIn, type NetnsBrowser } from '../helpers/chromium-netns.ts';

const GW = '10.78.0.1';
const API = '127.0.0.1:18597';
const UI = `http://${API}/ui/`;
const ROOT = join(import.meta.dirname, '../..');
const CASHIER = { user: 'cash1', password: 'cashier-pass-78' };
const AUDITOR = { user: 'aud1', password: 'auditor-pass-78' };
const D1_MAC = '52:54:00:78:00:01';

describe('the cashier and audit screens in Chromium against bootgate serve', () => {
  const lab = new NetnsLab('bgdk');
  let bg: BootgateProcess | undefined;
  let admin = '';
  let chrome: NetnsBrowser | undefined;
  let page: Page;
  let cspViolations: string[] = [];
  let wolSeen = '';

  before(async () => {
    execFileSync('bash', [join(ROOT, 'scripts/build-ui.sh')], { stdio: 'inherit' });
    lab.createServer('br0', `${GW}/24`);
    // seat D1's terminal: it only listens for Wake-on-LAN (UDP 9) and prints each payload in hex
    const termNs = lab.addClient({ name: 'term', bridge: 'br0', mac: D1_MAC, address: '10.78.0.60/24' });
    const rx = lab.spawnIn(termNs, 'python3', [
      '-u',
      '-c',
      'import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("0.0.0.0",9))\nprint("ready")\nwhile True: print(s.recv(2048).hex())',
    ]);
    rx.stdout!.on('data', (d: Buffer) => (wolSeen += d.toString()));
    bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0' },
      dhcp: { subnet: '10.78.0.0/24', range: { start: '10.78.0.100', end: '10.78.0.150' }, router: GW, dns: [GW], leaseSeconds: 600 },
      http: { port: 18598 },
      api: { listen: API },
    });
    await bg.start();
    admin = readFileSync(join(bg.dir, 'data/keys/admin.token'), 'utf8').trim();
    api('PUT', '/seat-groups/standard', { rateMinorPerHour: 240 });
    api('POST', '/seats', { name: 'D1', mac: D1_MAC, group: 'standard' });
    api('POST', '/seats', { name: 'D2', mac: '52:54:00:78:00:02', group: 'standard' });
    // enough records for the audit screen to page (50 a page)
    for (let i = 0; i < 55; i++) api('POST', '/users', { name: `Walk-in ${i}`, docType: 'id-card', docNumber: `W${1000 + i}` });
    cli(['staff', 'add', CASHIER.user, '--role', 'cashier'], `${CASHIER.password}\n`);
    cli(['staff', 'add', AUDITOR.user, '--role', 'auditor'], `${AUDITOR.password}\n`);
    chrome = await launchChromiumInNetns(bg.dir, lab.server, { acceptDownloads: true });
    page = chrome.page;
    cspViolations = chrome.cspViolations;
  });

  after(async () => {
    await endBrowserLab({ chrome, bg, lab });
  });

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
  const pageFetch = (method: string, path: string, body?: unknown) => csrfFetch(page, method, path, body);
  const login = (who: { user: string; password: string }): Promise<void> => logIn(page, UI, who);
  const navLinks = () => page.$$eval('#nav a', (as) => as.map((a) => a.id));

  it('a cashier sees Room and Cashier only; the audit screen and endpoints are refused', async () => {
    await login(CASHIER);
    assert.deepEqual(await navLinks(), ['nav-room', 'nav-cashier']);
    await page.goto(`${UI}#audit`);
    await page.waitForSelector('#grid');
    assert.equal(await page.$('#audit-search'), null, 'no audit screen for a cashier');
    const search = await pageFetch('GET', '/ui/api/v1/audit/records');
    assert.deepEqual([search.status, search.body?.error], [403, 'FORBIDDEN']);
    const exp = await pageFetch('POST', '/ui/api/v1/audit/export', { format: 'ndjson' });
    assert.deepEqual([exp.status, exp.body?.error], [403, 'FORBIDDEN']);
  });

  it('the cashier registers a customer, opens a session at a free seat, closes it and gets the bill and the receipt', async () => {
    await page.click('#nav-cashier');
    await page.waitForSelector('#register-form');
    await page.fill('#reg-name', 'Zoé Martin');
    await page.selectOption('#reg-doc-type', 'passport');
    await page.fill('#reg-doc-number', 'FR7800001');
    await page.fill('#reg-doc-country', 'FR');
    await page.click('#register-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('selected-name')?.textContent === 'Zoé Martin');
    assert.match((await page.textContent('#desk-status')) ?? '', /Zoé Martin registered/);
    // the new customer is found by name without accents
    await page.fill('#customer-search', 'zoe mart');
    assert.equal(await page.$$eval('#customer-list button.customer', (bs) => bs.length), 1);
    assert.deepEqual(await page.$$eval('#open-seat option', (os) => os.map((o) => (o as HTMLOptionElement).value)), ['D1', 'D2']);
    await page.selectOption('#open-seat', 'D2');
    await page.click('#open-submit');
    await page.waitForSelector('#sessions-table tr[data-seat="D2"]');
    assert.match((await page.textContent('#desk-status')) ?? '', /Session opened for Zoé Martin at D2/);
    assert.deepEqual(
      await page.$$eval('#open-seat option', (os) => os.map((o) => (o as HTMLOptionElement).value)),
      ['D1'],
      'the busy seat is no longer offered',
    );
    // pause from the cashier screen: the row says paused, the room tile too (snapshot); a resume by the CLI
    // reaches the open room screen as an event
    await page.click('#sessions-table tr[data-seat="D2"] button.pause-session');
    await page.waitForSelector('#sessions-table tr[data-seat="D2"][data-paused="true"] button.resume-session');
    assert.match((await page.textContent('#desk-status')) ?? '', /Session at D2 paused/);
    assert.match((await page.textContent('#sessions-table tr[data-seat="D2"] td.running-bill')) ?? '', /^0\.0[0-4] · paused since /);
    const openNow = api('GET', '/sessions') as Array<{ seat: string; pausedAt: string | null }>;
    assert.equal(typeof openNow.find((x) => x.seat === 'D2')?.pausedAt, 'string');
    await page.click('#nav-room');
    const d2 = '#grid [data-mac="52:54:00:78:00:02"]';
    await page.waitForSelector(`${d2}[data-stage="paused"]`);
    assert.equal(await page.textContent(`${d2} .stage`), 'paused');
    assert.match((await page.textContent(`${d2} .bill`)) ?? '', /^bill 0\.0[0-4]$/);
    assert.match(cli(['sessions', 'resume', '--seat', 'D2']), /resumed/);
    await page.waitForSelector(`${d2}[data-stage="session"]`);
    await page.click('#nav-cashier');
    await page.waitForSelector('#sessions-table tr[data-seat="D2"][data-paused="false"] button.pause-session');
    // another desk (the CLI here) pauses and resumes it while this screen is open: the row follows the events
    cli(['sessions', 'pause', '--seat', 'D2']);
    await page.waitForSelector('#sessions-table tr[data-seat="D2"][data-paused="true"]');
    cli(['sessions', 'resume', '--seat', 'D2']);
    await page.waitForSelector('#sessions-table tr[data-seat="D2"][data-paused="false"]');
    await page.selectOption('#sessions-table tr[data-seat="D2"] select.close-payment', 'desk');
    await page.click('#sessions-table tr[data-seat="D2"] button.close-session');
    await page.waitForSelector('#receipt');
    const line = (k: string) => page.textContent(`#receipt dd[data-line="${k}"]`);
    assert.equal(await line('customer'), 'Zoé Martin');
    assert.equal(await line('seat'), 'D2');
    assert.equal(await line('rate'), '2.40');
    assert.equal(await line('payment'), 'At the desk');
    assert.equal(await line('minutes'), '1');
    assert.equal(await line('total'), '0.04', '1 started minute at 2.40/h, rounded up');
    assert.match((await line('paused')) ?? '', /^\d+ s$/, 'the paused time, not charged');
    assert.equal(await page.$('#sessions-table tr[data-seat="D2"]'), null);
    // print: the receipt alone, no buttons
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.isVisible('#receipt'), true);
    assert.equal(await page.isVisible('#register-form'), false);
    assert.equal(await page.isVisible('#receipt-print'), false);
    assert.equal(await page.isVisible('#nav'), false);
    await page.emulateMedia({ media: 'screen' });
    assert.equal(await page.isVisible('#receipt-print'), true);
    const sessions = api('GET', '/sessions?all=true') as Array<{ seat: string; openedBy: string; closedBy: string; chargeMinor: number }>;
    const s = sessions.find((x) => x.seat === 'D2')!;
    assert.deepEqual([s.openedBy, s.closedBy, s.chargeMinor], ['operator:cash1', 'operator:cash1', 4]);
    const trail = api('GET', '/audit/records?kind=admin&seat=D2') as Array<{ action: string; actor: string }>;
    assert.deepEqual(
      trail.map((r) => `${r.action} ${r.actor}`),
      [
        'seat.add token:bootstrap-admin',
        'session.open operator:cash1',
        'session.pause operator:cash1',
        'session.resume token:bootstrap-admin',
        'session.pause token:bootstrap-admin',
        'session.resume token:bootstrap-admin',
        'session.close operator:cash1',
      ],
    );
    await page.click('#logout');
    await page.waitForSelector('#login-form');
  });

  it('the cashier wakes a terminal from its panel: a magic packet reaches it, the trail names the cashier; no reboot offered', async () => {
    await login(CASHIER);
    await page.click(`#grid [data-mac="${D1_MAC}"]`);
    await page.waitForSelector('#detail #detail-wake');
    assert.match((await page.textContent('#detail-reboot-note')) ?? '', /Reboot: not available/);
    for (let i = 0; i < 100 && !wolSeen.startsWith('ready'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(wolSeen.startsWith('ready'), 'the receiver listens');
    await page.click('#detail-wake');
    await page.waitForFunction(() => document.getElementById('detail-action-note')?.textContent === 'Wake-on-LAN packet sent.');
    const magic = 'ff'.repeat(6) + D1_MAC.replaceAll(':', '').repeat(16);
    for (let i = 0; i < 50 && !wolSeen.includes(magic); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(wolSeen.includes(magic), `magic packet for D1 received: ${wolSeen}`);
    const trail = api('GET', '/audit/records?kind=admin') as Array<{ action: string; actor: string; target: string }>;
    const wake = trail.filter((r) => r.action === 'wake');
    assert.deepEqual(
      wake.map((r) => [r.actor, r.target]),
      [['operator:cash1', D1_MAC]],
    );
    await page.click('#logout');
    await page.waitForSelector('#login-form');
  });

  let exported: { file: string; manifest: string } | undefined;

  it('an auditor sees Room and Audit only and cannot register, open or close (403)', async () => {
    await login(AUDITOR);
    assert.deepEqual(await navLinks(), ['nav-room', 'nav-audit']);
    await page.goto(`${UI}#cashier`);
    await page.waitForSelector('#grid');
    assert.equal(await page.$('#register-form'), null);
    const users = api('GET', '/users') as Array<{ id: string }>;
    for (const [path, body] of [
      ['/ui/api/v1/users', { name: 'X', docType: 'passport', docNumber: 'X1' }],
      ['/ui/api/v1/sessions', { userId: users[0]!.id, seat: 'D1' }],
      ['/ui/api/v1/sessions/close', { seat: 'D1' }],
      ['/ui/api/v1/sessions/pause', { seat: 'D1' }],
      ['/ui/api/v1/sessions/resume', { seat: 'D1' }],
      ['/ui/api/v1/wake', { mac: D1_MAC }],
    ] as const) {
      const r = await pageFetch('POST', path, body);
      assert.deepEqual([r.status, r.body?.error], [403, 'FORBIDDEN'], path);
    }
    // the terminal panel offers the auditor no Wake button
    await page.click('#nav-room');
    await page.click(`#grid [data-mac="${D1_MAC}"]`);
    await page.waitForSelector('#detail');
    assert.equal(await page.$('#detail-wake'), null);
  });

  it('the auditor searches by kind and seat, page by page', async () => {
    await page.click('#nav-audit');
    await page.waitForSelector('#audit-search');
    await page.selectOption('#audit-kind', 'admin');
    await page.click('#audit-search button[type=submit]');
    await page.waitForFunction(() => document.getElementById('audit-page')?.textContent === 'Page 1 · 50 records');
    assert.equal(await page.isEnabled('#audit-next'), true);
    const firstSeq = await page.getAttribute('#audit-table tbody tr:first-child', 'data-seq');
    await page.click('#audit-next');
    await page.waitForFunction(() => /^Page 2 · \d+ records$/.test(document.getElementById('audit-page')?.textContent ?? ''));
    const secondSeq = Number(await page.getAttribute('#audit-table tbody tr:first-child', 'data-seq'));
    assert.ok(secondSeq > Number(firstSeq));
    await page.click('#audit-prev');
    await page.waitForFunction((s) => document.querySelector('#audit-table tbody tr:first-child')?.getAttribute('data-seq') === s, firstSeq);
    await page.fill('#audit-seat', 'D2');
    await page.click('#audit-search button[type=submit]');
    // seat D2: its seat.add (by the admin token), then the cashier's session.open, pause, the CLI's resume, pause and
    // resume, the close
    await page.waitForFunction(() => /^Page 1 · 7 records$/.test(document.getElementById('audit-page')?.textContent ?? ''));
    const what = await page.$$eval('#audit-table tbody tr', (rows) => rows.map((r) => r.children[5]?.textContent ?? ''));
    assert.deepEqual(
      what.map((w) => w.split(' ').slice(0, 2).join(' ')),
      [
        'token:bootstrap-admin seat.add',
        'operator:cash1 session.open',
        'operator:cash1 session.pause',
        'token:bootstrap-admin session.resume',
        'token:bootstrap-admin session.pause',
        'token:bootstrap-admin session.resume',
        'operator:cash1 session.close',
      ],
    );
    await page.fill('#audit-seat', '');
  });

  it('the auditor exports a signed file, uploads it and is told it is valid', async () => {
    await page.fill('#audit-seat', ''); // the whole trail: the export takes the person, seat and time filters
    const downloads: Download[] = [];
    page.on('download', (d) => downloads.push(d));
    await page.click('#export-submit');
    for (let i = 0; i < 100 && downloads.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(downloads.length, 2);
    const names = downloads.map((d) => d.suggestedFilename());
    assert.match(names[0]!, /^audit-export-.*\.ndjson$/);
    assert.equal(names[1], `${names[0]}.manifest.json`);
    const file = join(bg!.dir, names[0]!);
    const manifest = join(bg!.dir, names[1]!);
    await downloads[0]!.saveAs(file);
    await downloads[1]!.saveAs(manifest);
    exported = { file, manifest };
    // the same file passes the CLI verifier
    assert.match(cli(['audit', 'verify', file]), /ok|valid/i);
    await page.setInputFiles('#verify-files', [file, manifest]);
    await page.click('#verify-submit');
    await page.waitForSelector('#verdict-text[data-ok="true"]');
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const seq = (l: string) => (JSON.parse(l) as { seq: number }).seq;
    assert.ok(lines.length > 60);
    assert.equal(seq(lines[0]!), 1);
    assert.match((await page.textContent('#verdict-text')) ?? '', new RegExp(`^Valid: ${lines.length} records \\(seq 1 to ${seq(lines.at(-1)!)}\\)`));
  });

  it('a tampered copy is broken at the record that was edited', async () => {
    const lines = readFileSync(exported!.file, 'utf8').split('\n');
    const victim = JSON.parse(lines[6]!) as { seq: number; target: string | null };
    lines[6] = lines[6]!.replace(/"target":"([^"]*)"/, '"target":"$1x"');
    assert.notEqual(JSON.parse(lines[6]!).target, victim.target);
    const tampered = join(bg!.dir, 'tampered.ndjson');
    writeFileSync(tampered, lines.join('\n'));
    const manifest = join(bg!.dir, 'tampered.ndjson.manifest.json');
    writeFileSync(manifest, readFileSync(exported!.manifest));
    await page.setInputFiles('#verify-files', [tampered, manifest]);
    await page.click('#verify-submit');
    await page.waitForSelector('#verdict-text[data-ok="false"]');
    assert.equal(await page.getAttribute('#verdict-text', 'data-code'), 'RECORD_ALTERED');
    assert.equal(await page.textContent('#verdict-text'), `Broken: RECORD_ALTERED — first broken record: seq ${victim.seq} (line 7)`);
    assert.equal(await page.textContent('#verdict-record'), lines[6]);
    assert.deepEqual(cspViolations, [], 'the page broke no CSP rule');
  });
});
