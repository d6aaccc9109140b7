/**
 * The admin screens of the web UI (images and overlays, platforms) in real Chromium (Debian package, driven by
 * playwright-core) against `bootgate serve` in namespaces (prefix bgu21). A terminal namespace takes a lease with
 * busybox udhcpc and writes through QEMU's iSCSI initiator (qemu-io) to its own overlay; the admin sees it on the
 * images screen, makes it a super-client, commits its overlay as version 2, rolls back to version 1 and resets the
 * overlay, all by clicking; drains and undrains a platform instance. Each action is an audit record naming the
 * operator. Cashier and auditor sessions are refused these routes (403), and do not get the links.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { NetnsLab } from '../../src/lab/netns.ts';
import { BIN, BootgateProcess, writeScript } from '../helpers/bootgate-process.ts';
import { csrfFetch, endBrowserLab, launchChromiumInNetns, logIn, type NetnsBrowser } from '../helpers/chromium-netns.ts';
import type { SeatClassesView } from '../../src/ui/wire.ts';
import { formatBytes } from '../../ui/src/format.ts';

const formatBytesEn = (b: number): string => formatBytes(b, 'en');

const GW = '10.79.3.1';
const API = '127.0.0.1:18721';
const UI = `http://${API}/ui/`;
const MAC = '52:54:00:79:03:01';
const IQN = `iqn.2026-11.io.bootgate:disk.gold.${MAC.replaceAll(':', '-')}`;
const ROOT = join(import.meta.dirname, '../..');
const CHAP_SECRET = 'VaultSecret-2121';
const ADMIN = { user: 'boss', password: 'admin-pass-21' };
const CASHIER = { user: 'cash21', password: 'cashier-pass-21' };
const AUDITOR = { user: 'aud21', password: 'auditor-pass-21' };

describe('the images and platforms screens in Chromium against bootgate serve', () => {
  const lab = new NetnsLab('bgu21');
  let bg: BootgateProcess | undefined;
  let term = '';
  let admin = '';
  let platformId = '';
  let imageDir = '';
  let chrome: NetnsBrowser | undefined;
  let page: Page;
  let cspViolations: string[] = [];

  before(async () => {
    execFileSync('bash', [join(ROOT, 'scripts/build-ui.sh')], { stdio: 'inherit' });
    lab.createServer('br0', `${GW}/24`);
    term = lab.addClient({ name: 'term', bridge: 'br0', mac: MAC });
    imageDir = mkdtempSync(join(tmpdir(), 'bgu21-'));
    const image = join(imageDir, 'gold.img');
    writeFileSync(image, Buffer.alloc(8 << 20));
    writeFileSync(join(imageDir, 'vault.img'), Buffer.alloc(1 << 20));
    bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0' },
      dhcp: { subnet: '10.79.3.0/24', range: { start: '10.79.3.100', end: '10.79.3.150' }, router: GW, leaseSeconds: 600 },
      http: { port: 18722 },
      api: { listen: API },
      // vault's CHAP secret must never reach the browser (the system screen shows the configuration redacted)
      iscsi: {
        images: { gold: image, vault: join(imageDir, 'vault.img') },
        overlays: { defaultMode: 'keep' },
        chap: { vault: { user: 'vaultuser', secret: CHAP_SECRET } },
      },
      ui: { systemSampleSeconds: 1 },
      platforms: { classes: { game: { mode: 'redirect' } } },
      // the seat-class screen chooses between these: a class on "gold" boots the gold image over iSCSI
      boot: { defaultProfile: 'local' },
      profiles: { local: { exit: true }, gold: { sanboot: 'gold' } },
    });
    await bg.start();
    admin = readFileSync(join(bg.dir, 'data/keys/admin.token'), 'utf8').trim();
    api('PUT', '/seat-groups/standard', { rateMinorPerHour: 100 });
    api('POST', '/seats', { name: 'A1', mac: MAC, group: 'standard' });
    platformId = (api('POST', '/platforms', { class: 'game', name: 'P1', url: 'http://10.79.3.50:18081/', capacity: 10 }) as { id: string }).id;
    for (const [who, role] of [
      [ADMIN, 'admin'],
      [CASHIER, 'cashier'],
      [AUDITOR, 'auditor'],
    ] as const)
      cli(['staff', 'add', who.user, '--role', role], `${who.password}\n`);
    const script = writeScript(
      bg.dir,
      'udhcpc.sh',
      'case "$1" in bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface";; esac',
    );
    lab.exec(term, 'busybox', ['udhcpc', '-i', 'eth0', '-q', '-n', '-t', '4', '-T', '1', '-s', script], { timeoutMs: 20_000 });
    chrome = await launchChromiumInNetns(bg.dir, lab.server);
    page = chrome.page;
    cspViolations = chrome.cspViolations;
  });

  after(async () => {
    await endBrowserLab({ chrome, bg, lab });
    if (imageDir) rmSync(imageDir, { recursive: true, force: true });
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
  const qemuIo = (...cmds: string[]): string =>
    lab.exec(term, 'qemu-io', ['-f', 'raw', ...cmds.flatMap((c) => ['-c', c]), `iscsi://${GW}/${IQN}/0`], { timeoutMs: 30_000 });
  const pageFetch = (method: string, path: string, body?: unknown) => csrfFetch(page, method, path, body);
  const login = (who: { user: string; password: string }): Promise<void> => logIn(page, UI, who);
  /** BOOTGATE_UI_SCREENSHOTS=1: the screen as it is now, saved as docs/ui/<name>.png (checked by eye, committed) */
  const shot = async (name: string): Promise<void> => {
    if (process.env.BOOTGATE_UI_SCREENSHOTS) await page.screenshot({ path: join(ROOT, 'docs/ui', `${name}.png`) });
  };
  const navLinks = () => page.$$eval('#nav a', (as) => as.map((a) => a.id));
  const records = (action: string) =>
    (api('GET', '/audit/records?kind=admin&limit=1000') as Array<{ action: string; actor: string; target: string; detail: string | null }>).filter(
      (r) => r.action === action,
    );
  const row = `#images section[data-image="gold"] table.overlays tr[data-mac="${MAC}"]`;

  it('cashier and auditor have no admin links and are refused the admin routes (403), reads and writes', async () => {
    for (const who of [CASHIER, AUDITOR]) {
      await login(who);
      const links = await navLinks();
      assert.ok(!links.includes('nav-images') && !links.includes('nav-platforms'), `${who.user}: ${links.join(' ')}`);
      for (const [m, p, b] of [
        ['GET', '/ui/api/v1/images'],
        ['GET', '/ui/api/v1/images/gold/overlays'],
        ['POST', '/ui/api/v1/images/gold/rollback', { version: 1 }],
        ['PUT', `/ui/api/v1/overlays/${MAC}/mode`, { mode: 'super' }],
        ['GET', '/ui/api/v1/platforms'],
        ['POST', `/ui/api/v1/platforms/${platformId}/drain`],
        ['GET', '/ui/api/system'],
        ['GET', '/ui/api/v1/seat-classes'],
        ['PUT', '/ui/api/v1/seat-classes/standard', { rateMinorPerHour: 0 }],
      ] as const) {
        const r = await pageFetch(m, p, b);
        assert.equal(r.status, 403, `${who.user} ${m} ${p}`);
        assert.equal(r.body?.error, 'FORBIDDEN');
      }
      // the hash of an admin screen opens the room for them
      await page.goto(`${UI}#images`);
      await page.waitForSelector('#grid');
      await page.click('#logout');
      await page.waitForSelector('#login-form');
    }
    assert.equal(records('overlay.mode').length, 0, 'nothing was changed');
  });

  it('the admin sees the terminal on version 1 with its overlay size, makes it a super-client and commits it as version 2', async () => {
    assert.match(qemuIo('write -P 0xab 0 64k', 'flush'), /wrote 65536\/65536 bytes/);
    await login(ADMIN);
    assert.deepEqual(await navLinks(), [
      'nav-room',
      'nav-cashier',
      'nav-audit',
      'nav-images',
      'nav-classes',
      'nav-platforms',
      'nav-network',
      'nav-system',
    ]);
    await page.click('#nav-images');
    await page.waitForSelector(row);
    assert.equal(await page.textContent('#images section[data-image="gold"] .current-version'), 'Current version: v1');
    assert.equal(await page.textContent(`${row} .version`), 'v1');
    assert.match((await page.textContent(`${row} th`)) ?? '', /^A1 · 52:54:00:79:03:01$/);
    const size = /^([\d.]+) kB$/.exec((await page.textContent(`${row} .size`)) ?? '');
    assert.ok(size && Number(size[1]) >= 65.5, `at least the 64 KiB written (65.5 kB): ${size?.[0]}`);
    assert.equal(await page.textContent(`${row} .state`), 'keep (survives reboots) · idle');
    await shot('images-en');
    await page.selectOption(`${row} select.overlay-mode`, 'super');
    await page.click(`${row} button.set-mode`);
    await page.waitForFunction(() => /mode|super/i.test(document.getElementById('images-status')?.textContent ?? ''));
    assert.match((await page.textContent('#images-status')) ?? '', /52:54:00:79:03:01: super-client .* from its next boot/);
    // the super-client writes through its next session; the screen shows its super overlay and the commit action
    assert.match(qemuIo('write -P 0xcd 1M 64k', 'flush'), /wrote/);
    await page.click('#nav-room');
    await page.click('#nav-images');
    await page.waitForSelector(`${row} button.commit`);
    await page.fill(`${row} input.commit-note`, 'driver update');
    await page.click(`${row} button.commit`);
    await page.waitForSelector('#images section[data-image="gold"] table.versions tr[data-version="2"].current');
    assert.match((await page.textContent('#images-status')) ?? '', /gold version v2 made from 52:54:00:79:03:01/);
    assert.equal(await page.textContent('#images section[data-image="gold"] tr[data-version="2"] td:nth-child(3)'), 'v1');
    assert.equal(await page.textContent('#images section[data-image="gold"] tr[data-version="2"] td:nth-child(4)'), 'driver update');
    const images = api('GET', '/images') as Array<{ current: number }>;
    assert.equal(images[0]!.current, 2);
    const [mode] = records('overlay.mode');
    assert.deepEqual([mode?.actor, mode?.target, JSON.parse(mode?.detail ?? '{}')], ['operator:boss', MAC, { mode: 'super' }]);
    const [commit] = records('image.commit');
    assert.equal(commit?.actor, 'operator:boss');
    assert.deepEqual(JSON.parse(commit?.detail ?? '{}'), { version: 2, parent: 1, mac: MAC, note: 'driver update' });
  });

  it('the admin rolls back to version 1 and resets the overlay; both are audit records', async () => {
    await page.click('#images section[data-image="gold"] tr[data-version="1"] button.rollback');
    await page.waitForSelector('#images section[data-image="gold"] table.versions tr[data-version="1"].current');
    assert.equal(await page.textContent('#images section[data-image="gold"] .current-version'), 'Current version: v1');
    assert.equal((api('GET', '/images') as Array<{ current: number }>)[0]!.current, 1);
    await page.click(`${row} button.reset`);
    await page.waitForFunction((sel) => document.querySelector(`${sel} .state`)?.textContent === 'no overlay', row);
    assert.equal(await page.textContent(`${row} .size`), '–');
    // the reset is real: the terminal reads the clean image of version 1 again (its next open is a fresh overlay)
    assert.match(qemuIo('read -P 0 1M 64k'), /read 65536\/65536 bytes/);
    assert.deepEqual(
      records('image.rollback').map((r) => [r.actor, r.target, JSON.parse(r.detail ?? '{}')]),
      [['operator:boss', 'gold', { version: 1 }]],
    );
    assert.deepEqual(
      records('overlay.reset').map((r) => [r.actor, r.target]),
      [['operator:boss', `gold/${MAC}`]],
    );
  });

  it('seat classes: the measured sessions recommend an overlay size for gold; the class boots gold and its bound holds', async () => {
    // more sessions of gold (each qemu-io run is one iSCSI session; its overlay size is recorded at its end)
    for (const at of ['2M', '3M', '4M']) assert.match(qemuIo(`write -P 0x5a ${at} 64k`, 'flush'), /wrote 65536\/65536 bytes/);
    // the overlay watch samples once a second (ui.systemSampleSeconds): wait for a sample after the writes
    let before = api('GET', '/seat-classes') as SeatClassesView;
    for (let i = 0; i < 50 && !(before.forecast.hoursToFull !== null); i++) {
      await new Promise((r) => setTimeout(r, 100));
      before = api('GET', '/seat-classes') as SeatClassesView;
    }
    const rec = before.profiles.find((p) => p.name === 'gold')!.recommendation!;
    assert.ok(rec.samples >= 5 && rec.recommendedBytes !== null, JSON.stringify(rec));
    await page.click('#nav-classes');
    const std = '#classes-table tr[data-class="standard"]';
    await page.waitForSelector(std);
    assert.equal(await page.textContent(`${std} td:nth-child(2)`), '1', 'seat A1');
    assert.equal(await page.inputValue(`${std} input.class-rate`), '1.00');
    assert.equal(await page.textContent(`${std} .class-advice`), 'This profile boots no image with an overlay.');
    await page.selectOption(`${std} select.class-profile`, 'gold');
    assert.equal(
      await page.textContent(`${std} .class-advice`),
      `Recommended for gold: 268.4 MB (p95 ${formatBytesEn(rec.p95Bytes!)} over ${rec.samples} sessions) Use`,
    );
    await page.click(`${std} .class-advice button.class-use`);
    assert.equal(await page.inputValue(`${std} input.class-limit`), '0.25', '256 MiB, the smallest step');
    assert.match(
      (await page.textContent('#classes-forecast')) ?? '',
      /^Overlays growing [\d.]+ [kMG]B\/h: disk full in about .+ at the current rate\.$/,
    );
    await shot('classes-en');
    await page.fill(`${std} input.class-rate`, '0');
    await page.click(`${std} button.class-save`);
    await page.waitForFunction(() => document.getElementById('classes-status')?.textContent === 'Class standard saved.');
    let after = (api('GET', '/seat-classes') as SeatClassesView).classes.find((c) => c.name === 'standard')!;
    assert.deepEqual([after.rateMinorPerHour, after.profile, after.image, after.overlayLimitBytes], [0, 'gold', 'gold', 256 * 2 ** 20]);
    // the seat now boots the class's profile: its iPXE script sanboots gold
    const script = lab.exec(term, 'curl', ['-sf', `http://${GW}:18722/boot.ipxe?mac=${MAC.replaceAll(':', '-')}`]);
    assert.match(script, /sanboot .*disk\.gold\./);
    // a 1 MiB bound (typed as GiB) holds from the next session: a 2 MiB write fails, the overlay stays under it
    await page.fill(`${std} input.class-limit`, 'ten');
    await page.click(`${std} button.class-save`);
    assert.equal(await page.textContent('#classes-error'), 'Enter a size in GiB (at least 0.001), or leave it empty.');
    await page.fill(`${std} input.class-limit`, '0.001');
    await page.click(`${std} button.class-save`);
    await page.waitForFunction(() => document.getElementById('classes-status')?.textContent === 'Class standard saved.');
    after = (api('GET', '/seat-classes') as SeatClassesView).classes.find((c) => c.name === 'standard')!;
    assert.equal(after.overlayLimitBytes, Math.round(0.001 * 2 ** 30));
    let out = '';
    try {
      out = qemuIo('write -P 0x77 5M 2M', 'flush');
    } catch (e) {
      out = String((e as { stdout?: string }).stdout ?? '') + String((e as { stderr?: string }).stderr ?? '');
    }
    assert.doesNotMatch(out, /wrote 2097152\/2097152 bytes/, out);
    const bytes = (api('GET', `/images/gold/overlays/${MAC}`) as { bytes: number }).bytes;
    assert.ok(bytes <= Math.round(0.001 * 2 ** 30), `the overlay holds ${bytes} bytes`);
    assert.deepEqual(
      records('seat-class.set').map((r) => [r.actor, r.target, (JSON.parse(r.detail ?? '{}') as { profile: string }).profile]),
      [
        ['operator:boss', 'standard', 'gold'],
        ['operator:boss', 'standard', 'gold'],
      ],
    );
    // the room tile shows the overlay's use against the class's bound (sampled, an overlay event on change)
    await page.click('#nav-room');
    const use = `#grid [data-mac="${MAC}"] .overlay`;
    await page.waitForFunction((sel) => / of 1\.1 MB /.test(document.querySelector(sel)?.textContent ?? ''), use);
    assert.match((await page.textContent(use)) ?? '', /^overlay [\d.]+ kB of 1\.1 MB \(\d+%\)$/);
    await page.click('#nav-classes');
    await page.waitForSelector(std);
    await page.selectOption('#lang-select', 'zh-CN');
    await page.waitForFunction(() => document.querySelector('.bar h1')?.textContent === '座位等级');
    await shot('classes-zh-CN');
    await page.selectOption('#lang-select', 'en');
  });

  it('the platforms screen shows the instance and drains and undrains it; the language menu turns it to zh-CN', async () => {
    await page.click('#nav-platforms');
    const inst = `#instances tr[data-name="P1"]`;
    await page.waitForSelector(`${inst}[data-drained="false"]`);
    assert.equal(await page.textContent(`${inst} .state`), 'serving');
    assert.equal(await page.textContent(`${inst} .share`), '0%');
    await shot('platforms-en');
    await page.click(`${inst} button.drain`);
    await page.waitForSelector(`${inst}[data-drained="true"]`);
    assert.equal(await page.textContent(`${inst} .state`), 'drained (operator)');
    assert.equal((api('GET', `/platforms/${platformId}`) as { health: { drained: boolean } }).health.drained, true);
    await page.selectOption('#lang-select', 'zh-CN');
    await page.waitForFunction(() => document.querySelector('.bar h1')?.textContent === '服务平台');
    assert.equal(await page.textContent(`${inst} .state`), '已排空（操作员）');
    await shot('platforms-zh-CN');
    assert.equal(await page.textContent(`${inst} button.undrain`), '恢复服务');
    await page.click(`${inst} button.undrain`);
    await page.waitForSelector(`${inst}[data-drained="false"]`);
    assert.equal(await page.textContent('#platforms-status'), 'P1 已恢复服务。');
    assert.deepEqual(
      [...records('platform.drain'), ...records('platform.undrain')].map((r) => [r.action, r.actor, r.target]),
      [
        ['platform.drain', 'operator:boss', platformId],
        ['platform.undrain', 'operator:boss', platformId],
      ],
    );
    await page.click('#nav-images');
    await page.waitForFunction(() => document.querySelector('.bar h1')?.textContent === '镜像与覆盖层');
    assert.equal(await page.textContent('#images section[data-image="gold"] .current-version'), '当前版本：v1');
    await shot('images-zh-CN');
    await page.selectOption('#lang-select', 'en');
  });

  it('the system screen: services running, charts fed by the appliance, disk use, the configuration without secrets', async () => {
    await page.click('#nav-system');
    await page.waitForSelector('#services tr[data-service="dhcp"][data-running="true"]');
    for (const name of ['tftp', 'http', 'iscsi', 'audit', 'api', 'ui'])
      assert.equal(await page.getAttribute(`#services tr[data-service="${name}"]`, 'data-running'), 'true', name);
    assert.deepEqual(await page.$$eval('#system figure[data-series]', (fs) => fs.map((f) => (f as HTMLElement).dataset.series)), [
      'leases',
      'tftp',
      'http',
      'proxied',
      'dns',
      'cacheSaved',
      'auditBacklog',
    ]);
    // a lease taken now shows on the leases chart (its maximum over the window is no longer 0), re-read every sample
    const script = writeScript(bg!.dir, 'udhcpc2.sh', 'true');
    lab.exec(term, 'busybox', ['udhcpc', '-i', 'eth0', '-q', '-n', '-t', '4', '-T', '1', '-s', script], { timeoutMs: 20_000 });
    await page.waitForFunction(() => {
      const max = document.querySelector('#system figure[data-series="leases"] .chart-max')?.textContent ?? '';
      return max !== '' && max !== '0/s';
    });
    assert.match((await page.textContent('#system figure[data-series="leases"] .chart-max')) ?? '', /^\d+(\.\d)?\/s$/);
    // no gateway and no resolver in this lab: those charts have no metric to draw
    const drawn = await page.$$eval('#system figure[data-series]', (fs) =>
      fs.filter((f) => f.querySelector('svg.chart path.line')).map((f) => (f as HTMLElement).dataset.series),
    );
    assert.ok(
      ['leases', 'tftp', 'http', 'auditBacklog'].every((k) => drawn.includes(k)) && !drawn.includes('proxied') && !drawn.includes('dns'),
      drawn.join(),
    );
    assert.equal(await page.textContent('#system figure[data-series="proxied"] .now'), 'Not enough samples yet.');
    assert.match((await page.textContent('#disk dd[data-disk="dataBytes"]')) ?? '', /^[\d.]+ (kB|MB|GB)$/);
    assert.equal(await page.textContent('#disk dd[data-disk="dataDir"]'), join(bg!.dir, 'data'));
    await shot('system-en');
    await page.selectOption('#lang-select', 'zh-CN');
    await page.waitForFunction(() => document.querySelector('.bar h1')?.textContent === '系统');
    await page.waitForSelector('#services');
    await shot('system-zh-CN');
    await page.selectOption('#lang-select', 'en');
    await page.waitForSelector('#config');
    const config = (await page.textContent('#config')) ?? '';
    assert.equal(JSON.parse(config).iscsi.chap.vault.user, 'vaultuser');
    assert.equal(JSON.parse(config).iscsi.chap.vault.secret, '(redacted)');
    assert.ok(!config.includes(CHAP_SECRET));
    const raw = await page.evaluate(async () => (await fetch('/ui/api/system')).text());
    assert.ok(!raw.includes(CHAP_SECRET), 'not in the JSON either');
    assert.deepEqual(cspViolations, []);
  });
});
