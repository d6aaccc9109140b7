import type { ImageView, OverlayTerminalView, TileView } from '../../src/ui/wire.ts';
import type { UiApi } from './api.ts';
import { clear, h } from './dom.ts';
import { formatBytes } from './format.ts';
import type { Lang, MessageKey } from './i18n.ts';
import { guarded, headerBar, type ShellContext } from './shell.ts';

export interface AdminContext extends ShellContext {
  api: UiApi;
  lang: Lang;
  dateTime: (ms: number) => string;
  lost: () => void;
}

const MODES = ['discard', 'keep', 'super'] as const;

/** How many overlays are pinned to each version of an image (the "who is on which version" column). */
export function terminalsPerVersion(overlays: readonly OverlayTerminalView[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const o of overlays) if (o.baseVersion !== null) out.set(o.baseVersion, (out.get(o.baseVersion) ?? 0) + 1);
  return out;
}

/**
 * The images and overlays screen (admin): each golden image with its versions (roll back = make one current
 * again) and how many terminals are on each; per terminal its overlay (the version it is pinned to, size, mode,
 * in use), a mode menu, reset, and for a super-client the commit of its overlay as the next version. Every action
 * is a /ui/api/v1 call to the overlay API (src/api/overlay-api.ts), which writes its audit record.
 */
export class ImagesView {
  readonly root: HTMLElement;
  private readonly body = h('div', { id: 'images', class: 'admin-body' });
  private readonly status = h('p', { id: 'images-status', class: 'status', role: 'status' });
  private readonly error = h('p', { id: 'images-error', class: 'error', role: 'alert' });
  private seats = new Map<string, string>();

  constructor(private readonly ctx: AdminContext) {
    this.root = h(
      'div',
      { class: 'admin-page' },
      headerBar(ctx, 'images', ctx.t('images.heading')),
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
      const [images, room] = await Promise.all([this.ctx.api.images(), this.ctx.api.room()]);
      this.seats = new Map(room.tiles.filter((x: TileView) => x.seat).map((x) => [x.mac, x.seat!]));
      const overlays = await Promise.all(images.map((i) => this.ctx.api.overlays(i.image)));
      clear(this.body);
      if (images.length === 0) this.body.append(h('p', { class: 'muted' }, this.t('images.none')));
      images.forEach((img, i) => this.body.append(this.imageCard(img, overlays[i]!)));
    });
  }

  /** run an action, show its outcome, then show the state the appliance reports now */
  private act(fn: () => Promise<string>): void {
    void this.guarded(async () => {
      this.status.textContent = '';
      const done = await fn();
      await this.reload();
      this.status.textContent = done;
    });
  }

  private imageCard(img: ImageView, overlays: OverlayTerminalView[]): HTMLElement {
    const t = this.t;
    const per = terminalsPerVersion(overlays);
    const versions = h(
      'table',
      { class: 'versions' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...(['version', 'created', 'parent', 'note', 'terminals', 'actions'] as const).map((c) => h('th', { scope: 'col' }, t(`images.col.${c}`))),
        ),
      ),
      h(
        'tbody',
        {},
        ...[...img.versions].reverse().map((v) => {
          const current = v.version === img.current;
          let action: HTMLElement = h('span', { class: 'badge' }, t('images.isCurrent'));
          if (!current) {
            action = h('button', { type: 'button', class: 'rollback' }, t('images.rollback'));
            action.addEventListener('click', () =>
              this.act(async () => {
                await this.ctx.api.rollbackImage(img.image, v.version);
                return t('images.rolledBack', { image: img.image, version: v.version });
              }),
            );
          }
          return h(
            'tr',
            { 'data-version': String(v.version), class: current ? 'current' : undefined },
            h('td', { class: 'num' }, `v${v.version}`),
            h('td', {}, this.ctx.dateTime(Date.parse(v.createdAt))),
            h('td', {}, v.parent !== undefined ? `v${v.parent}` : t('images.golden')),
            h('td', {}, v.note ?? ''),
            h('td', { class: 'num on-version' }, String(per.get(v.version) ?? 0)),
            h('td', {}, action),
          );
        }),
      ),
    );
    const rows = overlays.map((o) => this.overlayRow(img, o));
    return h(
      'section',
      { class: 'card wide image', 'data-image': img.image, 'aria-labelledby': `img-${img.image}` },
      h('h2', { id: `img-${img.image}` }, img.image),
      h('p', { class: 'current-version' }, t('images.current', { version: `v${img.current}` })),
      h('h3', {}, t('images.versions')),
      versions,
      h('h3', {}, t('images.overlays')),
      rows.length === 0
        ? h('p', { class: 'muted' }, t('images.noOverlays'))
        : h(
            'table',
            { class: 'overlays' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ...(['terminal', 'onVersion', 'size', 'state', 'mode', 'actions'] as const).map((c) =>
                  h('th', { scope: 'col' }, t(`images.col.${c}`)),
                ),
              ),
            ),
            h('tbody', {}, ...rows),
          ),
    );
  }

  private overlayRow(img: ImageView, o: OverlayTerminalView): HTMLElement {
    const t = this.t;
    const seat = this.seats.get(o.mac);
    const mode = h(
      'select',
      { class: 'overlay-mode', 'aria-label': t('images.modeLabel', { mac: o.mac }) },
      ...MODES.map((m) => h('option', { value: m, selected: m === o.mode }, t(`mode.${m}`))),
    );
    const setMode = h('button', { type: 'button', class: 'set-mode' }, t('images.setMode'));
    setMode.addEventListener('click', () =>
      this.act(async () => {
        await this.ctx.api.setOverlayMode(o.mac, mode.value);
        return t('images.modeSet', { mac: o.mac, mode: t(`mode.${mode.value as (typeof MODES)[number]}`) });
      }),
    );
    const reset = h('button', { type: 'button', class: 'reset', disabled: o.inUse || o.overlayMode === null }, t('images.reset'));
    reset.addEventListener('click', () =>
      this.act(async () => {
        await this.ctx.api.resetOverlay(img.image, o.mac);
        return t('images.resetDone', { mac: o.mac });
      }),
    );
    const actions: HTMLElement[] = [h('span', { class: 'inline' }, mode, setMode), reset];
    if (o.overlayMode === 'super') {
      const note = h('input', { class: 'commit-note', maxlength: '200', 'aria-label': t('images.commitNote'), placeholder: t('images.commitNote') });
      const commit = h('button', { type: 'button', class: 'commit primary' }, t('images.commit'));
      commit.addEventListener('click', () =>
        this.act(async () => {
          const v = await this.ctx.api.commitImage(img.image, o.mac, note.value.trim());
          return t('images.committed', { image: img.image, version: `v${v.version}`, mac: o.mac });
        }),
      );
      actions.push(h('span', { class: 'inline' }, note, commit));
    }
    return h(
      'tr',
      { 'data-mac': o.mac },
      h('th', { scope: 'row' }, seat ? `${seat} · ${o.mac}` : o.mac),
      h('td', { class: 'num version' }, o.baseVersion !== null ? `v${o.baseVersion}` : '–'),
      h('td', { class: 'num size' }, o.overlayMode !== null ? formatBytes(o.bytes, this.ctx.lang) : '–'),
      h(
        'td',
        { class: 'state' },
        o.overlayMode === null ? t('images.noOverlay') : `${t(`mode.${o.overlayMode}`)} · ${o.inUse ? t('images.inUse') : t('images.idle')}`,
      ),
      h('td', {}, t(`mode.${o.mode}`)),
      h('td', { class: 'actions' }, ...actions),
    );
  }
}
