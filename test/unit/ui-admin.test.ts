import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { rates, redactConfig, REDACTED, SystemMonitor } from '../../src/ui/system.ts';
import type { AdviceView, OverlayTerminalView } from '../../src/ui/wire.ts';
import { chartPaths } from '../../ui/src/chart.ts';
import { formatBytes, formatPercent } from '../../ui/src/format.ts';
import { terminalsPerVersion } from '../../ui/src/images-view.ts';
import { desiredSeries } from '../../ui/src/platforms-view.ts';
import { gibText, parseGiB, parseRate } from '../../ui/src/classes-view.ts';
import { cacheTotals, hitRate } from '../../ui/src/network-view.ts';
import { dnsStats } from '../../src/ui/network.ts';
import { createDnsMetrics } from '../../src/dns/metrics.ts';
import { formatSeriesValue } from '../../ui/src/system-view.ts';
import { SCREENS, screenFromHash } from '../../ui/src/shell.ts';

const overlay = (mac: string, baseVersion: number | null): OverlayTerminalView => ({
  mac,
  mode: 'keep',
  overlayMode: baseVersion === null ? null : 'keep',
  baseVersion,
  createdAt: null,
  bytes: 0,
  inUse: false,
});
const event = (cls: string, at: number, desired: number): AdviceView => ({
  class: cls,
  at,
  desired,
  average: 0,
  target: 1,
  current: 1,
  direction: 'up',
  why: '',
});

describe('admin screens: pure helpers', () => {
  it('sizes in decimal units per locale', () => {
    assert.equal(formatBytes(0, 'en'), '0 byte');
    assert.equal(formatBytes(999, 'en'), '999 byte');
    assert.equal(formatBytes(65_536, 'en'), '65.5 kB');
    assert.equal(formatBytes(1_500_000, 'fr'), '1,5\u202fMo');
    assert.equal(formatBytes(2_000_000_000, 'zh-CN'), '2 GB');
    assert.equal(formatPercent(0.25, 'en'), '25%');
    assert.match(formatPercent(0.25, 'fr'), /^25[\u00a0\u202f]%$/);
  });

  it('counts the terminals on each image version; terminals without an overlay count nowhere', () => {
    const per = terminalsPerVersion([overlay('a', 1), overlay('b', 2), overlay('c', 2), overlay('d', null)]);
    assert.deepEqual([...per.entries()].sort(), [
      [1, 1],
      [2, 2],
    ]);
  });

  it('chart paths span the box, y from 0 up to the largest value', () => {
    const g = chartPaths(
      [
        {
          name: 'a',
          points: [
            [10, 0],
            [20, 5],
            [30, 10],
          ],
        },
        { name: 'b', points: [[10, 10]] },
      ],
      100,
      50,
    );
    assert.equal(g.yMax, 10);
    assert.deepEqual(
      g.paths.map((p) => p.d),
      ['M0.0,50.0 L50.0,25.0 L100.0,0.0', 'M0.0,0.0'],
    );
    assert.deepEqual(chartPaths([], 100, 50).paths, []);
    // one point in time: drawn at the right edge, not NaN
    assert.equal(chartPaths([{ name: 'x', points: [[5, 2]] }], 100, 50).paths[0]!.d, 'M100.0,0.0');
  });

  it('advisor events become one series per class, in time order', () => {
    const s = desiredSeries([event('game', 30, 3), event('web', 10, 1), event('game', 20, 2)]);
    assert.deepEqual(s, [
      { name: 'web', points: [[10, 1]] },
      {
        name: 'game',
        points: [
          [20, 2],
          [30, 3],
        ],
      },
    ]);
  });

  it('only admins have the images, seat-class and platforms screens', () => {
    assert.deepEqual(SCREENS.admin, ['room', 'cashier', 'audit', 'images', 'classes', 'platforms', 'network', 'system']);
    assert.equal(screenFromHash('#network', 'auditor'), 'room');
    assert.equal(screenFromHash('#classes', 'cashier'), 'room');
    assert.equal(screenFromHash('#classes', 'admin'), 'classes');
    assert.equal(screenFromHash('#system', 'auditor'), 'room');
    assert.equal(screenFromHash('#images', 'admin'), 'images');
    assert.equal(screenFromHash('#platforms', 'cashier'), 'room');
    assert.equal(screenFromHash('#images', 'auditor'), 'room');
  });
});

