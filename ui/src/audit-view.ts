import { AUDIT_KINDS } from '../../src/audit/format.ts';
import { splitExportStream, verifyExportWeb, type CoreVerifyResult, type SubtleLike } from '../../src/audit/verify-core.ts';
import type { AuditRecordView, CustomerView } from '../../src/ui/wire.ts';
import { ApiError, type UiApi } from './api.ts';
import { clear, h } from './dom.ts';
import type { Lang, MessageKey } from './i18n.ts';
import { headerBar, type ShellContext } from './shell.ts';

export interface AuditContext extends ShellContext {
  api: UiApi;
  lang: Lang;
  dateTime: (ms: number) => string;
  lost: () => void;
}

const PAGE = 50;

/** Which uploaded file is the manifest: two files → the *.manifest.json one; one file → the export stream. */
export function pickExport(files: ReadonlyArray<{ name: string; text: string }>): { content: string; manifestText: string } | undefined {
  if (files.length === 1) return splitExportStream(files[0]!.text);
  if (files.length !== 2) return undefined;
  const m = files.findIndex((f) => f.name.endsWith('.manifest.json'));
  if (m < 0) return undefined;
  return { content: files[1 - m]!.text, manifestText: files[m]!.text };
}

/**
 * The audit screen: search the trail (person, seat, host, time range, kind; paged by seq), download a signed export
 * (the file and its manifest, as `bootgate audit verify` reads them), and verify an uploaded export here in the
 * browser against the appliance's public key (verify-core.ts on WebCrypto): a verdict and the first broken record.
 */
export class AuditView {
  readonly root: HTMLElement;
  private customers: CustomerView[] = [];
  private readonly who = h('select', { id: 'audit-user' });
  private readonly seat = h('input', { id: 'audit-seat', autocomplete: 'off' });
  private readonly host = h('input', { id: 'audit-host', autocomplete: 'off' });
  private readonly kind: HTMLSelectElement;
  private readonly from = h('input', { id: 'audit-from', type: 'datetime-local' });
  private readonly to = h('input', { id: 'audit-to', type: 'datetime-local' });
  private readonly results = h('div', { id: 'audit-results' });
  private readonly pageInfo = h('span', { id: 'audit-page', class: 'muted' });
  private readonly prev: HTMLButtonElement;
  private readonly next: HTMLButtonElement;
  private readonly error = h('p', { id: 'audit-error', class: 'error', role: 'alert' });
  private readonly verdict = h('div', { id: 'verdict', role: 'status' });
  /** afterSeq of each page shown so far (page n starts after pages[n]) */
  private pages: number[] = [0];
  private more = false;

