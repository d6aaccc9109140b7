/**
 * The room screen's live boot queue and lease ends in real Chromium against `bootgate serve` (namespace s22u-srv,
 * br0 10.224.1.1/24) with `boot.admission` on and a bound of one: three terminals ask for their iPXE script with
 * curl; the tiles show who loads and who waits in which place, and when the loading one reports /booted the next is
 * admitted and the last moves up — all from the event stream, the page is not reloaded. A busybox udhcpc client
 * takes a lease and releases it (SIGUSR2): its tile goes from DHCP to off at the release, not at a later render.
 * dig asks the resolver for a local name: the cache/DNS screen counts it; a cashier is refused those counters.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { NetnsLab } from '../../src/lab/netns.ts';
import { BIN, BootgateProcess, writeScript } from '../helpers/bootgate-process.ts';
import { csrfFetch, endBrowserLab, launchChromiumInNetns, logIn, type NetnsBrowser } from '../helpers/chromium-netns.ts';

const GW = '10.224.1.1';
const API = '127.0.0.1:18931';
const HTTP = `http://${GW}:18932`;
const UI = `http://${API}/ui/`;
const ROOT = join(import.meta.dirname, '../..');
const ADMIN = { user: 'queue-admin', password: 'queue-pass-22' };
const [A, B, C] = ['52:54:00:e0:22:0a', '52:54:00:e0:22:0b', '52:54:00:e0:22:0c'];
const LEASER = '52:54:00:e0:22:0d';
const CASHIER = { user: 'queue-cash', password: 'queue-cash-22' };

describe('the room screen follows the boot queue and lease ends live (Chromium)', () => {
  const lab = new NetnsLab('s22u');
  let bg: BootgateProcess | undefined;
  let chrome: NetnsBrowser | undefined;
  let page: Page;
  let leaser = '';

  before(async () => {
    execFileSync('bash', [join(ROOT, 'scripts/build-ui.sh')], { stdio: 'inherit' });
    lab.createServer('br0', `${GW}/24`);
    leaser = lab.addClient({ name: 'term', bridge: 'br0', mac: LEASER });
    bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0' },
      dhcp: { subnet: '10.224.1.0/24', range: { start: '10.224.1.100', end: '10.224.1.150' }, router: GW, leaseSeconds: 600 },
      http: { port: 18932 },
      api: { listen: API },
      boot: { defaultProfile: 'thin', admission: { enabled: true, maxInHeavyPhase: 1, pollSeconds: 1, abandonSeconds: 120 } },
      profiles: { thin: { kernel: 'vmlinuz', cmdline: 'console=ttyS0' } },
      // the resolver with one local name (its upstream is an unused address on this bridge: never asked here)
      dns: { enabled: true, port: 18953, upstreams: ['10.224.1.53'], hosts: { 'shop.s22u.test': '10.224.1.9' } },
    });
    await bg.start();
    lab.exec(lab.server, process.execPath, [BIN, 'staff', 'add', ADMIN.user, '--role', 'admin', '--config', bg.configFile], {
      input: `${ADMIN.password}\n`,
      timeoutMs: 30_000,
    });
    lab.exec(lab.server, process.execPath, [BIN, 'staff', 'add', CASHIER.user, '--role', 'cashier', '--config', bg.configFile], {
      input: `${CASHIER.password}\n`,
      timeoutMs: 30_000,
    });
    chrome = await launchChromiumInNetns(bg.dir, lab.server);
    page = chrome.page;
  });

  after(async () => {
    await endBrowserLab({ chrome, bg, lab });
  });

  const script = (mac: string): string =>
    lab.exec(lab.server, 'curl', ['-sS', '--noproxy', '*', '--max-time', '20', `${HTTP}/boot.ipxe?mac=${mac.replaceAll(':', '-')}`]);
  const queueText = (mac: string) => page.textContent(`#grid [data-mac="${mac}"] .queue`);
  const waitQueue = (mac: string, text: string | null) =>
    page.waitForFunction(([m, want]) => (document.querySelector(`#grid [data-mac="${m}"] .queue`)?.textContent ?? null) === want, [
      mac,
      text,
    ] as const);

  it('shows the terminal in the heavy phase and the waiting ones in order, and moves them as the queue moves', async () => {
    await logIn(page, UI, ADMIN);
    await page.waitForSelector('#live[data-state="live"]');
    assert.match(script(A), /^kernel /m, 'A is admitted at once');
    await waitQueue(A, 'loading (1 of 1 slots)');
    assert.match(script(B), /waiting: 0 ahead/);
    assert.match(script(C), /waiting: 1 ahead/);
    await waitQueue(C, 'boot queue: 2 of 2');
    assert.equal(await queueText(B), 'boot queue: 1 of 2');
    // the page was not reloaded: the same document, kept current by events
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 22));
    lab.exec(lab.server, 'curl', ['-sS', '-o', '/dev/null', '--noproxy', '*', `${HTTP}/booted?mac=${A.replaceAll(':', '-')}`]);
    await waitQueue(B, 'loading (1 of 1 slots)');
    await waitQueue(C, 'boot queue: 1 of 1');
    assert.equal(await page.$(`#grid [data-mac="${A}"] .queue`), null, 'A left the queue');
    assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 22);
  });

  it('a released lease turns the tile off at the release', async () => {
    const tile = `#grid [data-mac="${LEASER}"]`;
    const s = writeScript(
      bg!.dir,
      'udhcpc.sh',
      'case "$1" in bound|renew) ip addr add "$ip/$mask" dev "$interface";; deconfig) ip addr flush dev "$interface";; esac',
    );
    // in the foreground until told: SIGUSR2 makes busybox udhcpc release its lease (a DHCPRELEASE, RFC 2131 §4.4.6)
    const client = lab.spawnIn(leaser, 'busybox', ['udhcpc', '-f', '-i', 'eth0', '-t', '4', '-T', '1', '-s', s]);
    try {
      await page.waitForSelector(`${tile}[data-stage="dhcp"]`);
      assert.match((await page.textContent(`${tile} .ip`)) ?? '', /^10\.224\.1\.1\d\d$/);
      process.kill(client.pid!, 'SIGUSR2');
      await page.waitForSelector(`${tile}[data-stage="off"]`);
      assert.equal(await page.textContent(`${tile} .ip`), '–');
    } finally {
      process.kill(client.pid!, 'SIGTERM');
    }
  });
  it('the cache/DNS screen counts what dig asked; the cache is off here; a cashier is refused the counters', async () => {
    const dig = (name: string, type = 'A'): string =>
      lab.exec(lab.server, 'dig', ['+short', '+tries=1', '+time=3', '-p', '18953', `@${GW}`, name, type], { timeoutMs: 10_000 }).trim();
    assert.equal(dig('shop.s22u.test'), '10.224.1.9');
    assert.equal(dig('shop.s22u.test'), '10.224.1.9');
    dig('shop.s22u.test', 'AAAA');
    await page.click('#nav-network');
    await page.waitForSelector('#dns-summary');
    assert.equal(await page.textContent('#cache-off'), 'The edge cache is off (cache.enabled).');
    assert.match((await page.textContent('#dns-summary')) ?? '', /^3 queries answered; cache hit rate –; \d+ answers cached\.$/);
    assert.equal(await page.textContent('#dns-results dd[data-result="local"]'), '3');
    assert.equal(await page.textContent('#dns-results dd[data-result="forwarded"]'), '0');
    assert.match((await page.textContent('#dns-types')) ?? '', /^A 2 · AAAA 1$/);
    await page.click('#logout');
    await logIn(page, UI, CASHIER);
    assert.ok(!(await page.$$eval('#nav a', (as) => as.map((a) => a.id))).includes('nav-network'));
    const r = await csrfFetch(page, 'GET', '/ui/api/v1/dns/stats');
    assert.deepEqual([r.status, r.body?.error], [403, 'FORBIDDEN']);
    assert.deepEqual(chrome!.cspViolations, []);
  });
});
