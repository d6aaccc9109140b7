import { ApiError, type UiApi } from './api.ts';
import { h } from './dom.ts';
import type { MessageKey } from './i18n.ts';
import type { SessionInfo } from '../../src/ui/wire.ts';

export interface LoginContext {
  api: UiApi;
  t: (key: MessageKey, params?: Record<string, string | number>) => string;
  languageToggle: () => HTMLElement;
  loggedIn: (s: SessionInfo) => void;
}

/** The login form: user name and password, posted as JSON; failures and the lockout shown in words. */
export function loginView(ctx: LoginContext): HTMLElement {
  const { t } = ctx;
  const user = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { id: 'login-error', class: 'error', role: 'alert' });
  const submit = h('button', { type: 'submit' }, t('login.submit'));
  const form = h(
    'form',
    { id: 'login-form', class: 'login' },
    h('h1', {}, t('login.heading')),
    h('label', { for: 'login-username' }, t('login.username')),
    user,
    h('label', { for: 'login-password' }, t('login.password')),
    pass,
    submit,
    error,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    error.textContent = '';
    ctx.api.login(user.value, pass.value).then(
      (s) => ctx.loggedIn(s),
      (e: unknown) => {
        submit.disabled = false;
        pass.value = '';
        if (e instanceof ApiError && e.code === 'LOGIN_RATE_LIMITED') error.textContent = t('login.limited', { seconds: e.retryAfterSeconds ?? 300 });
        else if (e instanceof ApiError && e.code === 'LOGIN_FAILED') error.textContent = t('login.failed');
        else error.textContent = t('login.error', { message: (e as Error).message });
        pass.focus();
      },
    );
  });
  queueMicrotask(() => user.focus());
  return h('div', { class: 'login-page' }, h('header', { class: 'bar' }, h('span', { class: 'brand' }, t('app.title')), ctx.languageToggle()), form);
}
