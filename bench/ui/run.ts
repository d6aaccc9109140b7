/**
 * The room screen with a full room (issue 13): how long Chromium takes to show N terminals (default 300), and
 * whether it keeps up with a stream of boot events (default 50/s for 20 s) — a benchmark, not a timed test.
 *
 * Setup, all inside one namespace this script creates and removes (bgs22uib-srv, br0 10.226.0.1/24): `bootgate
 * serve` (API 127.0.0.1:18601, HTTP boot :18602), N seats made through the API (so N tiles), an admin made with
 * `bootgate staff add`, and Debian's Chromium (playwright-core) in the same namespace, logged in on the room screen.
 *
 * - Render: from the moment the page has the room snapshot (the resource timing's responseEnd of /ui/api/room) to
 *   the moment the grid holds N tiles (a MutationObserver installed before the page's own script), and from the
 *   navigation's start to the same moment; R reloads, median and max.
 * - Events: a driver in the namespace sends, at RATE per second, `GET /boot.ipxe?mac=…` (the tile goes to
 *   "loading") and `GET /booted?mac=…` (back to "off": no lease here) alternately per MAC, round-robin over the
 *   seats, and writes each send time. Latency of an event = the first time the page shows that MAC's tile in the
 *   expected stage after the send (MutationObserver, the page's Date.now(); same machine clock as the driver's).
 *   Reported: p50/p95/p99/max, events never shown, and whether the lag grew over the run (last second vs first).
 *
 *   node --import tsx bench/ui/run.ts [--terminals 300] [--rate 50] [--seconds 20] [--reloads 5] [--json FILE]
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NetnsLab } from '../../src/lab/netns.ts';
import { BIN, BootgateProcess } from '../../test/helpers/bootgate-process.ts';
import { launchChromiumInNetns, logIn, type NetnsBrowser } from '../../test/helpers/chromium-netns.ts';

const { values: args } = parseArgs({
  options: {
    terminals: { type: 'string', default: '300' },
    rate: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '20' },
    reloads: { type: 'string', default: '5' },
    json: { type: 'string' },
  },
});
const N = Number(args.terminals);
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const RELOADS = Number(args.reloads);
const API = '127.0.0.1:18601';
const HTTP_PORT = 18602;
const UI = `http://${API}/ui/`;
const PASSWORD = 'bench-room-pass';
const macOf = (i: number): string => `52:54:00:26:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const median = (xs: number[]): number => pct(xs, 50);

/** Installed before the page's script: records when the grid first holds `n` tiles, and every tile (re)drawn. */
const OBSERVER = (n: number): string => `
  window.__tiles = [];
  window.__fullAt = null;
  new MutationObserver((records) => {
    const t = Date.now();
    const p = performance.now();
    for (const r of records)
      for (const node of r.addedNodes)
        if (node.nodeType === 1 && node.classList.contains('tile')) window.__tiles.push([node.dataset.mac, node.dataset.stage, t]);
    if (window.__fullAt === null && document.querySelectorAll('#grid .tile, .grid .tile').length >= ${n}) window.__fullAt = p;
  }).observe(document, { childList: true, subtree: true });
`;

/** The event driver, run by node inside the namespace: paced sends, one line per event `mac stage sentAt status`. */
const DRIVER = `
const [base, rate, seconds, n] = process.argv.slice(1).map((v, i) => (i === 0 ? v : Number(v)));
const mac = (i) => '52:54:00:26:' + ((i >> 8) & 255).toString(16).padStart(2, '0') + ':' + (i & 255).toString(16).padStart(2, '0');
const total = rate * seconds;
const start = Date.now();
const lines = [];
const pending = [];
for (let k = 0; k < total; k++) {
  const due = start + (k * 1000) / rate;
  const wait = due - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const i = k % n;
  const round = Math.floor(k / n);
  const m = mac(i);
  const script = round % 2 === 0;
  const url = base + (script ? '/boot.ipxe?mac=' : '/booted?mac=') + m;
  const sentAt = Date.now();
  pending.push(fetch(url).then(async (r) => { await r.arrayBuffer(); lines.push([m, script ? 'loading' : 'off', sentAt, r.status].join(' ')); }, (e) => lines.push([m, 'error', sentAt, String(e)].join(' '))));
}
await Promise.all(pending);
process.stdout.write(lines.join('\\n') + '\\n');
`;

