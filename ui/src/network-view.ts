import type { CacheCountersView, CacheStatsView, DnsStatsView } from '../../src/ui/wire.ts';
import { clear, h } from './dom.ts';
import { formatBytes, formatNumber, formatPercent } from './format.ts';
import type { MessageKey } from './i18n.ts';
import type { AdminContext } from './images-view.ts';
import { guarded, headerBar } from './shell.ts';

/** The share of deliveries served entirely from the store; null before any. */
export function hitRate(c: CacheCountersView): number | null {
  const n = c.hits + c.misses + c.bypasses;
  return n === 0 ? null : c.hits / n;
}

/** The cache's totals over its services. */
export function cacheTotals(s: CacheStatsView): CacheCountersView {
  const t: CacheCountersView = { hits: 0, misses: 0, bypasses: 0, originBytes: 0, servedBytes: 0, storeBytes: 0, passedBytes: 0 };
  for (const c of Object.values(s.services)) for (const k of Object.keys(t) as Array<keyof CacheCountersView>) t[k] += c[k];
  return t;
}

const DNS_RESULTS = ['local', 'cache_hit', 'forwarded', 'servfail', 'refused', 'notimp', 'formerr'] as const;

/**
 * The cache and DNS screen (admin): the edge cache's hit rate and uplink bytes saved per service (GET
 * /api/v1/cache/stats) with a purge per service (an audit record, cache.purge), the store's use, and the
 * resolver's query counters by result and type. Read when opened and on Refresh (no timer).
 */
export class NetworkView {
  readonly root: HTMLElement;
  private readonly body = h('div', { id: 'network', class: 'admin-body' });
  private readonly status = h('p', { id: 'network-status', class: 'status', role: 'status' });
  private readonly error = h('p', { id: 'network-error', class: 'error', role: 'alert' });

  constructor(private readonly ctx: AdminContext) {
    const refresh = h('button', { type: 'button', id: 'network-refresh' }, ctx.t('network.refresh'));
    refresh.addEventListener('click', () => void this.start());
    this.root = h(
      'div',
      { class: 'admin-page' },
      headerBar(ctx, 'network', ctx.t('network.heading')),
      h('div', { class: 'desk-messages' }, this.status, this.error, refresh),
      this.body,
    );
  }

  private t = (key: MessageKey, params?: Record<string, string | number>): string => this.ctx.t(key, params);

  async start(): Promise<void> {
    await guarded(this.ctx, this.error, async () => {
      const [cache, dns] = await Promise.all([this.ctx.api.cacheStats(), this.ctx.api.dnsStats()]);
      clear(this.body);
      this.body.append(this.cache(cache), this.dns(dns));
    });
  }
  stop(): void {}

  private pct = (v: number | null): string => (v === null ? '–' : formatPercent(v, this.ctx.lang));

  private cache(s: CacheStatsView | undefined): HTMLElement {
    const t = this.t;
    const lang = this.ctx.lang;
    const section = h('section', { id: 'cache', class: 'card wide', 'aria-labelledby': 'cache-h' }, h('h2', { id: 'cache-h' }, t('network.cache')));
    if (!s) return (section.append(h('p', { class: 'muted', id: 'cache-off' }, t('network.cacheOff'))), section);
    const total = cacheTotals(s);
    section.append(
      h(
        'p',
        { id: 'cache-summary' },
        t('network.cacheSummary', {
          rate: this.pct(hitRate(total)),
          saved: formatBytes(total.storeBytes, lang),
          store: formatBytes(s.store.bytes, lang),
          max: formatBytes(s.store.maxBytes, lang),
        }),
      ),
    );
    const names = Object.keys(s.services);
    if (names.length === 0) return (section.append(h('p', { class: 'muted' }, t('network.noTraffic'))), section);
    const rows = names.map((name) => {
      const c = s.services[name]!;
      const purge = h('button', { type: 'button', class: 'purge' }, t('network.purge'));
      purge.addEventListener('click', () => {
        void guarded(this.ctx, this.error, async () => {
          const r = await this.ctx.api.purgeCache(name);
          this.status.textContent = t('network.purged', { service: name, objects: r.objects });
          await this.start();
        });
      });
      return h(
        'tr',
        { 'data-service': name },
        h('th', { scope: 'row' }, name),
        h('td', { class: 'num rate' }, this.pct(hitRate(c))),
        h('td', { class: 'num' }, `${formatNumber(c.hits, lang, 0)} / ${formatNumber(c.misses, lang, 0)} / ${formatNumber(c.bypasses, lang, 0)}`),
        h('td', { class: 'num saved' }, formatBytes(c.storeBytes, lang)),
        h('td', { class: 'num' }, formatBytes(c.originBytes, lang)),
        h('td', {}, purge),
      );
    });
    section.append(
      h(
        'table',
        { id: 'cache-services' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...(['network.service', 'network.hitRate', 'network.hitsMisses', 'network.saved', 'network.origin'] as const).map((k) =>
              h('th', { scope: 'col' }, t(k)),
            ),
            h('th', { scope: 'col' }, ''),
          ),
        ),
        h('tbody', {}, ...rows),
      ),
    );
    return section;
  }

  private dns(d: DnsStatsView): HTMLElement {
    const t = this.t;
    const lang = this.ctx.lang;
    const section = h('section', { id: 'dns', class: 'card wide', 'aria-labelledby': 'dns-h' }, h('h2', { id: 'dns-h' }, t('network.dns')));
    if (!d.enabled) return (section.append(h('p', { class: 'muted', id: 'dns-off' }, t('network.dnsOff'))), section);
    section.append(
      h(
        'p',
        { id: 'dns-summary' },
        t('network.dnsSummary', { total: formatNumber(d.total, lang, 0), rate: this.pct(d.hitRate), entries: formatNumber(d.cacheEntries, lang, 0) }),
      ),
      h(
        'dl',
        { class: 'facts', id: 'dns-results' },
        ...DNS_RESULTS.flatMap((r) => [h('dt', {}, t(`dns.${r}`)), h('dd', { 'data-result': r }, formatNumber(d.byResult[r] ?? 0, lang, 0))]),
      ),
      h(
        'p',
        { id: 'dns-types', class: 'muted' },
        Object.entries(d.byType)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} ${formatNumber(v, lang, 0)}`)
          .join(' · '),
      ),
    );
    return section;
  }
}
