import { readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { SystemSeriesView, SystemView } from './wire.ts';
import { every } from './periodic.ts';

/** What the system screen's charts show: a Prometheus counter as a rate, or a sampled value. */
export interface SeriesSpec {
  key: SystemSeriesView['key'];
  unit: SystemSeriesView['unit'];
  /** a counter of the registry (its labelled values summed), shown as its rate per second */
  counter?: string;
  /** only the counter's values with these labels */
  labels?: Readonly<Record<string, string>>;
  /** or a value read at each sample */
  read?: () => number;
}

export const SYSTEM_SERIES: readonly SeriesSpec[] = [
  { key: 'leases', unit: 'per-second', counter: 'bootgate_dhcp_lease_commits_total' },
  { key: 'tftp', unit: 'bytes-per-second', counter: 'bootgate_tftp_bytes_sent_total' },
  { key: 'http', unit: 'bytes-per-second', counter: 'bootgate_http_bytes_sent_total' },
  { key: 'proxied', unit: 'per-second', counter: 'bootgate_gateway_requests_total' },
  { key: 'dns', unit: 'per-second', counter: 'bootgate_dns_queries_total' },
  // bytes the edge cache served from its store: uplink bytes saved
  { key: 'cacheSaved', unit: 'bytes-per-second', counter: 'bootgate_cache_served_bytes_total', labels: { source: 'store' } },
];

export interface SystemMonitorDeps {
  registry: Registry;
  /** every service of the appliance in start order, and whether it runs now (appliance.ts) */
  services: () => Array<{ name: string; lan: boolean; running: boolean }>;
  /** the effective configuration (validated, defaults filled in); shown redacted */
  config: unknown;
  dataDir: string;
  /** audit records queued and not yet committed (AuditLog.backlog) */
  auditBacklog: () => number;
  sampleMs: number;
  /** samples kept per series (the chart's width in time is sampleMs × keep) */
  keep: number;
  clock?: () => number;
}

const SECRET_KEY = /secret|password|passphrase|token|credential|private.?key|api.?key/i;
export const REDACTED = '(redacted)';

/**
 * A copy of the configuration that is safe to show: the value of every key that names a secret (CHAP secrets,
 * SecureOn passwords, tokens…) is replaced, whatever its type, and URLs lose any user:password part.
 */
export function redactConfig(value: unknown, key = ''): unknown {
  if (key && SECRET_KEY.test(key)) return value === undefined || value === null ? value : REDACTED;
  if (Array.isArray(value)) return value.map((v) => redactConfig(v));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactConfig(v, k)]));
  if (typeof value === 'string') return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, `$1${REDACTED}@`);
  return value;
}

/** Rates between successive counter samples; a counter that went down (a restart) gives 0, not a negative. */
export function rates(samples: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 1; i < samples.length; i++) {
    const [t0, v0] = samples[i - 1]!;
    const [t1, v1] = samples[i]!;
    if (t1 > t0) out.push([t1, Math.max(0, v1 - v0) / ((t1 - t0) / 1000)]);
  }
  return out;
}

/** Bytes a directory tree takes on disk (allocated blocks: sparse overlay files count what they hold). */
async function treeBytes(dir: string, skip?: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = join(dir, e.name);
    if (p === skip) continue;
    if (e.isDirectory()) total += await treeBytes(p, skip);
    else if (e.isFile())
      total += await stat(p).then(
        (s) => s.blocks * 512,
        () => 0,
      );
  }
  return total;
}

/**
 * The system screen's source (admin): samples the chart metrics every `sampleMs` into a short ring, and on request
 * adds the services' state, the redacted configuration and the disk use of the data directory and the overlays.
 */
export class SystemMonitor {
  private readonly samples = new Map<string, Array<[number, number]>>();
  private stopTimer: (() => void) | undefined;
  private readonly clock: () => number;
  private readonly config: unknown;
  private readonly specs: readonly SeriesSpec[];

  constructor(private readonly deps: SystemMonitorDeps) {
    this.clock = deps.clock ?? Date.now;
    this.config = redactConfig(deps.config);
    this.specs = [...SYSTEM_SERIES, { key: 'auditBacklog', unit: 'count', read: deps.auditBacklog }];
  }

  start(): void {
    this.stopTimer = every(this.deps.sampleMs, () => void this.sample());
  }

  stop(): void {
    this.stopTimer?.();
    this.stopTimer = undefined;
  }

  /** One sample of every series (also called by tests, instead of waiting for the timer). */
  async sample(): Promise<void> {
    const at = this.clock();
    for (const s of this.specs) {
      let v = 0;
      if (s.read) v = s.read();
      else if (s.counter) {
        // a service that is not configured (no gateway: no proxied requests) has no metric: an empty chart
        const m = this.deps.registry.getSingleMetric(s.counter);
        if (!m) continue;
        const want = Object.entries(s.labels ?? {});
        v = (await m.get()).values.filter((x) => want.every(([k, l]) => x.labels[k] === l)).reduce((sum, x) => sum + x.value, 0);
      }
      const ring = this.samples.get(s.key) ?? [];
      ring.push([at, v]);
      // a counter's rate needs one sample more than the points it gives
      if (ring.length > this.deps.keep + 1) ring.shift();
      this.samples.set(s.key, ring);
    }
  }

  async snapshot(): Promise<SystemView> {
    const dataDir = this.deps.dataDir;
    const overlays = join(dataDir, 'overlays');
    const fs = await statfs(dataDir);
    return {
      now: this.clock(),
      sampleMs: this.deps.sampleMs,
      services: this.deps.services(),
      series: this.specs.map((s) => {
        const ring = this.samples.get(s.key) ?? [];
        return { key: s.key, unit: s.unit, points: s.counter ? rates(ring) : ring.slice(-this.deps.keep) };
      }),
      config: this.config,
      disk: {
        dataDir,
        fsTotalBytes: fs.blocks * fs.bsize,
        fsFreeBytes: fs.bavail * fs.bsize,
        dataBytes: await treeBytes(dataDir, overlays),
        overlaysBytes: await treeBytes(overlays),
      },
    };
  }
}