async function main(): Promise<void> {
  const lab = new NetnsLab('bgs22uib');
  let bg: BootgateProcess | undefined;
  let chrome: NetnsBrowser | undefined;
  const started = new Date().toISOString();
  try {
    lab.createServer('br0', '10.226.0.1/24');
    bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0' },
      dhcp: { subnet: '10.226.0.0/24', range: { start: '10.226.0.10', end: '10.226.0.250' } },
      http: { port: HTTP_PORT },
      api: { listen: API },
    });
    await bg.start();
    const admin = readFileSync(join(bg.dir, 'data/keys/admin.token'), 'utf8').trim();
    const api = (method: string, path: string, body?: unknown): void => {
      const a = ['-sS', '--fail-with-body', '-X', method, '-H', `authorization: Bearer ${admin}`];
      if (body !== undefined) a.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(body));
      lab.exec(lab.server, 'curl', [...a, `http://${API}/api/v1${path}`]);
    };
    api('PUT', '/seat-groups/standard', { rateMinorPerHour: 120 });
    for (let i = 0; i < N; i++) api('POST', '/seats', { name: `S${String(i + 1).padStart(3, '0')}`, mac: macOf(i), group: 'standard' });
    lab.exec(lab.server, process.execPath, [BIN, 'staff', 'add', 'bench', '--role', 'admin', '--config', bg.configFile], { input: `${PASSWORD}\n` });

    chrome = await launchChromiumInNetns(bg.dir, lab.server);
    const page = chrome.page;
    await page.addInitScript(OBSERVER(N));
    await logIn(page, UI, { user: 'bench', password: PASSWORD });

    // render: R reloads of the room screen with N tiles
    const render: Array<{ snapshotToTilesMs: number; navigationToTilesMs: number; snapshotBytes: number }> = [];
    for (let r = 0; r < RELOADS; r++) {
      await page.reload();
      await page.waitForFunction(() => (window as unknown as { __fullAt: number | null }).__fullAt !== null, undefined, { timeout: 60_000 });
      render.push(
        await page.evaluate(() => {
          const w = window as unknown as { __fullAt: number };
          const room = performance.getEntriesByType('resource').find((e) => e.name.includes('/ui/api/room')) as PerformanceResourceTiming;
          return { snapshotToTilesMs: w.__fullAt - room.responseEnd, navigationToTilesMs: w.__fullAt, snapshotBytes: room.encodedBodySize };
        }),
      );
    }

    // events: RATE per second for SECONDS, against the open room screen
    await page.evaluate(() => void ((window as unknown as { __tiles: unknown[] }).__tiles.length = 0));
    const driver = spawn(
      'ip',
      [
        'netns',
        'exec',
        lab.server,
        process.execPath,
        '--input-type=module',
        '-e',
        DRIVER,
        `http://127.0.0.1:${HTTP_PORT}`,
        String(RATE),
        String(SECONDS),
        String(N),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let sentText = '';
    driver.stdout.on('data', (d: Buffer) => (sentText += d.toString()));
    await new Promise((r) => driver.once('exit', r));
    await new Promise((r) => setTimeout(r, 2000)); // let the last events arrive
    const seen = await page.evaluate(() => (window as unknown as { __tiles: Array<[string, string, number]> }).__tiles);
    const sent = sentText
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([mac, stage, at, status]) => ({ mac: mac!, stage: stage!, at: Number(at), status: status! }))
      .sort((a, b) => a.at - b.at);
    const byMac = new Map<string, Array<[string, number]>>();
    for (const [mac, stage, t] of seen) {
      const l = byMac.get(mac) ?? [];
      l.push([stage, t]);
      byMac.set(mac, l);
    }
    const latencies: Array<{ at: number; ms: number }> = [];
    let missed = 0;
    const errors = sent.filter((s) => s.stage === 'error' || !/^2\d\d$/.test(s.status)).length;
    for (const s of sent) {
      if (s.stage === 'error') continue;
      const hit = (byMac.get(s.mac) ?? []).find(([stage, t]) => stage === s.stage && t >= s.at);
      if (hit) latencies.push({ at: s.at, ms: hit[1] - s.at });
      else missed++;
    }
    const ms = latencies.map((l) => l.ms);
    const t0 = sent[0]?.at ?? 0;
    const firstSecond = latencies.filter((l) => l.at - t0 < 1000).map((l) => l.ms);
    const lastSecond = latencies.filter((l) => l.at - t0 >= (SECONDS - 1) * 1000).map((l) => l.ms);
    const result = {
      started,
      build: lab.exec(lab.server, 'git', ['-C', join(import.meta.dirname, '../..'), 'rev-parse', '--short', 'HEAD']).trim(),
      machine: { cpus: cpus().length, loadavg: loadavg().map((x) => Number(x.toFixed(2))) },
      terminals: N,
      render: {
        reloads: render.length,
        snapshotToTilesMs: { median: median(render.map((r) => r.snapshotToTilesMs)), max: Math.max(...render.map((r) => r.snapshotToTilesMs)) },
        navigationToTilesMs: { median: median(render.map((r) => r.navigationToTilesMs)), max: Math.max(...render.map((r) => r.navigationToTilesMs)) },
        snapshotBytes: render[0]?.snapshotBytes,
      },
      events: {
        rate: RATE,
        seconds: SECONDS,
        sent: sent.length,
        httpErrors: errors,
        shown: latencies.length,
        missed,
        latencyMs: { p50: pct(ms, 50), p95: pct(ms, 95), p99: pct(ms, 99), max: Math.max(...ms) },
        firstSecondMedianMs: median(firstSecond),
        lastSecondMedianMs: median(lastSecond),
      },
      cspViolations: chrome.cspViolations.length,
    };
    const text = JSON.stringify(result, null, 2);
    process.stdout.write(`${text}\n`);
    if (args.json) writeFileSync(args.json, `${text}\n`);
  } finally {
    await chrome?.close();
    if (bg) await Promise.race([bg.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 15_000).unref())]);
    await lab.destroy();
    if (bg) rmSync(bg.dir, { recursive: true, force: true });
  }
}

await main();
