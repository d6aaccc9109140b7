import type { Command } from 'commander';
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

/** cache stats / cache purge: the edge cache of the running appliance (docs/cache.md). */
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
