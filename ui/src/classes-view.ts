import type { SeatClassesView, SeatClassView } from '../../src/ui/wire.ts';
import { parseMoney } from './desk.ts';
import { clear, h } from './dom.ts';
import { formatBytes } from './format.ts';
import type { MessageKey } from './i18n.ts';
import type { AdminContext } from './images-view.ts';
import { formatDuration } from './model.ts';
import { guarded, headerBar } from './shell.ts';

const GiB = 2 ** 30;

/** "0", "0.00" or a positive amount → minor units (a class may be free); undefined otherwise. */
export function parseRate(text: string): number | undefined {
  return /^\s*0+(?:[.,]0{1,2})?\s*$/.test(text) ? 0 : parseMoney(text);
}

/** GiB as typed ("1.25", "1,5") → bytes; '' → null (the default); undefined when not a size of at least 1 MiB. */
export function parseGiB(text: string): number | null | undefined {
  if (text.trim() === '') return null;
  const m = /^\s*(\d{1,6})(?:[.,](\d{1,3}))?\s*$/.exec(text);
  if (!m) return undefined;
  const bytes = Math.round(Number(`${m[1]}.${m[2] ?? '0'}`) * GiB);
  return bytes >= 2 ** 20 ? bytes : undefined;
}

/** bytes → the GiB the input shows (up to three decimals, a dot: what parseGiB reads back) */
export const gibText = (bytes: number | null): string => (bytes === null ? '' : String(Math.round((bytes / GiB) * 1000) / 1000));

/**
 * The seat-class screen (admin): per class its rate, the boot profile its seats get, their overlay bound, with
 * the overlay size the measured write-back of the chosen profile's image recommends (p95 of past sessions), and
 * the overlay disk's forecast. Warnings only: the server refuses no boot for them.
 */
export class ClassesView {
  readonly root: HTMLElement;
  private readonly body = h('div', { id: 'classes', class: 'admin-body' });
  private readonly status = h('p', { id: 'classes-status', class: 'status', role: 'status' });
  private readonly error = h('p', { id: 'classes-error', class: 'error', role: 'alert' });

  constructor(private readonly ctx: AdminContext) {
    this.root = h(
      'div',
      { class: 'admin-page' },
      headerBar(ctx, 'classes', ctx.t('classes.heading')),
      h('div', { class: 'desk-messages' }, this.status, this.error),
      this.body,
    );
  }

  private t = (key: MessageKey, params?: Record<string, string | number>): string => this.ctx.t(key, params);

  async start(): Promise<void> {
    await guarded(this.ctx, this.error, async () => this.render(await this.ctx.api.seatClasses()));
  }
  stop(): void {}

  private render(v: SeatClassesView): void {
    clear(this.body);
    this.body.append(this.disk(v), this.table(v), this.newClass(v));
  }

  private disk(v: SeatClassesView): HTMLElement {
    const t = this.t;
    const lang = this.ctx.lang;
    const lines: HTMLElement[] = [];
    if (v.disk)
      lines.push(
        h('p', { id: 'classes-disk' }, t('classes.disk', { free: formatBytes(v.disk.freeBytes, lang), total: formatBytes(v.disk.totalBytes, lang) })),
      );
    const f = v.forecast;
    if (f.bytesPerHour !== null && f.hoursToFull !== null)
      lines.push(
        h(
          'p',
          { id: 'classes-forecast', class: 'warning' },
          t('classes.growth', { rate: formatBytes(f.bytesPerHour, lang), hours: formatDuration(f.hoursToFull * 3_600_000, t) }),
        ),
      );
    else if (f.bytesPerHour !== null) lines.push(h('p', { id: 'classes-forecast', class: 'muted' }, t('classes.notGrowing')));
    if (v.disk && v.worstCaseBytes !== null && v.worstCaseBytes > v.disk.freeBytes)
      lines.push(
        h(
          'p',
          { id: 'classes-worst', class: 'warning' },
          t('classes.worst', { worst: formatBytes(v.worstCaseBytes, lang), free: formatBytes(v.disk.freeBytes, lang) }),
        ),
      );
    return h('section', { class: 'card wide', 'aria-label': t('classes.diskHeading') }, h('h2', {}, t('classes.diskHeading')), ...lines);
  }

