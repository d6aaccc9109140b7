import type { AuditRecordView, BootView, OverlayUseView, QueueView, RoomEvent, RoomSnapshot, SessionInfo, TileView } from '../../src/ui/wire.ts';
import { ApiError, type UiApi } from './api.ts';
import { detailView, type DetailContext } from './detail-view.ts';
import { clear, h } from './dom.ts';
import type { Lang, MessageKey } from './i18n.ts';
import { activeMs } from '../../src/identity/billing.ts';
import { formatMoney } from './desk.ts';
import { formatBytes, formatPercent } from './format.ts';
import {
  applyEvent,
  applyQueueEvent,
  queuePlace,
  DISPLAY_STAGES,
  displayStage,
  formatDuration,
  matches,
  runningBill,
  type DisplayStage,
} from './model.ts';

export interface RoomContext {
  api: UiApi;
  lang: Lang;
  session: SessionInfo;
  t: (key: MessageKey, params?: Record<string, string | number>) => string;
  dateTime: (ms: number) => string;
  languageToggle: () => HTMLElement;
  logout: () => void;
  /** the session is gone (expired, logged out elsewhere, account changed) */
  lost: () => void;
  /** the links to the other screens of this role (shell.ts) */
  nav?: HTMLElement;
}

/**
 * The room screen: a tile per terminal, kept current by the event stream (no polling). The snapshot says which
 * event it is current to and the stream resumes from there, so nothing between the two is missed; on `resync`
 * (the server's ring no longer holds what was missed) the snapshot is reloaded.
 */
export class RoomView {
  readonly root: HTMLElement;
  private readonly tiles = new Map<string, TileView>();
  // a plain container of toggle buttons: a role=list would need listitem children, and a listitem cannot be pressed
  private readonly grid = h('div', { id: 'grid', class: 'grid' });
  private readonly count = h('p', { id: 'room-count', class: 'muted' });
  private readonly live = h('span', { id: 'live', class: 'live', 'data-state': 'connecting' });
  private readonly search: HTMLInputElement;
  private readonly stage: HTMLSelectElement;
  private readonly detailSlot = h('div', { id: 'detail-slot' });
  private selected: string | undefined;
  private queue: QueueView | null = null;
  private actionNote: { mac: string; text: string } | undefined;
  private history: BootView[] | undefined;
  /** the selected seat's latest audit records (admin and auditor only) */
  private seatAudit: AuditRecordView[] | undefined;
  private source: EventSource | undefined;
  private ticker: number | undefined;
  /** the server's clock minus ours, from the snapshot: stage ages are judged on the server's time */
  private skewMs = 0;
  private stopped = false;

  constructor(private readonly ctx: RoomContext) {
    const { t } = ctx;
    this.search = h('input', { id: 'search', type: 'search', placeholder: t('room.search'), 'aria-label': t('room.search') });
    this.stage = h(
      'select',
      { id: 'stage-filter', 'aria-label': t('room.filter') },
      h('option', { value: '' }, t('room.filter.any')),
      ...DISPLAY_STAGES.map((s) => h('option', { value: s }, t(`stage.${s}`))),
    );
    this.search.addEventListener('input', () => this.renderGrid());
    this.stage.addEventListener('change', () => this.renderGrid());
    const logout = h('button', { type: 'button', id: 'logout' }, t('header.logout'));
    logout.addEventListener('click', () => ctx.logout());
    this.live.textContent = t('header.reconnecting');
    this.root = h(
      'div',
      { class: 'room-page' },
      h(
        'header',
        { class: 'bar' },
        h('span', { class: 'brand' }, t('app.title')),
        h('h1', {}, t('room.heading')),
        ctx.nav,
        this.live,
        h(
          'span',
          { class: 'account' },
          h('span', { id: 'whoami', class: 'who' }, `${ctx.session.username} (${t(`header.role.${ctx.session.role}`)})`),
          ctx.languageToggle(),
          logout,
        ),
      ),
      h('div', { class: 'toolbar' }, this.search, this.stage, this.count),
      h('div', { class: 'room-body' }, this.grid, this.detailSlot),
    );
  }

  private now(): number {
    return Date.now() + this.skewMs;
  }

  async start(): Promise<void> {
    await this.load();
    // session times and stage ages move with the clock; a local tick, not a request
    this.ticker = window.setInterval(() => this.renderGrid(), 15_000);
  }

