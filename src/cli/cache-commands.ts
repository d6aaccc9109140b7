import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import type { PrefillJob } from '../cache/prefill.ts';
import type { CacheCounters } from '../cache/stats.ts';
import { BootgateError } from '../errors.ts';
import { api, withApi, type ApiOpts } from './api-client.ts';
import { out, run } from './run.ts';

interface StatsReply {
  services: Record<string, CacheCounters>;
  terminals: Record<string, CacheCounters>;
  store: { bytes: number; slices: number; maxBytes: number };
}

const COLUMNS = ['hits', 'misses', 'bypasses', 'originBytes', 'servedBytes', 'storeBytes', 'passedBytes'] as const;

/** Rows under a header of the counters' own names (the names the API returns, as the issue's contract spells them). */
function counterTable(first: string, rows: Record<string, CacheCounters>): void {
  const cells = [[first, ...COLUMNS, 'hitRate']];
  for (const [name, c] of Object.entries(rows)) {
    const asked = c.hits + c.misses;
    cells.push([name, ...COLUMNS.map((k) => String(c[k])), asked ? `${((c.hits / asked) * 100).toFixed(1)}%` : '-']);
  }
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)) + 2);
  for (const r of cells)
    out(
      `${r
        .map((v, i) => v.padEnd(widths[i]!))
        .join('')
        .trimEnd()}\n`,
    );
}

/** `10M` → 10485760 (bytes per second; K, M, G are 1024-based). */
export function parseRate(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)$/i.exec(s.trim());
  if (!m) throw new BootgateError('VALIDATION', `--rate ${JSON.stringify(s)}: a number of bytes per second, e.g. 500K or 10M`);
  const n = Number(m[1]) * 1024 ** ' KMG'.indexOf((m[2] || ' ').toUpperCase());
  if (!(n >= 1)) throw new BootgateError('VALIDATION', `--rate ${JSON.stringify(s)}: at least 1 byte per second`);
  return Math.floor(n);
}

/** cache stats / cache purge / cache prefill: the edge cache of the running appliance (docs/cache.md). */
export function registerCacheCommands(program: Command): void {
  const cache = program.command('cache').description('the edge cache: hit rates and bytes per service and terminal, purge');
  withApi(cache.command('stats').description('per service (and with --terminals, per terminal): hits, misses, originBytes, servedBytes'))
    .option('--terminals', 'also per terminal')
    .option('--json', 'print JSON')
    .action((o: ApiOpts & { terminals?: boolean; json?: boolean }) =>
      run(async () => {
        const s = (await api(o, 'GET', '/cache/stats')) as StatsReply;
        if (o.json) return out(`${JSON.stringify(s)}\n`);
        counterTable('service', s.services);
        if (o.terminals) {
          out('\n');
          counterTable('terminal', s.terminals);
        }
        out(`\nstore: ${s.store.bytes} of ${s.store.maxBytes} bytes in ${s.store.slices} slices\n`);
      }),
    );
  withApi(cache.command('prefill').description('fetch a list of URLs into the cache under a bandwidth cap (one job at a time)'))
    .option('--file <path>', 'the URLs, one http:// URL a line (# comments)')
    .option('--rate <bytes/s>', 'origin bandwidth cap, bytes per second, with K/M/G (1024-based) suffixes', '10M')
    .option('--wait', 'poll until the job is done and print each URL')
    .option('--status', 'print the running or last job instead of starting one')
    .action((o: ApiOpts & { file?: string; rate: string; wait?: boolean; status?: boolean }) =>
      run(async () => {
        if (!o.status) {
          if (o.file === undefined) throw new BootgateError('VALIDATION', 'give --file (or --status)');
          const urls = readFileSync(o.file, 'utf8')
            .split('\n')
            .map((l) => l.replace(/#.*/, '').trim())
            .filter(Boolean);
          const { job } = (await api(o, 'POST', '/cache/prefill', { urls, bytesPerSecond: parseRate(o.rate) })) as { job: PrefillJob };
          out(`prefill job ${job.id}: ${job.items.length} URLs at ${job.bytesPerSecond} bytes/s\n`);
          if (!o.wait) return;
        }
        let job: PrefillJob | null;
        for (;;) {
          job = ((await api(o, 'GET', '/cache/prefill')) as { job: PrefillJob | null }).job;
          if (!o.wait || !job || job.finishedAt !== undefined) break;
          await new Promise((r) => setTimeout(r, 1000));
        }
        if (!job) return out('no prefill job since the appliance started\n');
        out(`job ${job.id} ${job.finishedAt ? `finished ${job.finishedAt}` : 'running'}\n`);
        for (const i of job.items)
          out(
            `${i.state.padEnd(8)} ${String(i.bytes).padStart(12)} ${String(i.originBytes).padStart(12)}  ${i.url}${i.reason ? `  (${i.reason})` : ''}\n`,
          );
      }),
    );
  withApi(cache.command('purge').description('drop a service’s objects, or the object of one URL'))
    .option('--service <name>', 'every object of this service (e.g. steam)')
    .option('--url <url>', 'the object this http:// URL is keyed to')
    .action((o: ApiOpts & { service?: string; url?: string }) =>
      run(async () => {
        if ((o.service === undefined) === (o.url === undefined)) throw new BootgateError('VALIDATION', 'give exactly one of --service or --url');
        const r = (await api(o, 'POST', '/cache/purge', o.service !== undefined ? { service: o.service } : { url: o.url })) as { objects: number };
        out(`purged: ${r.objects} objects\n`);
      }),
    );
}
