import type { AdviceView, PlatformView } from '../../src/ui/wire.ts';
import { lineChart, type Series } from './chart.ts';
import { clear, h } from './dom.ts';
import { formatNumber, formatPercent } from './format.ts';
import type { MessageKey } from './i18n.ts';
import type { AdminContext } from './images-view.ts';
import { guarded, headerBar } from './shell.ts';

/** Advisor events as one series per class: desired instances at each event (the chart of the platforms screen). */
export function desiredSeries(events: readonly AdviceView[]): Series[] {
  const by = new Map<string, Array<[number, number]>>();
  for (const e of [...events].sort((a, b) => a.at - b.at)) {
    const pts = by.get(e.class) ?? [];
    pts.push([e.at, e.desired]);
    by.set(e.class, pts);
  }
  return [...by.entries()].map(([name, points]) => ({ name, points }));
}

/**
 * The platforms screen (admin): every service platform instance with health, load, sessions, traffic share and
 * drain state, drain / undrain (the /api/v1/platforms routes, which write the audit record), the advisor's
 * current recommendation per class and its events over time (a chart and a table).
 */
export class PlatformsView {
  readonly root: HTMLElement;
  private readonly body = h('div', { id: 'platforms', class: 'admin-body' });
  private readonly status = h('p', { id: 'platforms-status', class: 'status', role: 'status' });
  private readonly error = h('p', { id: 'platforms-error', class: 'error', role: 'alert' });

  constructor(private readonly ctx: AdminContext) {
    this.root = h(
      'div',
      { class: 'admin-page' },
      headerBar(ctx, 'platforms', ctx.t('platforms.heading')),
      h('div', { class: 'desk-messages' }, this.status, this.error),
      this.body,
    );
  }

  private t = (key: MessageKey, params?: Record<string, string | number>): string => this.ctx.t(key, params);

  async start(): Promise<void> {
    await this.reload();
  }
  stop(): void {}

  private guarded = (fn: () => Promise<void>): Promise<void> => guarded(this.ctx, this.error, fn);

  private async reload(): Promise<void> {
    await this.guarded(async () => {
      const [instances, advice] = await Promise.all([this.ctx.api.platforms(), this.ctx.api.advice()]);
      clear(this.body);
      this.body.append(this.instances(instances), this.advice(advice.recommendations, advice.events));
    });
  }

  private health(p: PlatformView): string {
    const t = this.t;
    const s = p.health.status === 'healthy' || p.health.status === 'unhealthy' ? p.health.status : 'unknown';
    return t(`health.${s}`);
  }

  private state(p: PlatformView): string {
    const t = this.t;
    if (p.sleeping) return t('platforms.sleeping');
    if (p.health.drained) return t('platforms.drained', { by: t(p.health.drainedBy === 'agent' ? 'platforms.by.agent' : 'platforms.by.operator') });
    return t('platforms.serving');
  }

  private instances(list: PlatformView[]): HTMLElement {
    const t = this.t;
    const lang = this.ctx.lang;
    const cols = ['name', 'class', 'health', 'load', 'sessions', 'share', 'state', 'actions'] as const;
    const rows = [...list]
      .sort((a, b) => a.class.localeCompare(b.class) || a.name.localeCompare(b.name))
      .map((p) => {
        const drained = p.health.drained;
        const b = h('button', { type: 'button', class: drained ? 'undrain' : 'drain' }, t(drained ? 'platforms.undrain' : 'platforms.drain'));
        b.addEventListener(
          'click',
          () =>
            void this.guarded(async () => {
              await this.ctx.api.drain(p.id, !drained);
              await this.reload();
              this.status.textContent = t(drained ? 'platforms.undrainedDone' : 'platforms.drainedDone', { name: p.name });
            }),
        );
        return h(
          'tr',
          { 'data-id': p.id, 'data-name': p.name, 'data-health': p.health.status, 'data-drained': drained ? 'true' : 'false' },
          h('th', { scope: 'row' }, h('span', {}, p.name), h('br', {}), h('span', { class: 'muted' }, p.url)),
          h('td', {}, p.class),
          h('td', { class: `health health-${p.health.status}` }, this.health(p)),
          h('td', { class: 'num load' }, formatNumber(p.load, lang)),
          h('td', { class: 'num' }, `${formatNumber(p.activeSessions, lang, 0)} / ${formatNumber(p.capacity, lang, 0)}`),
          h('td', { class: 'num share' }, formatPercent(p.trafficShare, lang)),
          h('td', { class: 'state' }, this.state(p)),
          h('td', {}, b),
        );
      });
    return h(
      'section',
      { class: 'card wide', 'aria-labelledby': 'inst-h' },
      h('h2', { id: 'inst-h' }, t('platforms.instances')),
      rows.length === 0
        ? h('p', { class: 'muted' }, t('platforms.none'))
        : h(
            'table',
            { id: 'instances' },
            h('thead', {}, h('tr', {}, ...cols.map((c) => h('th', { scope: 'col' }, t(`platforms.col.${c}`))))),
            h('tbody', {}, ...rows),
          ),
    );
  }

  private advice(recs: AdviceView[], events: AdviceView[]): HTMLElement {
    const t = this.t;
    const lang = this.ctx.lang;
    const row = (r: AdviceView): HTMLElement =>
      h(
        'tr',
        { 'data-class': r.class, 'data-direction': r.direction },
        h('th', { scope: 'row' }, r.class),
        h('td', { class: 'num' }, formatNumber(r.current, lang, 0)),
        h('td', { class: 'num' }, formatNumber(r.desired, lang, 0)),
        h('td', { class: 'num' }, formatNumber(r.average, lang)),
        h('td', {}, t(`direction.${r.direction}`)),
        h('td', {}, r.why),
        h('td', {}, this.ctx.dateTime(r.at)),
      );
    const head = h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...(['class', 'current', 'desired', 'average', 'direction', 'why', 'at'] as const).map((c) =>
          h('th', { scope: 'col' }, t(`platforms.col.${c}`)),
        ),
      ),
    );
    const table = (id: string, list: AdviceView[], empty: MessageKey): HTMLElement =>
      list.length === 0 ? h('p', { class: 'muted' }, t(empty)) : h('table', { id }, head.cloneNode(true), h('tbody', {}, ...list.map(row)));
    const series = desiredSeries(events);
    return h(
      'section',
      { class: 'card wide', 'aria-labelledby': 'adv-h' },
      h('h2', { id: 'adv-h' }, t('platforms.advice')),
      table('recommendations', recs, 'platforms.noAdvice'),
      h('h3', {}, t('platforms.events')),
      series.length > 0
        ? h(
            'figure',
            { class: 'chart-box', id: 'advice-chart' },
            lineChart(t('platforms.chart'), series, (y) => formatNumber(y, lang, 0)),
            h('figcaption', {}, t('platforms.chart'), ' — ', series.map((s) => s.name).join(', ')),
          )
        : null,
      table('advice-events', [...events].reverse().slice(0, 50), 'platforms.noEvents'),
    );
  }
}
