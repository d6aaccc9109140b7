/**
 * Accessibility of every screen of the web UI (issue 13): axe-core (the engine of @axe-core/playwright, run on the
 * page through playwright-core's evaluate, so the page's strict CSP stays on) in Debian's Chromium against
 * `bootgate serve` in a namespace this test makes (bgaxe-srv, br0 10.227.0.1/24). The login screen, then every
 * screen an admin's header links to (so a new screen is checked as soon as it is linked), the terminal panel, in
 * English and Simplified Chinese: no violation of impact "serious" or "critical" under the WCAG 2.1 A/AA rules.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { NetnsLab } from '../../src/lab/netns.ts';
import { BootgateProcess } from '../helpers/bootgate-process.ts';
import { endBrowserLab, launchChromiumInNetns, logIn, type NetnsBrowser } from '../helpers/chromium-netns.ts';

const API = '127.0.0.1:18741';
const UI = `http://${API}/ui/`;
const MAC = '52:54:00:27:00:01';
const ADMIN = { user: 'axeadmin', password: 'axe-admin-pass' };
const ROOT = join(import.meta.dirname, '../..');
/** BOOTGATE_UI_SCREENSHOTS=1: the screens no data-filled test photographs are saved as docs/ui/<screen>-<lang>.png */
const SHOTS: Record<string, readonly string[]> = { en: ['login', 'cashier', 'audit', 'network'], 'zh-CN': ['audit', 'network'] };
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: string[]; failureSummary?: string }>;
}

/** axe-core on the page as it is now; the violations of impact serious or critical, described for a failure message. */
async function seriousViolations(page: Page): Promise<string[]> {
  const violations = await page.evaluate(async (source) => {
    const w = window as unknown as { axe?: { run: (ctx: Document, o: unknown) => Promise<{ violations: AxeViolation[] }> } };
    // evaluated through the DevTools protocol, which the page's CSP does not govern (no script tag is added)
    if (!w.axe) (0, eval)(source);
    const r = await w.axe!.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
      resultTypes: ['violations'],
    });
    return r.violations;
  }, AXE_SOURCE);
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

describe('axe-core on every screen of the web UI (Chromium)', () => {
  const lab = new NetnsLab('bgaxe');
  let bg: BootgateProcess | undefined;
  let chrome: NetnsBrowser | undefined;
  let page: Page;

  before(async () => {
    execFileSync('bash', [join(ROOT, 'scripts/build-ui.sh')], { stdio: 'inherit' });
    lab.createServer('br0', '10.227.0.1/24');
    bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0' },
      dhcp: { subnet: '10.227.0.0/24', range: { start: '10.227.0.100', end: '10.227.0.150' } },
      http: { port: 18742 },
      api: { listen: API },
      // the resolver on, so the cache/DNS screen has its counters to show (nothing is forwarded: no query is made)
      dns: { enabled: true, upstreams: ['10.227.0.53'] },
    });
    await bg.start();
    bg.api(API, 'PUT', '/seat-groups/standard', { rateMinorPerHour: 120 });
    bg.api(API, 'POST', '/seats', { name: 'X1', mac: MAC, group: 'standard' });
    bg.cli(['staff', 'add', ADMIN.user, '--role', 'admin'], `${ADMIN.password}\n`);
    // a boot step so the terminal panel has a timeline to draw
    lab.exec(lab.server, 'curl', ['-sS', '-o', '/dev/null', `http://127.0.0.1:18742/boot.ipxe?mac=${MAC}`]);
    chrome = await launchChromiumInNetns(bg.dir, lab.server);
    page = chrome.page;
  });

  after(() => endBrowserLab({ chrome, bg, lab }));

  const shot = async (screen: string, lang: string): Promise<void> => {
    if (process.env.BOOTGATE_UI_SCREENSHOTS && SHOTS[lang]?.includes(screen))
      await page.screenshot({ path: join(ROOT, 'docs/ui', `${screen}-${lang}.png`) });
  };

  it('the login screen', async () => {
    await page.goto(UI);
    await page.waitForSelector('#login-form');
    assert.deepEqual(await seriousViolations(page), []);
    await shot('login', 'en');
  });

  for (const lang of ['en', 'zh-CN'] as const) {
    it(`every screen an admin is offered, and the terminal panel (${lang})`, async () => {
      if (lang === 'en') await logIn(page, UI, ADMIN);
      else {
        await page.selectOption('#lang-select', lang);
        await page.waitForFunction((l) => document.documentElement.lang === l, lang);
      }
      const screens = await page.$$eval('#nav a', (links) => links.map((a) => a.getAttribute('href')!.replace(/^#/, '')));
      assert.ok(screens.length >= 6, `the admin's screens: ${screens.join(', ')}`);
      const found: string[] = [];
      for (const screen of screens) {
        await page.goto(`${UI}#${screen}`);
        await page.waitForSelector(`#nav-${screen}[aria-current="page"]`);
        await page.waitForLoadState('networkidle');
        found.push(...(await seriousViolations(page)).map((v) => `${screen}: ${v}`));
        await shot(screen, lang);
      }
      await page.goto(`${UI}#room`);
      await page.click(`.tile[data-mac="${MAC}"]`);
      await page.waitForSelector(`#detail[data-mac="${MAC}"] .waterfall`);
      // an admin sees the seat's latest records in the panel, newest first
      await page.waitForSelector('#detail-audit li[data-kind="admin"]');
      assert.match((await page.textContent('#detail-audit li:first-child')) ?? '', /admin · seat\.add X1$/);
      found.push(...(await seriousViolations(page)).map((v) => `terminal panel: ${v}`));
      assert.deepEqual(found, []);
      assert.deepEqual(chrome!.cspViolations, []);
    });
  }
});
