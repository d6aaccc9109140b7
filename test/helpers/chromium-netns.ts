import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { writeScript } from './bootgate-process.ts';

const CHROMIUM = '/usr/bin/chromium';

/** Debian's Chromium, driven by playwright-core, running inside a network namespace; one page. */
export interface NetnsBrowser {
  browser: Browser;
  page: Page;
  /** console messages about Content-Security-Policy violations, for a test to assert there were none */
  cspViolations: string[];
  /** closes the browser; if it hangs (10 s), kills its process group */
  close(): Promise<void>;
}

/** Starts Chromium in `netns` through a wrapper script in `dir` (which also records the browser's PID). */
export async function launchChromiumInNetns(dir: string, netns: string, pageOptions: BrowserContextOptions = {}): Promise<NetnsBrowser> {
  const pidFile = join(dir, 'chromium.pid');
  const wrapper = writeScript(dir, 'chromium.sh', `echo $$ > ${pidFile}\nexec ip netns exec ${netns} ${CHROMIUM} "$@"`);
  const browser = await chromium.launch({ executablePath: wrapper, headless: true, chromiumSandbox: false });
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  const page = await browser.newPage({ locale: 'en-GB', ...pageOptions });
  const cspViolations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  return {
    browser,
    page,
    cspViolations,
    close: () => closeOrKill(browser, pid),
  };
}

/** Closes a browser; if that hangs (10 s), kills its process group (playwright starts it as a group leader). */
export async function closeOrKill(browser: Browser, pid: number): Promise<void> {
  const closed = await Promise.race([
    browser.close().then(
      () => true,
      () => false,
    ),
    new Promise<boolean>((r) => setTimeout(r, 10_000, false).unref()),
  ]);
  if (!closed && pid > 0) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** The page's own fetch with its session cookie and, for a state change, the session's CSRF token. */
export function csrfFetch(page: Page, method: string, path: string, body?: unknown): Promise<{ status: number; body: { error?: string } | null }> {
  return page.evaluate(
    async ([m, p, b]) => {
      const s = (await (await fetch('/ui/api/session')).json()) as { csrf: string };
      const headers: Record<string, string> = { 'x-csrf-token': s.csrf };
      if (b !== undefined) headers['content-type'] = 'application/json';
      const r = await fetch(p, { method: m, headers, ...(b !== undefined ? { body: JSON.stringify(b) } : {}) });
      return { status: r.status, body: (await r.json().catch(() => null)) as { error?: string } | null };
    },
    [method, path, body] as const,
  );
}

/** Signs in through the login form at `url` and waits for the screen links. */
export async function logIn(page: Page, url: string, who: { user: string; password: string }): Promise<void> {
  await page.goto(url);
  await page.fill('#login-username', who.user);
  await page.fill('#login-password', who.password);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#nav');
}

/**
 * The end of a browser test: Chromium closed, bootgate stopped (at most 15 s, then left to the namespace's end),
 * the namespaces destroyed (which kills what is left in them) and bootgate's directory removed.
 */
export async function endBrowserLab(parts: {
  chrome: NetnsBrowser | undefined;
  bg: { stop(): Promise<unknown>; dir: string } | undefined;
  lab: { destroy(): Promise<void> };
}): Promise<void> {
  await parts.chrome?.close();
  const bg = parts.bg;
  if (bg) await Promise.race([bg.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 15_000).unref())]);
  await parts.lab.destroy();
  if (bg) rmSync(bg.dir, { recursive: true, force: true });
}
