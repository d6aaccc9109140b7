import type { AuditRecordView, BootView, TileView } from '../../src/ui/wire.ts';
import { h } from './dom.ts';
import { stepLabel, type Lang, type MessageKey } from './i18n.ts';
import { waterfall } from './model.ts';
import { formatBytes } from './format.ts';

export interface DetailContext {
  lang: Lang;
  t: (key: MessageKey, params?: Record<string, string | number>) => string;
  dateTime: (ms: number) => string;
  close: () => void;
  /** set for the roles that may wake a terminal (admin, cashier): sends Wake-on-LAN */
  wake?: (mac: string) => void;
  /** the outcome of the last action on this terminal, shown under the buttons */
  actionNote?: string;
  /** the seat's latest audit records, newest first: for the roles that may read the trail (admin, auditor) */
  audit?: readonly AuditRecordView[];
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

/** One boot as a waterfall: a row per step, its bar from the previous step to this one on a shared time axis. */
export function waterfallView(ctx: DetailContext, b: BootView): HTMLElement {
  const w = waterfall(b);
  const scale = w.totalMs > 0 ? 100 / w.totalMs : 0;
  const table = h(
    'table',
    { class: 'waterfall', 'data-boot': String(b.id) },
    h('caption', {}, ctx.dateTime(b.startedAt)),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, ctx.t('detail.step')),
        h('th', { scope: 'col' }, ctx.t('detail.at')),
        h('th', { scope: 'col' }, ctx.t('detail.took')),
        h('th', { scope: 'col' }),
      ),
    ),
  );
  const body = h('tbody');
  for (const r of w.rows) {
    const bar = h('span', { class: `bar stage-${r.stage}` });
    // CSSOM, not a style attribute: allowed under style-src 'self'
    bar.style.marginLeft = `${(r.offsetMs * scale).toFixed(2)}%`;
    bar.style.width = `${Math.max(0.5, r.durationMs * scale).toFixed(2)}%`;
    body.append(
      h(
        'tr',
        { class: 'step', 'data-stage': r.stage, ...(r.detail ? { title: r.detail } : {}) },
        h('th', { scope: 'row' }, stepLabel(ctx.lang, r.stage)),
        h('td', { class: 'num' }, `+${seconds(r.offsetMs + r.durationMs)}`),
        h('td', { class: 'num' }, seconds(r.durationMs)),
        h('td', { class: 'track' }, bar),
      ),
    );
  }
  table.append(body);
  return table;
}

/** The seat's recent audit records: time, kind and what (host or action), and the verdict. */
function auditList(ctx: DetailContext, records: readonly AuditRecordView[]): HTMLElement {
  const { t } = ctx;
  return h(
    'section',
    { id: 'detail-audit', 'aria-labelledby': 'detail-audit-heading' },
    h('h3', { id: 'detail-audit-heading' }, t('detail.audit')),
    records.length === 0
      ? h('p', { class: 'muted' }, t('detail.auditNone'))
      : h(
          'ul',
          { class: 'audit-recent' },
          ...records.map((r) =>
            h(
              'li',
              { 'data-seq': String(r.seq), 'data-kind': r.kind },
              `${ctx.dateTime(Date.parse(r.time))} · ${r.kind} · ${r.host ?? [r.action, r.target].filter(Boolean).join(' ') ?? ''}${r.verdict ? ` · ${r.verdict}` : ''}`,
            ),
          ),
        ),
  );
}

/** The terminal panel: who and where, the latest boot's waterfall, earlier boots below. */
export function detailView(ctx: DetailContext, tile: TileView, history: BootView[] | undefined): HTMLElement {
  const { t } = ctx;
  const closeButton = h('button', { type: 'button', class: 'close', id: 'detail-close' }, t('detail.close'));
  closeButton.addEventListener('click', () => ctx.close());
  const facts = h(
    'dl',
    { class: 'facts' },
    h('dt', {}, t('detail.group')),
    h('dd', {}, tile.group ?? '–'),
    h('dt', {}, t('tile.ip')),
    h('dd', {}, tile.ip ?? '–'),
    h('dt', {}, t('tile.mac')),
    h('dd', {}, tile.mac),
    h('dt', {}, t('detail.firmware')),
    h('dd', {}, tile.firmware ?? '–'),
    h('dt', {}, t('detail.lease')),
    h('dd', {}, tile.leaseExpiresAt !== null ? ctx.dateTime(tile.leaseExpiresAt) : '–'),
    h('dt', {}, t('detail.overlay')),
    h(
      'dd',
      { id: 'detail-overlay' },
      tile.overlay
        ? t('detail.overlayUse', {
            image: tile.overlay.image,
            size: formatBytes(tile.overlay.bytes, ctx.lang),
            mode: tile.overlay.mode,
            state: t(tile.overlay.inUse ? 'detail.overlayInUse' : 'detail.overlayIdle'),
          })
        : '–',
    ),
  );
  let actions: HTMLElement | undefined;
  if (ctx.wake) {
    const wake = h('button', { type: 'button', id: 'detail-wake' }, t('detail.wake'));
    const send = ctx.wake;
    wake.addEventListener('click', () => send(tile.mac));
    actions = h(
      'div',
      { class: 'actions', id: 'detail-actions' },
      wake,
      // no remote reboot exists: terminals run no agent and have no management controller the appliance reaches
      h('p', { class: 'muted', id: 'detail-reboot-note' }, t('detail.noReboot')),
      h('p', { id: 'detail-action-note', role: 'status' }, ctx.actionNote ?? ''),
    );
  }
  const earlier = (history ?? []).filter((b) => b.id !== tile.boot?.id);
  const audit = ctx.audit ? auditList(ctx, ctx.audit) : undefined;
  return h(
    'aside',
    { id: 'detail', class: 'detail', 'data-mac': tile.mac, 'aria-labelledby': 'detail-heading' },
    h('header', {}, h('h2', { id: 'detail-heading' }, t('detail.heading', { name: tile.seat ?? tile.mac })), closeButton),
    facts,
    actions,
    audit,
    h('h3', {}, t('detail.timeline')),
    tile.boot ? waterfallView(ctx, tile.boot) : h('p', { class: 'muted' }, t('detail.noBoot')),
    earlier.length > 0 && h('h3', {}, t('detail.history')),
    ...earlier.map((b) => waterfallView(ctx, b)),
  );
}