describe('seat-class screen helpers', () => {
  it('rates may be 0; limits are GiB of at least 1 MiB or empty (the default), and read back what they show', () => {
    assert.equal(parseRate('0'), 0);
    assert.equal(parseRate('0,00'), 0);
    assert.equal(parseRate('2.40'), 240);
    assert.equal(parseRate('-1'), undefined);
    assert.equal(parseGiB(''), null);
    assert.equal(parseGiB('1.25'), 1.25 * 2 ** 30);
    assert.equal(parseGiB('1,5'), 1.5 * 2 ** 30);
    assert.equal(parseGiB('0.0001'), undefined, 'under 1 MiB');
    assert.equal(parseGiB('ten'), undefined);
    for (const b of [2 ** 30, 1.25 * 2 ** 30, 256 * 2 ** 20, 40 * 2 ** 30]) assert.equal(parseGiB(gibText(b)), b);
    assert.equal(gibText(null), '');
  });
});

describe('cache/DNS screen', () => {
  it("the resolver's counters from a real registry: by result and type, hit rate over hits and forwards, pending hits included", async () => {
    const registry = new Registry();
    assert.equal((await dnsStats(registry)).enabled, false, 'no resolver, no counters');
    const m = createDnsMetrics(registry);
    m.queries.inc({ transport: 'udp', type: 'A', result: 'forwarded' }, 3);
    m.queries.inc({ transport: 'tcp', type: 'AAAA', result: 'local' }, 2);
    m.counts.cacheHit('udp', 1); // A, counted on the hot path, added at collect
    m.upstreamQueries.inc({ upstream: '10.0.0.53', transport: 'udp', outcome: 'ok' }, 3);
    m.cacheEntries.set(4);
    const s = await dnsStats(registry);
    assert.deepEqual(s, {
      enabled: true,
      byResult: { forwarded: 3, local: 2, cache_hit: 1 },
      byType: { A: 4, AAAA: 2 },
      upstream: { ok: 3 },
      hitRate: 0.25,
      cacheEntries: 4,
      total: 6,
    });
  });

  it('cache hit rate per service and the totals', () => {
    const c = (hits: number, misses: number, bypasses: number, storeBytes = 0) => ({
      hits,
      misses,
      bypasses,
      originBytes: 0,
      servedBytes: storeBytes,
      storeBytes,
      passedBytes: 0,
    });
    assert.equal(hitRate(c(0, 0, 0)), null);
    assert.equal(hitRate(c(3, 1, 0)), 0.75);
    const totals = cacheTotals({
      services: { steam: c(3, 1, 0, 100), windows: c(1, 1, 2, 50) },
      terminals: {},
      store: { bytes: 0, slices: 0, maxBytes: 1 },
    });
    assert.deepEqual([totals.hits, totals.misses, totals.bypasses, totals.storeBytes], [4, 2, 2, 150]);
    assert.equal(hitRate(totals), 0.5);
  });
});

