import type { CustomerView, DeskSessionView } from '../../src/ui/wire.ts';
import { ApiError, type UiApi } from './api.ts';
import { deskBill, findCustomers, formatMoney, freeSeats, parseMoney, receiptLines } from './desk.ts';
import { clear, h } from './dom.ts';
import type { Lang, MessageKey } from './i18n.ts';
import { headerBar, type ShellContext } from './shell.ts';

export interface CashierContext extends ShellContext {
  api: UiApi;
  lang: Lang;
  dateTime: (ms: number) => string;
  lost: () => void;
}

const DOC_TYPES = ['id-card', 'passport', 'driving-licence', 'residence-permit'] as const;

/**
 * The cashier screen: find or register a customer (name and identity document, as /api/v1/users requires), top up
 * a member's balance, open a session at a free seat, close one and show the bill, and a receipt that prints alone
 * (app.css @media print). Every change is a /ui/api/v1 call with the session cookie and the CSRF token.
 */
export class CashierView {
  readonly root: HTMLElement;
  private customers: CustomerView[] = [];
  private open: DeskSessionView[] = [];
  private seats: string[] = [];
  private selected: CustomerView | undefined;
  private readonly status = h('p', { id: 'desk-status', class: 'status', role: 'status' });
  private readonly error = h('p', { id: 'desk-error', class: 'error', role: 'alert' });
  private readonly find = h('input', { id: 'customer-search', type: 'search' });
  private readonly list = h('ul', { id: 'customer-list', class: 'customer-list' });
  private readonly chosen = h('div', { id: 'customer-selected', class: 'card' });
  private readonly sessions = h('div', { id: 'open-sessions' });
  private readonly receipt = h('div', { id: 'receipt-slot' });

  constructor(private readonly ctx: CashierContext) {
    const { t } = ctx;
    this.find.placeholder = t('desk.find');
    this.find.setAttribute('aria-label', t('desk.find'));
    this.find.addEventListener('input', () => this.renderList());
    this.root = h(
      'div',
      { class: 'desk-page' },
      headerBar(ctx, 'cashier', t('desk.heading')),
      h(
        'div',
        { class: 'desk-body' },
        h('section', { class: 'card', 'aria-labelledby': 'find-h' }, h('h2', { id: 'find-h' }, t('desk.customers')), this.find, this.list),
        h('section', { class: 'card', 'aria-labelledby': 'reg-h' }, h('h2', { id: 'reg-h' }, t('desk.register')), this.registerForm()),
        h('section', { 'aria-labelledby': 'sel-h' }, h('h2', { id: 'sel-h' }, t('desk.selected')), this.chosen),
        h('section', { class: 'card wide', 'aria-labelledby': 'open-h' }, h('h2', { id: 'open-h' }, t('desk.open')), this.sessions),
      ),
      h('div', { class: 'desk-messages' }, this.status, this.error),
      this.receipt,
    );
  }

  async start(): Promise<void> {
    await this.reload();
    // another desk's (or the CLI's) open, pause, resume and close show here as they happen: the session events
    // of the room's stream refresh the open-sessions table (not the forms, which may hold what is being typed)
    if (this.eventId === undefined || this.stopped) return;
    const es = new EventSource(`/ui/api/events?since=${encodeURIComponent(this.eventId)}`);
    this.source = es;
    for (const type of ['session', 'resync'] as const) es.addEventListener(type, () => void this.refreshSessions());
  }

  stop(): void {
    this.stopped = true;
    this.source?.close();
  }

  private source: EventSource | undefined;
  private eventId: string | undefined;
  private stopped = false;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;