  /** The row's inputs for one class (or a new one): rate, profile, limit, and the recommendation line under them. */
  private editor(
    v: SeatClassesView,
    c: SeatClassView | undefined,
    save: (x: { rateMinorPerHour: number; profile: string | null; overlayLimitBytes: number | null }) => void,
  ) {
    const t = this.t;
    const lang = this.ctx.lang;
    const rate = h('input', {
      class: 'class-rate',
      inputmode: 'decimal',
      'aria-label': t('classes.rate'),
      // plain digits and a dot, what parseRate reads back (a cashier's comma works too)
      value: c ? (c.rateMinorPerHour / 100).toFixed(2) : '',
    });
    const profile = h(
      'select',
      { class: 'class-profile', 'aria-label': t('classes.profile') },
      h('option', { value: '' }, t('classes.profileDefault', { name: v.defaultProfile })),
      ...v.profiles.map((p) => h('option', { value: p.name, selected: c?.profile === p.name }, p.image ? `${p.name} (${p.image})` : p.name)),
    );
    const limit = h('input', {
      class: 'class-limit',
      inputmode: 'decimal',
      'aria-label': t('classes.limit'),
      placeholder: t('classes.limitDefault', {
        size: v.defaultLimitBytes === null ? t('classes.limitDisk') : formatBytes(v.defaultLimitBytes, lang),
      }),
      value: gibText(c?.overlayLimitBytes ?? null),
    });
    const advice = h('p', { class: 'class-advice muted' });
    const showAdvice = (): void => {
      clear(advice);
      const p = v.profiles.find((x) => x.name === (profile.value || v.defaultProfile));
      const r = p?.recommendation;
      if (!p?.image || !r) return void advice.append(t('classes.noImage'));
      if (r.recommendedBytes === null || r.p95Bytes === null)
        return void advice.append(t('classes.recommendFew', { image: p.image, samples: r.samples }));
      const use = h('button', { type: 'button', class: 'class-use' }, t('classes.use'));
      const bytes = r.recommendedBytes;
      use.addEventListener('click', () => (limit.value = gibText(bytes)));
      advice.append(
        t('classes.recommend', { image: p.image, size: formatBytes(bytes, lang), p95: formatBytes(r.p95Bytes, lang), samples: r.samples }),
        ' ',
        use,
      );
    };
    profile.addEventListener('change', showAdvice);
    showAdvice();
    const submit = (): void => {
      const rateMinor = parseRate(rate.value);
      if (rateMinor === undefined) return void (this.error.textContent = t('classes.badRate'));
      const bound = parseGiB(limit.value);
      if (bound === undefined) return void (this.error.textContent = t('classes.badLimit'));
      save({ rateMinorPerHour: rateMinor, profile: profile.value === '' ? null : profile.value, overlayLimitBytes: bound });
    };
    return { rate, profile, limit, advice, submit };
  }

  private saveClass(name: string, x: { rateMinorPerHour: number; profile: string | null; overlayLimitBytes: number | null }): void {
    void guarded(this.ctx, this.error, async () => {
      this.render(await this.ctx.api.setSeatClass(name, x));
      this.status.textContent = this.t('classes.saved', { name });
    });
  }

  private table(v: SeatClassesView): HTMLElement {
    const t = this.t;
    const rows = v.classes.map((c) => {
      const e = this.editor(v, c, (x) => this.saveClass(c.name, x));
      const save = h('button', { type: 'button', class: 'class-save primary' }, t('classes.save'));
      save.addEventListener('click', () => e.submit());
      return h(
        'tr',
        { 'data-class': c.name },
        h('th', { scope: 'row' }, c.name),
        h('td', { class: 'num' }, String(c.seats)),
        h('td', {}, e.rate),
        h('td', {}, e.profile, e.advice),
        h('td', {}, e.limit),
        h('td', {}, save),
      );
    });
    return h(
      'section',
      { class: 'card wide' },
      h(
        'table',
        { id: 'classes-table' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...(['classes.name', 'classes.seats', 'classes.rate', 'classes.profile', 'classes.limit'] as const).map((k) =>
              h('th', { scope: 'col' }, t(k)),
            ),
            h('th', { scope: 'col' }, ''),
          ),
        ),
        h('tbody', {}, ...rows),
      ),
    );
  }

  private newClass(v: SeatClassesView): HTMLElement {
    const t = this.t;
    const name = h('input', { id: 'class-new-name', 'aria-label': t('classes.name'), placeholder: t('classes.name') });
    const e = this.editor(v, undefined, (x) => this.saveClass(name.value.trim(), x));
    const add = h('button', { type: 'submit', id: 'class-add', class: 'primary' }, t('classes.add'));
    const form = h(
      'form',
      { id: 'class-new', class: 'card wide' },
      h('h2', {}, t('classes.new')),
      name,
      ' ',
      e.rate,
      ' ',
      e.profile,
      ' ',
      e.limit,
      ' ',
      add,
      e.advice,
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      e.submit();
    });
    return form;
  }
}
