import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createIdentityServices } from '../../src/compose/identity.ts';
import { createUiServices } from '../../src/compose/ui.ts';
import { BootRepository } from '../../src/store/boot-repository.ts';
import { openDatabase } from '../../src/store/database.ts';
import { LeaseRepository } from '../../src/store/lease-repository.ts';
import { uiConfigSchema } from '../../src/ui/config.ts';
import { UiEventBus } from '../../src/ui/events.ts';

const silent = pino({ level: 'silent' });

describe('the UI event bus', () => {
  it('numbers events, replays what a reader missed, and says when the ring no longer holds it', () => {
    const bus = new UiEventBus(4, () => 1);
    const seen: number[] = [];
    const off = bus.subscribe((e) => seen.push(e.id));
    for (let i = 0; i < 6; i++) bus.publish('lease', { i });
    off();
    bus.publish('lease', { i: 6 });
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6]);
    assert.equal(bus.latestId, 7);
    assert.deepEqual(
      bus.since(4)?.map((e) => e.id),
      [5, 6, 7],
    );
    assert.deepEqual(
      bus.since(3)?.map((e) => e.id),
      [4, 5, 6, 7],
    );
    assert.equal(bus.since(2), undefined, 'event 3 has left the ring');
    assert.deepEqual(bus.since(7), []);
    assert.equal(bus.since(8), undefined, 'an id this run never issued');
  });

  it('a throwing listener does not stop the others', () => {
    const errors: unknown[] = [];
    const bus = new UiEventBus(8, undefined, (e) => errors.push(e));
    let got = 0;
    bus.subscribe(() => {
      throw new Error('boom');
    });
    bus.subscribe(() => got++);
    bus.publish('boot', {});
    assert.equal(got, 1);
    assert.equal(errors.length, 1);
  });
});