  constructor(private readonly ctx: AuditContext) {
    const t = this.t;
    this.kind = h(
      'select',
      { id: 'audit-kind' },
      h('option', { value: '' }, t('audit.anyKind')),
      ...AUDIT_KINDS.map((k) => h('option', { value: k }, k)),
    );
    this.prev = h('button', { type: 'button', id: 'audit-prev' }, t('audit.prev'));
    this.next = h('button', { type: 'button', id: 'audit-next' }, t('audit.next'));
    this.prev.addEventListener('click', () => {
      this.pages.pop();
      void this.search();
    });
    this.next.addEventListener('click', () => void this.search(true));
    const field = (id: string, key: MessageKey, input: HTMLElement): HTMLElement[] => [h('label', { for: id }, t(key)), input];
    const form = h(
      'form',
      { id: 'audit-search', class: 'form' },
      ...field('audit-user', 'audit.person', this.who),
      ...field('audit-seat', 'audit.seat', this.seat),
      ...field('audit-host', 'audit.host', this.host),
      ...field('audit-kind', 'audit.kind', this.kind),
      ...field('audit-from', 'audit.from', this.from),
      ...field('audit-to', 'audit.to', this.to),
      h('button', { type: 'submit', class: 'primary' }, t('audit.search')),
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.pages = [0];
      void this.search();
    });
    const format = h('select', { id: 'export-format' }, h('option', { value: 'ndjson' }, 'NDJSON'), h('option', { value: 'csv' }, 'CSV'));
    const exportBtn = h('button', { type: 'button', id: 'export-submit', class: 'primary' }, t('audit.export'));
    exportBtn.addEventListener('click', () => void this.exportFiles(format.value as 'ndjson' | 'csv', exportBtn));
    const upload = h('input', { id: 'verify-files', type: 'file', multiple: true, 'aria-label': t('audit.verifyFiles') });
    const verifyBtn = h('button', { type: 'button', id: 'verify-submit', class: 'primary' }, t('audit.verify'));
    verifyBtn.addEventListener('click', () => void this.verifyFiles(upload, verifyBtn));
    this.root = h(
      'div',
      { class: 'audit-page' },
      headerBar(ctx, 'audit', t('audit.heading')),
      h(
        'div',
        { class: 'audit-body' },
        h('section', { class: 'card', 'aria-labelledby': 'as-h' }, h('h2', { id: 'as-h' }, t('audit.searchHeading')), form),
        h(
          'section',
          { class: 'card', 'aria-labelledby': 'ex-h' },
          h('h2', { id: 'ex-h' }, t('audit.exportHeading')),
          h('p', { class: 'muted' }, t('audit.exportHint')),
          h('div', { class: 'inline' }, h('label', { for: 'export-format' }, t('audit.format')), format, exportBtn),
          h('h2', { id: 'vf-h' }, t('audit.verifyHeading')),
          h('p', { class: 'muted' }, t('audit.verifyHint')),
          h('div', { class: 'inline' }, upload, verifyBtn),
          this.verdict,
        ),
        h(
          'section',
          { class: 'card wide', 'aria-labelledby': 'ar-h' },
          h('h2', { id: 'ar-h' }, t('audit.records')),
          this.results,
          h('div', { class: 'pager' }, this.prev, this.pageInfo, this.next),
        ),
      ),
      h('div', { class: 'desk-messages' }, this.error),
    );
  }

  private t = (key: MessageKey, params?: Record<string, string | number>): string => this.ctx.t(key, params);

  async start(): Promise<void> {
    try {
      this.customers = await this.ctx.api.customers();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return this.ctx.lost();
    }
    this.who.append(
      h('option', { value: '' }, this.t('audit.anyone')),
      ...this.customers.map((c) => h('option', { value: c.id }, `${c.name} (${c.docNumber})`)),
    );
    await this.search();
  }

  stop(): void {}

  /** The filters both the search and the export take (the export has no host or kind filter: see the hint). */
  private filters(): Record<string, string> {
    const q: Record<string, string> = {};
    if (this.who.value) q.user = this.who.value;
    if (this.seat.value.trim()) q.seat = this.seat.value.trim();
    if (this.from.value) q.from = new Date(this.from.value).toISOString();
    if (this.to.value) q.to = new Date(this.to.value).toISOString();
    return q;
  }

  private fail(e: unknown): void {
    if (e instanceof ApiError && e.status === 401) return this.ctx.lost();
    this.error.textContent = e instanceof ApiError ? this.t('desk.refused', { code: e.code, message: e.message }) : String(e);
  }

  private async search(forward = false): Promise<void> {
    this.error.textContent = '';
    let rows: AuditRecordView[];
    const q = this.filters();
    if (this.host.value.trim()) q.host = this.host.value.trim();
    if (this.kind.value) q.kind = this.kind.value;
    if (forward) this.pages.push(this.lastSeq);
    q.afterSeq = String(this.pages.at(-1) ?? 0);
    q.limit = String(PAGE + 1);
    try {
      rows = await this.ctx.api.auditRecords(q);
    } catch (e) {
      if (forward) this.pages.pop();
      return this.fail(e);
    }
    this.more = rows.length > PAGE;
    this.render(rows.slice(0, PAGE));
  }

  private lastSeq = 0;

  private render(rows: AuditRecordView[]): void {
    const t = this.t;
    clear(this.results);
    this.lastSeq = rows.at(-1)?.seq ?? 0;
    this.prev.disabled = this.pages.length <= 1;
    this.next.disabled = !this.more;
    this.pageInfo.textContent = t('audit.page', { page: this.pages.length, count: rows.length });
    if (rows.length === 0) {
      this.results.append(h('p', { class: 'muted', id: 'audit-empty' }, t('audit.none')));
      return;
    }
    const cols: Array<[MessageKey, (r: AuditRecordView) => string]> = [
      ['audit.col.seq', (r) => String(r.seq)],
      ['audit.col.time', (r) => this.ctx.dateTime(Date.parse(r.time))],
      ['audit.col.kind', (r) => r.kind],
      ['audit.col.seat', (r) => r.seat ?? ''],
      ['audit.col.person', (r) => r.userName ?? r.userId ?? ''],
      ['audit.col.what', (r) => (r.kind === 'admin' ? `${r.actor ?? ''} ${r.action ?? ''} ${r.target ?? ''}` : `${r.host ?? ''}${r.url ?? ''}`)],
      ['audit.col.verdict', (r) => r.verdict ?? ''],
    ];
    this.results.append(
      h(
        'table',
        { id: 'audit-table', class: 'records' },
        h('thead', {}, h('tr', {}, ...cols.map(([k]) => h('th', {}, t(k))))),
        h('tbody', {}, ...rows.map((r) => h('tr', { 'data-seq': String(r.seq) }, ...cols.map(([, f]) => h('td', {}, f(r)))))),
      ),
    );
  }

  private async exportFiles(format: 'ndjson' | 'csv', button: HTMLButtonElement): Promise<void> {
    this.error.textContent = '';
    button.disabled = true;
    const name = `audit-export-${new Date().toISOString().replace(/[:.]/g, '-')}.${format}`;
    try {
      const text = await this.ctx.api.exportAudit({ ...this.filters(), format, fileName: name });
      const { content, manifestText } = splitExportStream(text);
      download(name, content, format === 'csv' ? 'text/csv' : 'application/x-ndjson');
      download(`${name}.manifest.json`, manifestText, 'application/json');
    } catch (e) {
      this.fail(e);
    } finally {
      button.disabled = false;
    }
  }

  private async verifyFiles(input: HTMLInputElement, button: HTMLButtonElement): Promise<void> {
    const t = this.t;
    clear(this.verdict);
    const files = await Promise.all([...(input.files ?? [])].map(async (f) => ({ name: f.name, text: await f.text() })));
    const picked = pickExport(files);
    if (!picked) {
      this.showVerdict({ ok: false, code: 'MANIFEST_MISSING', reason: t('audit.pickFiles') }, '');
      return;
    }
    button.disabled = true;
    try {
      const pem = await this.ctx.api.publicKey();
      const r = await verifyExportWeb(crypto.subtle as unknown as SubtleLike, picked.content, picked.manifestText, pem);
      this.showVerdict(r, picked.content);
    } catch (e) {
      this.fail(e);
    } finally {
      button.disabled = false;
    }
  }

  private showVerdict(r: CoreVerifyResult, content: string): void {
    const t = this.t;
    clear(this.verdict);
    if (r.ok) {
      this.verdict.append(
        h(
          'p',
          { class: 'verdict', 'data-ok': 'true', id: 'verdict-text' },
          t('audit.valid', { count: r.count, first: r.firstSeq ?? '–', last: r.lastSeq ?? '–' }),
        ),
        h('p', { class: 'muted' }, t('audit.key', { fp: r.keyFingerprint })),
      );
      return;
    }
    const where =
      r.seq !== undefined
        ? t('audit.brokenAt', { seq: r.seq, line: r.line ?? '?' })
        : r.line !== undefined
          ? t('audit.brokenLine', { line: r.line })
          : '';
    const lineText = r.line !== undefined ? (content.split(/\r?\n/)[r.line - 1] ?? '') : '';
    this.verdict.append(
      h('p', { class: 'verdict', 'data-ok': 'false', 'data-code': r.code, id: 'verdict-text' }, t('audit.broken', { code: r.code, where })),
      h('p', { id: 'verdict-reason' }, r.reason),
      lineText ? h('pre', { id: 'verdict-record', class: 'records' }, lineText.slice(0, 2000)) : '',
    );
  }
}

function download(name: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name, class: 'no-print' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
