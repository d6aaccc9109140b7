import type { SessionInfo, StaffRole } from '../../src/ui/wire.ts';
import { ApiError } from './api.ts';
import { h } from './dom.ts';
import type { MessageKey } from './i18n.ts';

export type Screen = 'room' | 'cashier' | 'audit' | 'images' | 'classes' | 'platforms' | 'network' | 'system';

/**
 * Which screens a role has: the room for everyone (read-only), the cashier screen for cashiers and admins, the
 * audit screen for auditors and admins, the images, seat classes, platforms, cache/DNS and system screens for admins. Only what the server allows is offered; the server refuses the rest anyway
 * (/api/v1 role checks, FORBIDDEN).
 */
export const SCREENS: Record<StaffRole, readonly Screen[]> = {
  admin: ['room', 'cashier', 'audit', 'images', 'classes', 'platforms', 'network', 'system'],
  cashier: ['room', 'cashier'],
  auditor: ['room', 'audit'],
};

export function screenFromHash(hash: string, role: StaffRole): Screen {
  const want = hash.replace(/^#\/?/, '');
  return (SCREENS[role] as readonly string[]).includes(want) ? (want as Screen) : 'room';
}

export interface ShellContext {
  session: SessionInfo;
  t: (key: MessageKey, params?: Record<string, string | number>) => string;
  languageToggle: () => HTMLElement;
  logout: () => void;
}

/** The screen links of the header: only the screens of this role. */
export function navBar(ctx: ShellContext, current: Screen): HTMLElement {
  return h(
    'nav',
    { id: 'nav', class: 'nav', 'aria-label': ctx.t('nav.label') },
    ...SCREENS[ctx.session.role].map((s) =>
      h('a', { href: `#${s}`, id: `nav-${s}`, 'aria-current': s === current ? 'page' : undefined }, ctx.t(`nav.${s}`)),
    ),
  );
}

/** The header of the cashier and audit screens (the room screen builds its own, with the live badge). */
export function headerBar(ctx: ShellContext, current: Screen, heading: string): HTMLElement {
  const logout = h('button', { type: 'button', id: 'logout' }, ctx.t('header.logout'));
  logout.addEventListener('click', () => ctx.logout());
  return h(
    'header',
    { class: 'bar' },
    h('span', { class: 'brand' }, ctx.t('app.title')),
    h('h1', {}, heading),
    navBar(ctx, current),
    h(
      'span',
      { class: 'account' },
      h('span', { id: 'whoami', class: 'who' }, `${ctx.session.username} (${ctx.t(`header.role.${ctx.session.role}`)})`),
      ctx.languageToggle(),
      logout,
    ),
  );
}

/**
 * Runs a screen's action: clears `error`, and if the action fails shows why there ("Refused (CODE): message"),
 * or goes back to the login when the session is gone (401).
 */
export async function guarded(ctx: Pick<ShellContext, 't'> & { lost: () => void }, error: HTMLElement, fn: () => Promise<void>): Promise<void> {
  error.textContent = '';
  try {
    await fn();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return ctx.lost();
    error.textContent =
      e instanceof ApiError
        ? ctx.t('desk.refused', { code: e.code, message: e.message })
        : ctx.t('desk.refused', { code: 'ERROR', message: String(e) });
  }
}