describe('/ui over HTTP: login, cookie, CSRF, origin, limits, the event stream', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bg-uihttp-'));
  const db = openDatabase(join(dir, 'bootgate.db'));
  const identity = createIdentityServices({ db, dataDir: dir, logger: silent, registry: new Registry(), terminals: { macForIp: () => undefined } });
  const bus = new UiEventBus(16);
  const ui = createUiServices({
    config: uiConfigSchema.parse({ heartbeatSeconds: 1 }),
    db,
    identity,
    leases: new LeaseRepository(db),
    boots: new BootRepository(db),
    bus,
    logger: silent,
    staticDir: join(dir, 'no-ui-here'),
  });
  const app = express();
  app.use('/ui', ui.router);
  let base = '';
  let server: ReturnType<typeof app.listen>;

  before(async () => {
    identity.start();
    ui.start();
    await ui.staff.add('test', { username: 'cash1', password: 'cashier-pass', role: 'cashier' });
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    ui.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await identity.stop();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const errorOf = async (r: Response) => ((await r.json()) as { error: string }).error;
  async function login(): Promise<{ cookie: string; csrf: string; setCookie: string }> {
    const r = await post('/ui/api/login', { username: 'cash1', password: 'cashier-pass' }, { origin: base });
    assert.equal(r.status, 200);
    const setCookie = r.headers.get('set-cookie') ?? '';
    return { cookie: setCookie.split(';')[0]!, csrf: ((await r.json()) as { csrf: string }).csrf, setCookie };
  }

  it('every response carries the CSP and the other security headers; the page says when the UI is not built', async () => {
    const r = await fetch(`${base}/ui/`);
    assert.equal(r.status, 503);
    const csp = r.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
    const api = await fetch(`${base}/ui/api/session`);
    assert.equal(api.status, 401);
    assert.equal(await errorOf(api), 'UNAUTHENTICATED');
    assert.ok(api.headers.get('content-security-policy'));
  });

  it('login: JSON only, same origin only; the cookie is HttpOnly, SameSite=Strict, Path=/ui (no Secure over plain HTTP)', async () => {
    const form = await fetch(`${base}/ui/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=cash1',
    });
    assert.equal(await errorOf(form), 'VALIDATION');
    const cross = await post('/ui/api/login', { username: 'cash1', password: 'cashier-pass' }, { origin: 'http://evil.example' });
    assert.equal(cross.status, 403);
    assert.equal(await errorOf(cross), 'ORIGIN_REFUSED');
    const { setCookie, cookie } = await login();
    assert.match(setCookie, /^bootgate_ui=[A-Za-z0-9_-]{43}; Path=\/ui; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    const s = await fetch(`${base}/ui/api/session`, { headers: { cookie } });
    assert.deepEqual(((await s.json()) as { username: string; role: string }).role, 'cashier');
  });

  it('a state change needs the CSRF token and this origin; logout ends the session', async () => {
    const { cookie, csrf } = await login();
    const noToken = await post('/ui/api/logout', {}, { cookie });
    assert.equal(noToken.status, 403);
    assert.equal(await errorOf(noToken), 'CSRF_TOKEN');
    const wrong = await post('/ui/api/logout', {}, { cookie, 'x-csrf-token': `${csrf.slice(0, -1)}x` });
    assert.equal(await errorOf(wrong), 'CSRF_TOKEN');
    const cross = await post('/ui/api/logout', {}, { cookie, 'x-csrf-token': csrf, origin: 'http://evil.example' });
    assert.equal(await errorOf(cross), 'ORIGIN_REFUSED');
    const ok = await post('/ui/api/logout', {}, { cookie, 'x-csrf-token': csrf, origin: base });
    assert.equal(ok.status, 204);
    assert.match(ok.headers.get('set-cookie') ?? '', /Max-Age=0/);
    assert.equal((await fetch(`${base}/ui/api/session`, { headers: { cookie } })).status, 401);
  });

  it('the event stream: live events, resume after Last-Event-ID, resync for an unknown id, closed at logout', async () => {
    const { cookie, csrf } = await login();
    const room = (await (await fetch(`${base}/ui/api/room`, { headers: { cookie } })).json()) as { eventId: string; tiles: unknown[] };
    const ctl = new AbortController();
    const res = await fetch(`${base}/ui/api/events?since=${room.eventId}`, { headers: { cookie }, signal: ctl.signal });
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reader = res.body!.getReader();
    let text = '';
    const until = async (re: RegExp) => {
      while (!re.test(text)) {
        const { value, done } = await reader.read();
        if (done) return false;
        text += new TextDecoder().decode(value);
      }
      return true;
    };
    bus.publish('lease', { mac: '52:54:00:00:00:01', ip: '10.0.0.9', expiresAt: 1 });
    assert.ok(await until(/event: lease\ndata: \{[^\n]*"ip":"10\.0\.0\.9"/));
    assert.ok(await until(/: heartbeat/), 'a heartbeat comment');
    const lastId = /id: (\S+)\nevent: lease/.exec(text)![1]!;
    ctl.abort();

    bus.publish('boot', { mac: '52:54:00:00:00:01', n: 1 });
    bus.publish('boot', { mac: '52:54:00:00:00:01', n: 2 });
    const ctl2 = new AbortController();
    const again = await fetch(`${base}/ui/api/events`, { headers: { cookie, 'last-event-id': lastId }, signal: ctl2.signal });
    const r2 = again.body!.getReader();
    text = '';
    let chunk;
    while (!/"n":2/.test(text) && !(chunk = await r2.read()).done) text += new TextDecoder().decode(chunk.value);
    assert.match(text, /event: boot\ndata: \{"at":\d+,"mac":"52:54:00:00:00:01","n":1\}\n\n[^]*"n":2/, 'both missed events, in order');
    ctl2.abort();

    const stale = await fetch(`${base}/ui/api/events`, { headers: { cookie, 'last-event-id': 'otherrun.5' } });
    const r3 = stale.body!.getReader();
    text = '';
    while (!/event: resync/.test(text) && !(chunk = await r3.read()).done) text += new TextDecoder().decode(chunk.value);
    assert.match(text, /event: resync/);
    // logging out closes the open stream
    assert.equal((await post('/ui/api/logout', {}, { cookie, 'x-csrf-token': csrf })).status, 204);
    while (!(await r3.read()).done);
    assert.equal((await fetch(`${base}/ui/api/events`, { headers: { cookie } })).status, 401);
  });

  it('wrong passwords: the sixth try within the window is 429 with Retry-After', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await post('/ui/api/login', { username: 'cash1', password: 'wrong' })).status, 401);
    const r = await post('/ui/api/login', { username: 'cash1', password: 'cashier-pass' });
    assert.equal(r.status, 429);
    assert.equal(await errorOf(r), 'LOGIN_RATE_LIMITED');
    assert.ok(Number(r.headers.get('retry-after')) > 0);
  });
});