  stop(): void {
    this.stopped = true;
    this.source?.close();
    if (this.ticker !== undefined) window.clearInterval(this.ticker);
  }

  private async load(): Promise<void> {
    let snap: RoomSnapshot;
    try {
      snap = await this.ctx.api.room();
    } catch {
      return this.ctx.lost();
    }
    this.skewMs = snap.now - Date.now();
    this.tiles.clear();
    for (const tile of snap.tiles) this.tiles.set(tile.mac, tile);
    this.queue = snap.queue;
    this.renderGrid();
    this.renderDetail();
    this.connect(snap.eventId);
  }

  private connect(since: string): void {
    this.source?.close();
    const es = new EventSource(`/ui/api/events?since=${encodeURIComponent(since)}`);
    this.source = es;
    es.addEventListener('open', () => this.setLive(true));
    for (const type of ['boot', 'lease', 'lease-end', 'session', 'overlay', 'queue'] as const) {
      es.addEventListener(type, (m) => {
        const data = JSON.parse((m as MessageEvent<string>).data) as RoomEvent['data'];
        this.onEvent({ type, data } as RoomEvent);
      });
    }
    es.addEventListener('resync', () => {
      es.close();
      void this.load();
    });
    es.addEventListener('error', () => {
      this.setLive(false);
      // the browser reconnects by itself (with Last-Event-ID) unless the server refused the stream (401)
      if (es.readyState === EventSource.CLOSED && !this.stopped) {
        void this.ctx.api.session().then(
          (s) => (s ? void this.load() : this.ctx.lost()),
          () => window.setTimeout(() => !this.stopped && void this.load(), 2000),
        );
      }
    });
  }

  private setLive(on: boolean): void {
    this.live.dataset.state = on ? 'live' : 'reconnecting';
    this.live.textContent = this.ctx.t(on ? 'header.live' : 'header.reconnecting');
  }

  private onEvent(e: RoomEvent): void {
    if (e.type === 'queue') {
      if (e.data.kind === 'queued' || e.data.kind === 'admitted') applyEvent(this.tiles, e);
      const { queue, consistent } = applyQueueEvent(this.queue, e.data);
      this.queue = queue;
      if (!consistent) return void this.load();
      // every waiting tile's position may have moved
      return this.renderGrid();
    }
    const tile = applyEvent(this.tiles, e);
    const existing = this.grid.querySelector<HTMLElement>(`[data-mac="${tile.mac}"]`);
    const fresh = this.tileView(tile);
    if (existing) existing.replaceWith(fresh);
    else this.renderGrid();
    if (tile.mac === this.selected) {
      if (e.type === 'boot') this.history = undefined;
      this.renderDetail();
    }
  }

  private renderGrid(): void {
    const now = this.now();
    const q = this.search.value;
    const stage = this.stage.value as DisplayStage | '';
    const shown = [...this.tiles.values()].filter((tile) => matches(tile, q, stage, now));
    clear(this.grid);
    for (const tile of shown) this.grid.append(this.tileView(tile));
    if (shown.length === 0) this.grid.append(h('p', { class: 'muted empty' }, this.ctx.t('room.empty')));
    this.count.textContent = this.ctx.t('room.count', { shown: shown.length, total: this.tiles.size });
  }

  private tileView(tile: TileView): HTMLElement {
    const { t } = this.ctx;
    const now = this.now();
    const stage = displayStage(tile, now);
    const lastBoot = tile.boot ? this.ctx.dateTime(tile.boot.startedAt) : t('tile.never');
    const el = h(
      'button',
      {
        type: 'button',
        class: `tile stage-${stage}${tile.mac === this.selected ? ' selected' : ''}`,
        'data-mac': tile.mac,
        'data-stage': stage,
        'aria-pressed': tile.mac === this.selected ? 'true' : 'false',
      },
      h('span', { class: 'seat' }, tile.seat ?? t('tile.noSeat')),
      h('span', { class: 'group' }, tile.group ?? ''),
      h('span', { class: 'stage' }, t(`stage.${stage}`)),
      tile.session
        ? h(
            'span',
            { class: 'person' },
            `${tile.session.userName ?? '?'} · ${t('tile.sessionTime', { duration: formatDuration(activeMs(tile.session, now), this.ctx.t) })}`,
          )
        : h('span', { class: 'person muted' }, '–'),
      tile.session
        ? h('span', { class: 'bill' }, t('tile.bill', { amount: formatMoney(runningBill(tile, now)!.chargeMinor, this.ctx.lang) }))
        : undefined,
      this.queueLine(tile.mac),
      tile.overlay ? h('span', { class: 'overlay' }, this.overlayText(tile.overlay)) : undefined,
      h('span', { class: 'ip' }, tile.ip ?? '–'),
      h('span', { class: 'mac' }, tile.mac),
      h('span', { class: 'last-boot' }, `${t('tile.lastBoot')}: ${lastBoot}`),
    );
    el.addEventListener('click', () => this.select(tile.mac));
    return el;
  }