describe('system screen: the server side (src/ui/system.ts)', () => {
  it('redacts every secret-named value at any depth and credentials in URLs, and leaves the rest', () => {
    const config = {
      dataDir: '/var/lib/bootgate',
      iscsi: { chap: { gold: { user: 'u', secret: 'chap-secret-123', targetSecret: 'mutual-secret-1' } } },
      platforms: { wake: [{ mac: 'aa', password: '01:02:03:04' }] },
      api: { token: 'tok-value-9', apiKey: 'k', privateKey: { pem: 'x' } },
      dns: { upstreams: ['https://alice:pw@dns.example/dns-query', 'http://10.0.0.1/'] },
      port: 69,
      unset: { secret: undefined },
    };
    const out = redactConfig(config) as typeof config;
    assert.deepEqual(out.iscsi.chap.gold, { user: 'u', secret: REDACTED, targetSecret: REDACTED });
    assert.equal(out.platforms.wake[0]!.password, REDACTED);
    assert.deepEqual(out.api, { token: REDACTED, apiKey: REDACTED, privateKey: REDACTED });
    assert.deepEqual(out.dns.upstreams, [`https://${REDACTED}@dns.example/dns-query`, 'http://10.0.0.1/']);
    assert.equal(out.dataDir, '/var/lib/bootgate');
    assert.equal(out.port, 69);
    for (const secret of ['chap-secret-123', 'mutual-secret-1', '01:02:03:04', 'tok-value-9', 'alice:pw'])
      assert.ok(!JSON.stringify(out).includes(secret), secret);
    assert.equal(config.iscsi.chap.gold.secret, 'chap-secret-123', 'the original is untouched');
  });

  it('counter samples become rates per second; a reset gives 0, not a negative rate', () => {
    assert.deepEqual(
      rates([
        [0, 10],
        [1000, 30],
        [3000, 40],
        [4000, 2],
      ]),
      [
        [1000, 20],
        [3000, 5],
        [4000, 0],
      ],
    );
    assert.deepEqual(rates([[0, 1]]), []);
  });

  it('samples the registry and the backlog into a bounded ring; reports services and disk use', async () => {
    const registry = new Registry();
    const leases = new Counter({ name: 'bootgate_dhcp_lease_commits_total', help: 'h', labelNames: ['kind'], registers: [registry] });
    const served = new Counter({ name: 'bootgate_cache_served_bytes_total', help: 'h', labelNames: ['service', 'source'], registers: [registry] });
    const dir = mkdtempSync(join(tmpdir(), 'bg-sys-'));
    try {
      mkdirSync(join(dir, 'overlays'));
      writeFileSync(join(dir, 'bootgate.db'), Buffer.alloc(64 << 10, 1));
      writeFileSync(join(dir, 'overlays', 'data'), Buffer.alloc(128 << 10, 1));
      let now = 0;
      let backlog = 0;
      const m = new SystemMonitor({
        registry,
        services: () => [{ name: 'dhcp', lan: true, running: true }],
        config: { iscsi: { chap: { g: { secret: 'abcdefabcdef' } } } },
        dataDir: dir,
        auditBacklog: () => backlog,
        sampleMs: 1000,
        keep: 3,
        clock: () => now,
      });
      for (let i = 0; i < 6; i++) {
        leases.inc({ kind: 'a' }, i);
        leases.inc({ kind: 'b' }, 1);
        served.inc({ service: 'steam', source: 'store' }, 1000);
        served.inc({ service: 'steam', source: 'origin' }, 5000);
        backlog = i;
        await m.sample();
        now += 1000;
      }
      const s = await m.snapshot();
      const leaseSeries = s.series.find((x) => x.key === 'leases')!;
      // increments 1+1 … 5+1 summed over labels, one sample a second; only the last `keep` rates are kept
      assert.deepEqual(leaseSeries.points, [
        [3000, 4],
        [4000, 5],
        [5000, 6],
      ]);
      assert.deepEqual(
        s.series.find((x) => x.key === 'auditBacklog')!.points.map((p) => p[1]),
        [3, 4, 5],
      );
      assert.deepEqual(s.series.find((x) => x.key === 'tftp')!.points, [], 'a metric the registry lacks is an empty chart');
      assert.deepEqual(
        s.series.find((x) => x.key === 'cacheSaved')!.points.map((p) => p[1]),
        [1000, 1000, 1000],
        'only the bytes served from the store',
      );
      assert.deepEqual(s.services, [{ name: 'dhcp', lan: true, running: true }]);
      assert.ok(s.disk.dataBytes >= 64 << 10 && s.disk.dataBytes < 128 << 10, `data ${s.disk.dataBytes} excludes the overlays`);
      assert.ok(s.disk.overlaysBytes >= 128 << 10, `overlays ${s.disk.overlaysBytes}`);
      assert.ok(s.disk.fsTotalBytes >= s.disk.fsFreeBytes && s.disk.fsFreeBytes > 0);
      assert.ok(!JSON.stringify(s).includes('abcdefabcdef'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('formats chart values in their unit per locale', () => {
    assert.equal(formatSeriesValue('bytes-per-second', 1_500_000, 'en'), '1.5 MB/s');
    assert.equal(formatSeriesValue('per-second', 2.25, 'zh-CN'), '2.3/s');
    assert.equal(formatSeriesValue('count', 1234, 'en'), '1,234');
  });
});
