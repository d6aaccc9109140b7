import type { SessionInfo } from '../../src/ui/wire.ts';
import { UiApi } from './api.ts';
import { clear, h } from './dom.ts';
import { isLang, LANGUAGE_NAMES, LANGUAGES, message, type Lang, type MessageKey } from './i18n.ts';
import { loginView } from './login-view.ts';
import { AuditView } from './audit-view.ts';
import { CashierView } from './cashier-view.ts';
import { ImagesView } from './images-view.ts';
import { PlatformsView } from './platforms-view.ts';
import { ClassesView } from './classes-view.ts';
import { NetworkView } from './network-view.ts';
import { SystemView } from './system-view.ts';
import { RoomView } from './room-view.ts';
import { navBar, screenFromHash } from './shell.ts';

const LANG_KEY = 'bootgate.lang';

/** The application shell: language, the login page or the room screen. */
class App {
  private readonly api = new UiApi();
  private room: { stop(): void } | undefined;
  private session: SessionInfo | undefined;

  constructor(
    private readonly root: HTMLElement,
    private lang: Lang,
  ) {}

  private t = (key: MessageKey, params?: Record<string, string | number>): string => message(this.lang, key, params);
  private dateTime = (ms: number): string => new Intl.DateTimeFormat(this.lang, { dateStyle: 'short', timeStyle: 'medium' }).format(ms);

  /** The language menu: every catalogue by its own name; the choice is remembered in localStorage. */
  private languageToggle = (): HTMLElement => {
    const select = h(
      'select',
      { id: 'lang-select', 'aria-label': this.t('header.language') },
      ...LANGUAGES.map((l) => h('option', { value: l, lang: l, selected: l === this.lang }, LANGUAGE_NAMES[l])),
    );
    select.addEventListener('change', () => {
      if (!isLang(select.value)) return;
      this.lang = select.value;
      try {
        localStorage.setItem(LANG_KEY, this.lang);
      } catch {
        /* private mode: the choice lasts for this page */
      }
      this.render();
    });
    return select;
  };

  async start(): Promise<void> {
    this.session = await this.api.session();
    window.addEventListener('hashchange', () => this.render());
    this.render();
  }

  private render(): void {
    document.documentElement.lang = this.lang;
    document.title = this.t('app.title');
    this.room?.stop();
    this.room = undefined;
    clear(this.root);
    if (!this.session) {
      this.root.append(
        loginView({
          api: this.api,
          t: this.t,
          languageToggle: this.languageToggle,
          loggedIn: (s) => {
            this.session = s;
            this.render();
          },
        }),
      );
      return;
    }
    const logout = (): void => {
      void this.api.logout().finally(() => this.lost());
    };
    const shell = { session: this.session, t: this.t, languageToggle: this.languageToggle, logout };
    const screen = screenFromHash(location.hash, this.session.role);
    const common = { ...shell, api: this.api, lang: this.lang, dateTime: this.dateTime, lost: () => this.lost() };
    const view =
      screen === 'cashier'
        ? new CashierView(common)
        : screen === 'audit'
          ? new AuditView(common)
          : screen === 'images'
            ? new ImagesView(common)
            : screen === 'classes'
              ? new ClassesView(common)
              : screen === 'platforms'
                ? new PlatformsView(common)
                : screen === 'network'
                  ? new NetworkView(common)
                  : screen === 'system'
                    ? new SystemView(common)
                    : new RoomView({ ...common, nav: navBar(shell, 'room') });
    this.room = view;
    this.root.append(view.root);
    void view.start();
  }

  private lost(): void {
    this.session = undefined;
    this.render();
  }
}

async function main(): Promise<void> {
  const root = document.getElementById('app');
  if (!root) return;
  let stored: string | null = null;
  try {
    stored = localStorage.getItem(LANG_KEY);
  } catch {
    /* no storage */
  }
  const api = new UiApi();
  const lang = isLang(stored)
    ? stored
    : await api.locale().then(
        (l) => (isLang(l.lang) ? l.lang : 'en'),
        () => 'en' as const,
      );
  await new App(root, lang).start();
}

void main();
