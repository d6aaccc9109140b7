import type { BootView, RoomSnapshot, SessionInfo } from '../../src/ui/wire.ts';

/** An error reply of /ui/api: the catalogue's code (src/errors.ts), the status and Retry-After if any. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** The UI's calls to /ui/api: same origin, the session cookie, the CSRF token on every state change. */
export class UiApi {
  csrf = '';

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && this.csrf) headers['x-csrf-token'] = this.csrf;
    const res = await fetch(`/ui/api${path}`, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    if (res.status === 204) return undefined as T;
    const data = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
    if (!res.ok) {
      const retry = Number(res.headers.get('retry-after'));
      throw new ApiError(
        res.status,
        data.error ?? 'HTTP',
        data.message ?? `HTTP ${res.status}`,
        Number.isFinite(retry) && retry > 0 ? retry : undefined,
      );
    }
    return data as T;
  }

  locale(): Promise<{ lang: string }> {
    return this.call('GET', '/locale');
  }
  async session(): Promise<SessionInfo | undefined> {
    try {
      const s = await this.call<SessionInfo>('GET', '/session');
      this.csrf = s.csrf;
      return s;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return undefined;
      throw e;
    }
  }
  async login(username: string, password: string): Promise<SessionInfo> {
    const s = await this.call<SessionInfo>('POST', '/login', { username, password });
    this.csrf = s.csrf;
    return s;
  }
  async logout(): Promise<void> {
    await this.call('POST', '/logout');
    this.csrf = '';
  }
  room(): Promise<RoomSnapshot> {
    return this.call('GET', '/room');
  }
  boots(mac: string): Promise<BootView[]> {
    return this.call('GET', `/terminals/${encodeURIComponent(mac)}/boots`);
  }
}