  private queueLine(mac: string): HTMLElement | undefined {
    const place = queuePlace(this.queue, mac);
    if (!place) return undefined;
    const { t } = this.ctx;
    return h(
      'span',
      { class: 'queue', 'data-queue': place.state },
      place.state === 'waiting'
        ? t('tile.queueWaiting', { position: place.position, of: place.of })
        : t('tile.queueHeavy', { holders: place.holders, bound: place.bound }),
    );
  }

  private overlayText(o: OverlayUseView): string {
    const { t, lang } = this.ctx;
    const size = formatBytes(o.bytes, lang);
    return o.limitBytes === null
      ? t('tile.overlay', { size })
      : t('tile.overlayOf', { size, limit: formatBytes(o.limitBytes, lang), percent: formatPercent(o.bytes / o.limitBytes, lang) });
  }

  private select(mac: string | undefined): void {
    this.selected = mac;
    this.history = undefined;
    this.seatAudit = undefined;
    this.renderGrid();
    this.renderDetail();
  }

  private renderDetail(): void {
    clear(this.detailSlot);
    const tile = this.selected ? this.tiles.get(this.selected) : undefined;
    if (!tile) return;
    this.detailSlot.append(detailView(this.detailContext(tile.mac), tile, this.history));
    if (this.history === undefined) {
      const mac = tile.mac;
      this.ctx.api.boots(mac).then(
        (boots) => {
          if (this.selected !== mac) return;
          this.history = boots;
          this.renderDetailOnly();
        },
        () => undefined,
      );
      // the seat's latest records, for the roles that read the trail (the server refuses the others anyway)
      const seat = tile.seat;
      if (seat && (this.ctx.session.role === 'admin' || this.ctx.session.role === 'auditor'))
        this.ctx.api.auditRecords({ seat, order: 'desc', limit: '10' }).then(
          (records) => {
            if (this.selected !== mac) return;
            this.seatAudit = records;
            this.renderDetailOnly();
          },
          () => undefined,
        );
    }
  }

  private renderDetailOnly(): void {
    const tile = this.selected ? this.tiles.get(this.selected) : undefined;
    clear(this.detailSlot);
    if (tile) this.detailSlot.append(detailView(this.detailContext(tile.mac), tile, this.history));
  }

  private detailContext(mac: string): DetailContext {
    const { t } = this.ctx;
    const note = this.actionNote?.mac === mac ? this.actionNote.text : undefined;
    return {
      lang: this.ctx.lang,
      t,
      dateTime: this.ctx.dateTime,
      close: () => this.select(undefined),
      ...(note !== undefined ? { actionNote: note } : {}),
      ...(this.seatAudit && this.selected === mac ? { audit: this.seatAudit } : {}),
      // the server refuses an auditor (403) whatever the page shows; the button is for the roles that may
      ...(this.ctx.session.role !== 'auditor'
        ? {
            wake: (target: string) => {
              this.ctx.api.wake(target).then(
                (r) => this.noteAction(target, r.failed === 0 ? t('detail.wakeSent') : t('detail.wakeFailed')),
                (e: unknown) => {
                  if (e instanceof ApiError && e.status === 401) return this.ctx.lost();
                  this.noteAction(
                    target,
                    t('desk.refused', { code: e instanceof ApiError ? e.code : '?', message: e instanceof Error ? e.message : String(e) }),
                  );
                },
              );
            },
          }
        : {}),
    };
  }

  private noteAction(mac: string, text: string): void {
    this.actionNote = { mac, text };
    if (this.selected === mac) this.renderDetailOnly();
  }
}