  /** Re-reads the open sessions (one at a time; events during a read cause one more read). */
  private async refreshSessions(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        try {
          this.open = await this.ctx.api.openSessions();
        } catch (e) {
          if (e instanceof ApiError && e.status === 401) return this.ctx.lost();
          return this.showError(e);
        }
        this.renderSessions();
      } while (this.refreshAgain && !this.stopped);
    })();
    try {
      await this.refreshing;
    } finally {
      this.refreshing = undefined;
    }
  }

  private async reload(): Promise<void> {
    try {
      const [customers, open, room] = await Promise.all([this.ctx.api.customers(), this.ctx.api.openSessions(), this.ctx.api.room()]);
      this.eventId ??= room.eventId;
      this.customers = customers;
      this.open = open;
      this.seats = freeSeats(room.tiles, open);
      if (this.selected) this.selected = customers.find((c) => c.id === this.selected!.id);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return this.ctx.lost();
      this.showError(e);
    }
    this.renderList();
    this.renderSelected();
    this.renderSessions();
  }

  private showError(e: unknown): void {
    const { t } = this.ctx;
    this.error.textContent =
      e instanceof ApiError ? t('desk.refused', { code: e.code, message: e.message }) : t('desk.refused', { code: 'ERROR', message: String(e) });
  }

  private async act(fn: () => Promise<void>): Promise<void> {
    this.error.textContent = '';
    this.status.textContent = '';
    try {
      await fn();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return this.ctx.lost();
      this.showError(e);
    }
    await this.reload();
  }

  private docLabel = (d: string): string => ((DOC_TYPES as readonly string[]).includes(d) ? this.t(`doc.${d as (typeof DOC_TYPES)[number]}`) : d);

  private t = (key: MessageKey, params?: Record<string, string | number>): string => this.ctx.t(key, params);

  private registerForm(): HTMLElement {
    const t = this.t;
    const name = h('input', { id: 'reg-name', required: true, maxlength: '200', autocomplete: 'off' });
    const docType = h('select', { id: 'reg-doc-type' }, ...DOC_TYPES.map((d) => h('option', { value: d }, t(`doc.${d}`))));
    const docNumber = h('input', { id: 'reg-doc-number', required: true, maxlength: '100', autocomplete: 'off' });
    const docCountry = h('input', { id: 'reg-doc-country', maxlength: '60', autocomplete: 'off', placeholder: 'FR' });
    const form = h(
      'form',
      { id: 'register-form', class: 'form' },
      h('label', { for: 'reg-name' }, t('desk.name')),
      name,
      h('label', { for: 'reg-doc-type' }, t('desk.docType')),
      docType,
      h('label', { for: 'reg-doc-number' }, t('desk.docNumber')),
      docNumber,
      h('label', { for: 'reg-doc-country' }, t('desk.docCountry')),
      docCountry,
      h('button', { type: 'submit', class: 'primary' }, t('desk.registerSubmit')),
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.act(async () => {
        const c = await this.ctx.api.addCustomer({
          name: name.value,
          docType: docType.value,
          docNumber: docNumber.value,
          ...(docCountry.value.trim() ? { docCountry: docCountry.value } : {}),
        });
        this.selected = c;
        form.reset();
        this.status.textContent = t('desk.registered', { name: c.name });
      });
    });
    return form;
  }

  private renderList(): void {
    clear(this.list);
    const found = findCustomers(this.customers, this.find.value).slice(0, 50);
    for (const c of found) {
      const b = h(
        'button',
        { type: 'button', class: 'customer', 'data-id': c.id, 'aria-pressed': c.id === this.selected?.id ? 'true' : 'false' },
        `${c.name} · ${this.docLabel(c.docType)} ${c.docNumber}`,
      );
      b.addEventListener('click', () => {
        this.selected = c;
        this.renderList();
        this.renderSelected();
      });
      this.list.append(h('li', {}, b));
    }
    if (found.length === 0) this.list.append(h('li', { class: 'muted' }, this.t('desk.noCustomer')));
  }

  private renderSelected(): void {
    const t = this.t;
    clear(this.chosen);
    const c = this.selected;
    if (!c) {
      this.chosen.append(h('p', { class: 'muted' }, t('desk.chooseCustomer')));
      return;
    }
    const seat = h('select', { id: 'open-seat', 'aria-label': t('desk.seat') }, ...this.seats.map((s) => h('option', { value: s }, s)));
    const openBtn = h('button', { type: 'submit', id: 'open-submit', class: 'primary', disabled: this.seats.length === 0 }, t('desk.openSubmit'));
    const openForm = h('form', { id: 'open-form', class: 'inline' }, h('label', { for: 'open-seat' }, t('desk.seat')), seat, openBtn);
    openForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.act(async () => {
        const s = await this.ctx.api.openSession(c.id, seat.value);
        this.status.textContent = t('desk.opened', { name: c.name, seat: s.seat });
      });
    });
    const amount = h('input', { id: 'topup-amount', inputmode: 'decimal', size: '8', 'aria-label': t('desk.topUpAmount') });
    const topForm = h(
      'form',
      { id: 'topup-form', class: 'inline' },
      h('label', { for: 'topup-amount' }, t('desk.topUpAmount')),
      amount,
      h('button', { type: 'submit' }, t('desk.topUp')),
    );
    topForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const minor = parseMoney(amount.value);
      if (minor === undefined) {
        this.error.textContent = t('desk.badAmount');
        return;
      }
      void this.act(async () => {
        const after = await this.ctx.api.topUp(c.id, minor);
        this.status.textContent = t('desk.toppedUp', { balance: formatMoney(after.balanceMinor, this.ctx.lang) });
      });
    });
    this.chosen.append(
      h('p', { id: 'selected-name', class: 'big' }, c.name),
      h('p', {}, `${t('desk.docType')}: ${this.docLabel(c.docType)} · ${c.docNumber}${c.docCountry ? ` (${c.docCountry})` : ''}`),
      h('p', { id: 'selected-balance' }, c.member ? t('desk.balance', { amount: formatMoney(c.balanceMinor, this.ctx.lang) }) : t('desk.notMember')),
      this.seats.length === 0 ? h('p', { class: 'muted' }, t('desk.noFreeSeat')) : openForm,
      topForm,
    );
  }

  private renderSessions(): void {
    const t = this.t;
    clear(this.sessions);
    if (this.open.length === 0) {
      this.sessions.append(h('p', { class: 'muted' }, t('desk.noOpen')));
      return;
    }
    const rows = this.open.map((s) => {
      const pay = h(
        'select',
        { 'aria-label': t('desk.payment'), class: 'close-payment' },
        h('option', { value: '' }, t('payment.auto')),
        h('option', { value: 'desk' }, t('payment.desk')),
        h('option', { value: 'member' }, t('payment.member')),
      );
      const close = h('button', { type: 'button', class: 'close-session', 'data-seat': s.seat }, t('desk.close'));
      close.addEventListener('click', () => {
        void this.act(async () => {
          const closed = await this.ctx.api.closeSession(s.seat, pay.value === '' ? undefined : (pay.value as 'member' | 'desk'));
          this.showReceipt(closed);
        });
      });
      const paused = s.pausedAt !== null;
      const pauseBtn = h(
        'button',
        { type: 'button', class: paused ? 'resume-session' : 'pause-session', 'data-seat': s.seat },
        t(paused ? 'desk.resume' : 'desk.pause'),
      );
      pauseBtn.addEventListener('click', () => {
        void this.act(async () => {
          const after = await this.ctx.api.pauseSession(s.seat, paused ? 'resume' : 'pause');
          this.status.textContent = t(after.pausedAt === null ? 'desk.resumed' : 'desk.paused', { seat: s.seat });
        });
      });
      return h(
        'tr',
        { 'data-seat': s.seat, 'data-paused': paused ? 'true' : 'false' },
        h('td', {}, s.seat),
        h('td', {}, s.userName ?? s.userId),
        h('td', {}, this.ctx.dateTime(Date.parse(s.openedAt))),
        h('td', {}, formatMoney(s.rateMinorPerHour, this.ctx.lang)),
        h(
          'td',
          { class: 'running-bill' },
          formatMoney(deskBill(s, Date.now()).chargeMinor, this.ctx.lang),
          paused
            ? h('span', { class: 'paused-note' }, ` · ${t('desk.pausedSince', { time: this.ctx.dateTime(Date.parse(s.pausedAt!)) })}`)
            : undefined,
        ),
        h('td', {}, pauseBtn, ' ', pay, ' ', close),
      );
    });
    this.sessions.append(
      h(
        'table',
        { id: 'sessions-table' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', {}, t('desk.seat')),
            h('th', {}, t('desk.customer')),
            h('th', {}, t('desk.since')),
            h('th', {}, t('desk.rate')),
            h('th', {}, t('desk.runningBill')),
            h('th', {}, ''),
          ),
        ),
        h('tbody', {}, ...rows),
      ),
    );
  }

  /** The bill of a closed session, shown on the screen and printable alone (the rest of the page is hidden in print). */
  private showReceipt(s: DeskSessionView): void {
    const t = this.t;
    clear(this.receipt);
    const lines = receiptLines(s, this.ctx.lang, this.ctx.dateTime, (p) => t(p === 'member' ? 'payment.member' : 'payment.desk'));
    const print = h('button', { type: 'button', id: 'receipt-print', class: 'primary no-print' }, t('receipt.print'));
    print.addEventListener('click', () => window.print());
    const dismiss = h('button', { type: 'button', id: 'receipt-close', class: 'no-print' }, t('detail.close'));
    dismiss.addEventListener('click', () => clear(this.receipt));
    this.receipt.append(
      h(
        'section',
        { id: 'receipt', class: 'receipt', 'aria-labelledby': 'receipt-h' },
        h('h2', { id: 'receipt-h' }, t('receipt.heading')),
        h('p', { class: 'muted' }, `${t('app.title')} · ${s.id}`),
        h('dl', {}, ...lines.flatMap((l) => [h('dt', {}, t(l.key)), h('dd', { 'data-line': l.key.slice(8) }, l.value)])),
        h('div', { class: 'no-print actions' }, print, dismiss),
      ),
    );
    this.status.textContent = t('desk.closed', { seat: s.seat, amount: formatMoney(s.chargeMinor ?? 0, this.ctx.lang) });
  }
}
