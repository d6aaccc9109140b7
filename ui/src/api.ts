import type {
  AdviceView,
  AuditRecordView,
  BootView,
  CustomerView,
  DeskSessionView,
  ImageView,
  OverlayTerminalView,
  PlatformView,
  RoomSnapshot,
  SeatClassesView,
  CacheStatsView,
  DnsStatsView,
  SessionInfo,
  SystemView,
} from '../../src/ui/wire.ts';

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

  private async send(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && this.csrf) headers['x-csrf-token'] = this.csrf;
    const res = await fetch(`/ui/api${path}`, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    if (!res.ok) await this.fail(res);
    return res;
  }

  private async fail(res: Response): Promise<never> {
    const data = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
    const retry = Number(res.headers.get('retry-after'));
    throw new ApiError(
      res.status,
      data.error ?? 'HTTP',
      data.message ?? `HTTP ${res.status}`,
      Number.isFinite(retry) && retry > 0 ? retry : undefined,
    );
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.send(method, path, body);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
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

  // /ui/api/v1: the appliance's /api/v1 with this browser session as the caller (same routes and role checks)
  customers(): Promise<CustomerView[]> {
    return this.call('GET', '/v1/users');
  }
  addCustomer(c: { name: string; docType: string; docNumber: string; docCountry?: string }): Promise<CustomerView> {
    return this.call('POST', '/v1/users', c);
  }
  topUp(userId: string, amountMinor: number): Promise<CustomerView> {
    return this.call('POST', `/v1/users/${encodeURIComponent(userId)}/credit`, { amountMinor });
  }
  openSessions(): Promise<DeskSessionView[]> {
    return this.call('GET', '/v1/sessions');
  }
  openSession(userId: string, seat: string): Promise<DeskSessionView> {
    return this.call('POST', '/v1/sessions', { userId, seat });
  }
  closeSession(seat: string, payment?: 'member' | 'desk'): Promise<DeskSessionView> {
    return this.call('POST', '/v1/sessions/close', { seat, ...(payment ? { payment } : {}) });
  }
  /** undefined when the edge cache is off (the route is not mounted: 404) */
  async cacheStats(): Promise<CacheStatsView | undefined> {
    try {
      return await this.call<CacheStatsView>('GET', '/v1/cache/stats');
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return undefined;
      throw e;
    }
  }
  purgeCache(service: string): Promise<{ service: string; objects: number }> {
    return this.call('POST', '/v1/cache/purge', { service });
  }
  dnsStats(): Promise<DnsStatsView> {
    return this.call('GET', '/v1/dns/stats');
  }
  seatClasses(): Promise<SeatClassesView> {
    return this.call('GET', '/v1/seat-classes');
  }
  setSeatClass(name: string, c: { rateMinorPerHour: number; profile: string | null; overlayLimitBytes: number | null }): Promise<SeatClassesView> {
    return this.call('PUT', `/v1/seat-classes/${encodeURIComponent(name)}`, c);
  }
  /** Wake-on-LAN magic packets to one terminal (POST /api/v1/wake; admin and cashier) */
  wake(mac: string): Promise<{ sent: number; failed: number }> {
    return this.call('POST', '/v1/wake', { mac });
  }
  /** pause: the seat loses internet and its time stops being charged; resume undoes it */
  pauseSession(seat: string, verb: 'pause' | 'resume'): Promise<DeskSessionView> {
    return this.call('POST', `/v1/sessions/${verb}`, { seat });
  }
  auditRecords(q: Record<string, string>): Promise<AuditRecordView[]> {
    return this.call('GET', `/v1/audit/records?${new URLSearchParams(q).toString()}`);
  }
  async publicKey(): Promise<string> {
    return (await this.send('GET', '/v1/audit/public-key')).text();
  }
  /** The export stream (src/audit/export-stream.ts): the file's bytes, then the signed manifest as the last line. */
  async exportAudit(body: Record<string, string>): Promise<string> {
    return (await this.send('POST', '/v1/audit/export', body)).text();
  }

  // images and overlays (admin): /api/v1/images… (src/api/overlay-api.ts)
  images(): Promise<ImageView[]> {
    return this.call('GET', '/v1/images');
  }
  overlays(image: string): Promise<OverlayTerminalView[]> {
    return this.call('GET', `/v1/images/${encodeURIComponent(image)}/overlays`);
  }
  setOverlayMode(mac: string, mode: string): Promise<void> {
    return this.call('PUT', `/v1/overlays/${encodeURIComponent(mac)}/mode`, { mode });
  }
  resetOverlay(image: string, mac: string): Promise<void> {
    return this.call('POST', `/v1/images/${encodeURIComponent(image)}/overlays/${encodeURIComponent(mac)}/reset`);
  }
  commitImage(image: string, mac: string, note: string): Promise<{ version: number }> {
    return this.call('POST', `/v1/images/${encodeURIComponent(image)}/commit`, { mac, ...(note ? { note } : {}) });
  }
  rollbackImage(image: string, version: number): Promise<void> {
    return this.call('POST', `/v1/images/${encodeURIComponent(image)}/rollback`, { version });
  }
  // service platforms (admin): /api/v1/platforms… (src/platforms/http-routes.ts)
  platforms(): Promise<PlatformView[]> {
    return this.call('GET', '/v1/platforms');
  }
  advice(): Promise<{ recommendations: AdviceView[]; events: AdviceView[] }> {
    return this.call('GET', '/v1/platforms/advice');
  }
  drain(id: string, drain: boolean): Promise<PlatformView> {
    return this.call('POST', `/v1/platforms/${encodeURIComponent(id)}/${drain ? 'drain' : 'undrain'}`);
  }
  system(): Promise<SystemView> {
    return this.call('GET', '/system');
  }
}
