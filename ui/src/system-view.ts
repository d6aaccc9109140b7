import type { SystemSeriesView, SystemView as SystemData } from '../../src/ui/wire.ts';
import { ApiError } from './api.ts';
import { lineChart } from './chart.ts';
import { clear, h } from './dom.ts';
import { formatBytes, formatNumber } from './format.ts';
import type { MessageKey } from './i18n.ts';
import type { AdminContext } from './images-view.ts';
import { headerBar } from './shell.ts';

/** A series value in its unit, per locale: "1.2 MB/s", "3.5/s", "12". */
export function formatSeriesValue(unit: SystemSeriesView['unit'], v: number, lang: string): string {
  if (unit === 'bytes-per-second') return `${formatBytes(v, lang)}/s`;
  if (unit === 'per-second') return `${formatNumber(v, lang, 1)}/s`;
  return formatNumber(v, lang, 0);
}

/**
 * The system screen (admin): each service of the appliance and whether it runs, the activity charts (DHCP leases,
 * TFTP and HTTP boot throughput, proxied requests per second, audit backlog) from the appliance's own samples of its
 * Prometheus registry, disk use of the data directory and the overlays, and the effective configuration with
 * secrets redacted by the server. The charts are re-read every sample interval while the screen is open.
 */
export class SystemView {
  readonly root: HTMLElement;
  private readonly body = h('div', { id: 'system', class: 'admin-body' });
  private readonly error = h('p', { id: 'system-error', class: 'error', role: 'alert' });
  private timer: number | undefined;
  private stopped = false;

  constructor(private readonly ctx: AdminContext) {
    this.root = h(
      'div',
      { class: 'admin-page' },
      headerBar(ctx, 'system', ctx.t('system.heading')),
      h('div', { class: 'desk-messages' }, this.error),
      this.body,
    );
  }

  private t = (key: MessageKey, params?: Record<string, string | number>): string => this.ctx.t(key, params);

  async start(): Promise<void> {
    await this.reload();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
  }

  private async reload(): Promise<void> {
    let next = 5000;
    try {
      const data = await this.ctx.api.system();
      next = data.sampleMs;
      this.error.textContent = '';
      this.render(data);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return this.ctx.lost();
      this.error.textContent = e instanceof ApiError ? this.t('desk.refused', { code: e.code, message: e.message }) : String(e);
    }
    if (!this.stopped) this.timer = window.setTimeout(() => void this.reload(), next);
  }

  private render(d: SystemData): void {
    const t = this.t;
    const lang = this.ctx.lang;
    clear(this.body);
    const services = h(
      'table',
      { id: 'services' },
      h('thead', {}, h('tr', {}, ...(['service', 'lan', 'status'] as const).map((c) => h('th', { scope: 'col' }, t(`system.col.${c}`))))),
      h(
        'tbody',
        {},
        ...d.services.map((s) =>
          h(
            'tr',
            { 'data-service': s.name, 'data-running': s.running ? 'true' : 'false' },
            h('th', { scope: 'row' }, s.name),
            h('td', {}, t(s.lan ? 'system.yes' : 'system.no')),
            h(
              'td',
              { class: s.running ? 'health-healthy' : 'health-unhealthy' },
              t(s.running ? 'system.running' : s.lan ? 'system.waiting' : 'system.stopped'),
            ),
          ),
        ),
      ),
    );
    const windowS = Math.round((d.sampleMs * Math.max(...d.series.map((s) => s.points.length), 0)) / 1000);
    const span = windowS < 120 ? `${formatNumber(windowS, lang, 0)} s` : `${formatNumber(Math.round(windowS / 60), lang, 0)} min`;
    const charts = h(
      'div',
      { class: 'charts' },
      ...d.series.map((s) => {
        const title = t(`series.${s.key}`);
        const last = s.points.at(-1);
        return h(
          'figure',
          { 'data-series': s.key },
          s.points.length > 0 ? lineChart(title, [{ name: s.key, points: s.points }], (v) => formatSeriesValue(s.unit, v, lang)) : null,
          h(
            'figcaption',
            {},
            title,
            ' — ',
            h('span', { class: 'now' }, last ? t('system.now', { value: formatSeriesValue(s.unit, last[1], lang) }) : t('system.noSamples')),
          ),
        );
      }),
    );
    const disk = h(
      'dl',
      { id: 'disk' },
      ...(
        [
          ['dataDir', d.disk.dataDir],
          ['dataBytes', formatBytes(d.disk.dataBytes, lang)],
          ['overlaysBytes', formatBytes(d.disk.overlaysBytes, lang)],
          ['fsFree', formatBytes(d.disk.fsFreeBytes, lang)],
          ['fsTotal', formatBytes(d.disk.fsTotalBytes, lang)],
        ] as const
      ).flatMap(([k, v]) => [h('dt', {}, t(`system.${k}`)), h('dd', { 'data-disk': k }, v)]),
    );
    this.body.append(
      h('section', { class: 'card wide', 'aria-labelledby': 'svc-h' }, h('h2', { id: 'svc-h' }, t('system.services')), services),
      h(
        'section',
        { class: 'card wide', 'aria-labelledby': 'met-h' },
        h('h2', { id: 'met-h' }, t('system.metrics', { window: span, seconds: formatNumber(d.sampleMs / 1000, lang, 0) })),
        charts,
      ),
      h('section', { class: 'card wide', 'aria-labelledby': 'disk-h' }, h('h2', { id: 'disk-h' }, t('system.disk')), disk),
      h(
        'section',
        { class: 'card wide', 'aria-labelledby': 'cfg-h' },
        h('h2', { id: 'cfg-h' }, t('system.config')),
        h('pre', { id: 'config', class: 'config', tabindex: '0' }, JSON.stringify(d.config, null, 2)),
      ),
    );
  }
}
