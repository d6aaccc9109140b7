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

describe('/ui/api/v1: the cashier and audit API behind the browser session', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bg-uidesk-'));
  const db = openDatabase(join(dir, 'bootgate.db'));
  const identity = createIdentityServices({ db, dataDir: dir, logger: silent, registry: new Registry(), terminals: { macForIp: () => undefined } });
  const ui = createUiServices({
    config: uiConfigSchema.parse({}),
    db,
    identity,
    leases: new LeaseRepository(db),
    boots: new BootRepository(db),
    bus: new UiEventBus(16),
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
    await ui.staff.add('test', { username: 'aud1', password: 'auditor-pass', role: 'auditor' });
    await identity.identity.setGroupRate('test', { name: 'default', rateMinorPerHour: 120 });
    await identity.identity.addSeat('test', { name: 'A1', mac: '52:54:00:00:00:a1' });
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

  interface Who {
    cookie: string;
    csrf: string;
  }
  async function login(username: string, password: string): Promise<Who> {
    const r = await fetch(`${base}/ui/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: base },
      body: JSON.stringify({ username, password }),
    });
    assert.equal(r.status, 200);
    return { cookie: (r.headers.get('set-cookie') ?? '').split(';')[0]!, csrf: ((await r.json()) as { csrf: string }).csrf };
  }
  const call = (who: Who | undefined, method: string, path: string, body?: unknown, csrf = true) =>
    fetch(`${base}/ui/api/v1${path}`, {
      method,
      headers: {
        ...(who ? { cookie: who.cookie } : {}),
        ...(who && csrf && method !== 'GET' ? { 'x-csrf-token': who.csrf } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        origin: base,
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  const errorOf = async (r: Response) => ((await r.json()) as { error: string }).error;

  it('a cashier registers a customer, opens a session and closes it with the bill; the trail names operator:cash1', async () => {
    const cash = await login('cash1', 'cashier-pass');
    const u = await call(cash, 'POST', '/users', { name: 'Ada Lovelace', docType: 'passport', docNumber: 'P123', docCountry: 'GB' });
    assert.equal(u.status, 201);
    const user = (await u.json()) as { id: string };
    const top = await call(cash, 'POST', `/users/${user.id}/credit`, { amountMinor: 500 });
    assert.equal(((await top.json()) as { balanceMinor: number }).balanceMinor, 500);
    const open = await call(cash, 'POST', '/sessions', { userId: user.id, seat: 'A1' });
    assert.equal(open.status, 201);
    assert.equal(((await open.json()) as { openedBy: string }).openedBy, 'operator:cash1');
    const close = await call(cash, 'POST', '/sessions/close', { seat: 'A1', payment: 'desk' });
    assert.equal(close.status, 200);
    const bill = (await close.json()) as { minutes: number; chargeMinor: number; payment: string; closedBy: string };
    assert.equal(bill.payment, 'desk');
    assert.equal(bill.closedBy, 'operator:cash1');
    assert.ok(bill.minutes >= 0 && bill.chargeMinor >= 0);
    const actions = identity.auditRepo.query({ kind: 'admin' }).filter((r) => r.actor === 'operator:cash1');
    assert.deepEqual(
      actions.map((r) => r.action),
      ['ui.login', 'user.add', 'user.credit', 'session.open', 'session.close'],
    );
  });

  it('refuses without the CSRF token, without a session, and with a bearer token instead of the cookie', async () => {
    const cash = await login('cash1', 'cashier-pass');
    const noCsrf = await call(cash, 'POST', '/users', { name: 'X', docType: 'passport', docNumber: '1' }, false);
    assert.equal(noCsrf.status, 403);
    assert.equal(await errorOf(noCsrf), 'CSRF_TOKEN');
    const anon = await call(undefined, 'GET', '/users');
    assert.equal(anon.status, 401);
    const bearer = await fetch(`${base}/ui/api/v1/users`, { headers: { authorization: 'Bearer whatever' } });
    assert.equal(bearer.status, 401);
  });

  it('a cashier cannot search or export the audit trail; an auditor cannot register, open or close', async () => {
    const cash = await login('cash1', 'cashier-pass');
    for (const r of [await call(cash, 'GET', '/audit/records'), await call(cash, 'POST', '/audit/export', { format: 'ndjson' })]) {
      assert.equal(r.status, 403);
      assert.equal(await errorOf(r), 'FORBIDDEN');
    }
    const aud = await login('aud1', 'auditor-pass');
    const users = (await (await call(aud, 'GET', '/users')).json()) as Array<{ id: string }>;
    for (const r of [
      await call(aud, 'POST', '/users', { name: 'Y', docType: 'passport', docNumber: '2' }),
      await call(aud, 'POST', '/sessions', { userId: users[0]!.id, seat: 'A1' }),
      await call(aud, 'POST', '/sessions/close', { seat: 'A1' }),
      await call(aud, 'POST', `/users/${users[0]!.id}/credit`, { amountMinor: 100 }),
    ]) {
      assert.equal(r.status, 403);
      assert.equal(await errorOf(r), 'FORBIDDEN');
    }
    const search = await call(aud, 'GET', '/audit/records?kind=admin&limit=2');
    assert.equal(search.status, 200);
    const oldest = (await search.json()) as Array<{ seq: number }>;
    assert.equal(oldest.length, 2);
    // order=desc: the newest records first (the terminal panel's recent records of a seat)
    const all = (await (await call(aud, 'GET', '/audit/records?kind=admin')).json()) as Array<{ seq: number }>;
    const newest = (await (await call(aud, 'GET', '/audit/records?kind=admin&limit=2&order=desc')).json()) as Array<{ seq: number }>;
    assert.deepEqual(
      newest.map((r) => r.seq),
      all
        .slice(-2)
        .map((r) => r.seq)
        .reverse(),
    );
    assert.ok(oldest[0]!.seq < oldest[1]!.seq);
    const exp = await call(aud, 'POST', '/audit/export', { format: 'ndjson' });
    assert.equal(exp.status, 200);
    const text = await exp.text();
    const manifest = JSON.parse(text.slice(text.lastIndexOf('\n') + 1)) as { count: number };
    assert.ok(manifest.count > 0);
  });

  it('searches by host', async () => {
    await identity.audit.append({ kind: 'http', host: 'example.org', seat: 'A1', url: '/' });
    const aud = await login('aud1', 'auditor-pass');
    const rows = (await (await call(aud, 'GET', '/audit/records?host=example.org')).json()) as Array<{ host: string }>;
    assert.ok(rows.length >= 1);
    assert.ok(rows.every((r) => r.host === 'example.org'));
  });
});
