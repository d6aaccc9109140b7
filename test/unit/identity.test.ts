import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createIdentityServices } from '../../src/compose/identity.ts';
import { IdentityError } from '../../src/identity/errors.ts';
import type { SessionChange } from '../../src/identity/service.ts';
import { admitted } from '../../src/identity/seat-directory.ts';
import { sessionAffinity } from '../../src/compose/platforms.ts';
import { parseMac, tryParseMac as normaliseMac, type Mac } from '../../src/terminal/mac.ts';
import { openDatabase } from '../../src/store/database.ts';
import { verifyStoredChain } from '../../src/audit/verify-store.ts';
import { verifyExport } from '../../src/audit/verify.ts';
import { ExportStreamReader } from '../../src/audit/export-stream.ts';

const silent = pino({ level: 'silent' });
const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const MAC1 = parseMac('52:54:00:75:00:01');
const MAC2 = parseMac('52:54:00:75:00:02');

function setup(opts: { dir?: string; now?: { t: number } } = {}) {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'bg-id-'));
  const now = opts.now ?? { t: T0 };
  const db = openDatabase(join(dir, 'bootgate.db'));
  const leases = new Map<string, Mac>([
    ['10.75.0.21', MAC1],
    ['10.75.0.22', MAC2],
  ]);
  const svc = createIdentityServices({
    db,
    dataDir: dir,
    logger: silent,
    registry: new Registry(),
    terminals: { macForIp: (ip) => leases.get(ip) },
    clock: () => now.t,
  });
  svc.start();
  return { dir, db, now, svc, close: () => (svc.stop(), db.close()) };
}

const code = (c: string) => (e: unknown) => e instanceof IdentityError && e.code === c;

describe('identity: users, seats, sessions, billing', () => {
  it('normalises MAC spellings and rejects non-MACs', () => {
    assert.equal(normaliseMac('52-54-00-AA-00-01'), '52:54:00:aa:00:01');
    assert.equal(normaliseMac('5254.00aa.0001'), '52:54:00:aa:00:01');
    assert.equal(normaliseMac('525400aa0001'), '52:54:00:aa:00:01');
    assert.equal(normaliseMac('52:54:00:aa:00'), undefined);
    assert.equal(normaliseMac('zz:54:00:aa:00:01'), undefined);
  });

  it('a seat has at most one open session; close charges per started minute from the member balance', async () => {
    const { svc, now, close } = setup();
    const id = svc.identity;
    await id.setGroupRate('t', { name: 'vip', rateMinorPerHour: 300 });
    const ann = await id.addUser('cashier1', {
      name: 'Ann',
      docType: 'passport',
      docNumber: 'P123',
      docCountry: 'FR',
      member: true,
      balanceMinor: 1000,
    });
    const bob = await id.addUser('cashier1', { name: 'Bob', docType: 'id-card', docNumber: 'I9' });
    await id.addSeat('admin', { name: 'A1', mac: MAC1.toUpperCase(), group: 'vip' });
    await id.addSeat('admin', { name: 'A2', mac: MAC2 });
    await assert.rejects(id.addSeat('admin', { name: 'A3', mac: MAC1 }), code('SEAT_EXISTS'));
    await assert.rejects(id.addSeat('admin', { name: 'A4', mac: '52:54:00:75:00:04', group: 'nope' }), code('SEAT_GROUP_NOT_FOUND'));

    const s = await id.openSession('cashier1', { userId: ann.id, seat: 'A1' });
    await assert.rejects(id.openSession('cashier1', { userId: bob.id, seat: 'A1' }), code('SEAT_BUSY'));
    await assert.rejects(id.openSession('cashier1', { userId: 'nobody', seat: 'A2' }), code('USER_NOT_FOUND'));
    await assert.rejects(id.openSession('cashier1', { userId: bob.id, seat: 'Z9' }), code('SEAT_NOT_FOUND'));
    await assert.rejects(id.closeSession('cashier1', { seat: 'A2' }), code('NO_OPEN_SESSION'));
    assert.equal(s.rateMinorPerHour, 300);

    now.t = T0 + 61 * 60_000 + 1; // 61 min 1 ms → 62 started minutes → 310
    const closed = await id.closeSession('cashier2', { seat: 'A1' });
    assert.deepEqual([closed.minutes, closed.chargeMinor, closed.payment, closed.closedBy], [62, 310, 'member', 'cashier2']);
    assert.equal(id.user(ann.id)!.balanceMinor, 690);
    // The seat is free again; Bob (no account) pays at the desk; the default group is free of charge.
    await id.openSession('cashier1', { userId: bob.id, seat: 'A1' });
    now.t += 30 * 60_000;
    await assert.rejects(id.closeSession('c', { seat: 'A1', payment: 'member' }), code('NOT_A_MEMBER'));
    const c2 = await id.closeSession('c', { seat: 'A1' });
    assert.deepEqual([c2.minutes, c2.chargeMinor, c2.payment], [30, 150, 'desk']);
    close();
  });

  it('sessions survive a restart; the directory maps ip → mac → seat → session → user and follows changes', async () => {
    const a = setup();
    const ann = await a.svc.identity.addUser('c', { name: 'Ann', docType: 'passport', docNumber: 'P1' });
    await a.svc.identity.addSeat('admin', { name: 'A1', mac: MAC1 });
    const changes: SessionChange[] = [];
    a.svc.directory.onSessionChange((c) => changes.push(c));
    assert.equal(a.svc.directory.lookupByIp('10.75.0.21')!.session, undefined);
    assert.equal(a.svc.directory.lookupByIp('10.75.0.99'), undefined);
    const s = await a.svc.identity.openSession('c', { userId: ann.id, seat: 'A1' });
    assert.deepEqual(
      changes.map((c) => [c.type, c.seat.name, c.seat.mac, c.user.name]),
      [['open', 'A1', MAC1, 'Ann']],
    );
    const hit = a.svc.directory.lookupByIp('10.75.0.21')!;
    assert.equal(hit.session!.id, s.id);
    assert.equal(hit.user!.docNumber, 'P1');
    a.close();

    const b = setup({ dir: a.dir });
    const again = b.svc.directory.lookupByIp('10.75.0.21')!;
    assert.equal(again.session!.id, s.id, 'the open session is still open after restart');
    assert.deepEqual(
      b.svc.directory.occupied().map((o) => o.seat.name),
      ['A1'],
    );
    await b.svc.identity.closeSession('c', { seat: 'A1' });
    assert.equal(b.svc.directory.lookupByIp('10.75.0.21')!.session, undefined);
    assert.equal(verifyStoredChain(b.svc.auditRepo, b.svc.signer.publicKey).ok, true);
    const actions = b.svc.auditRepo.query({ kind: 'admin' }).map((r) => [r.action, r.actor]);
    assert.deepEqual(actions, [
      ['user.add', 'c'],
      ['seat.add', 'admin'],
      ['session.open', 'c'],
      ['session.close', 'c'],
    ]);
    b.close();
  });

  it('pause: the time is not charged, the directory no longer admits the seat, the session (and its id) is kept', async () => {
    const { svc, now, close } = setup();
    const id = svc.identity;
    await id.setGroupRate('t', { name: 'vip', rateMinorPerHour: 600 });
    const ann = await id.addUser('c', { name: 'Ann', docType: 'passport', docNumber: 'P1' });
    await id.addSeat('admin', { name: 'A1', mac: MAC1, group: 'vip' });
    const changes: SessionChange[] = [];
    svc.directory.onSessionChange((c) => changes.push(c));
    const released: string[] = [];
    svc.directory.onSessionChange(sessionAffinity({ releaseSession: (k) => released.push(k) }));
    await assert.rejects(id.pauseSession('c', { seat: 'A1' }), code('NO_OPEN_SESSION'));
    await assert.rejects(id.pauseSession('c', { seat: 'Z9' }), code('SEAT_NOT_FOUND'));
    const s = await id.openSession('c', { userId: ann.id, seat: 'A1' });
    await assert.rejects(id.resumeSession('c', { seat: 'A1' }), code('SESSION_NOT_PAUSED'));
    assert.equal(admitted(svc.directory.lookupByIp('10.75.0.21')), true);

    now.t = T0 + 10 * 60_000;
    const p = await id.pauseSession('c2', { seat: 'A1' });
    assert.deepEqual([p.id, p.pausedAt, p.pausedMs, p.closedAt], [s.id, now.t, 0, null]);
    await assert.rejects(id.pauseSession('c', { seat: 'A1' }), code('SESSION_PAUSED'));
    const hit = svc.directory.lookupByIp('10.75.0.21')!;
    assert.equal(hit.session!.id, s.id, 'the session is still the seat’s');
    assert.equal(admitted(hit), false, 'but the gate does not admit it');
    assert.deepEqual(svc.directory.occupied(), []);
    await assert.rejects(id.openSession('c', { userId: ann.id, seat: 'A1' }), code('SEAT_BUSY'));

    now.t = T0 + 40 * 60_000;
    const r = await id.resumeSession('c', { seat: 'A1' });
    assert.deepEqual([r.pausedAt, r.pausedMs], [null, 30 * 60_000]);
    assert.deepEqual(
      svc.directory.occupied().map((o) => o.seat.name),
      ['A1'],
    );
    // paused again at minute 50 and closed while paused at minute 70: 10 + 10 charged minutes
    now.t = T0 + 50 * 60_000;
    await id.pauseSession('c', { seat: 'A1' });
    now.t = T0 + 70 * 60_000;
    const closed = await id.closeSession('c', { seat: 'A1' });
    assert.deepEqual([closed.minutes, closed.chargeMinor, closed.pausedAt, closed.pausedMs], [20, 200, null, 50 * 60_000]);
    assert.deepEqual(
      changes.map((c) => c.type),
      ['open', 'pause', 'resume', 'pause', 'close'],
    );
    const records = svc.auditRepo.query({ kind: 'admin' }).filter((x) => x.action?.startsWith('session.'));
    assert.deepEqual(
      records.map((x) => [x.action, x.actor, x.sessionId, x.seat, x.docNumber]),
      [
        ['session.open', 'c', s.id, 'A1', 'P1'],
        ['session.pause', 'c2', s.id, 'A1', 'P1'],
        ['session.resume', 'c', s.id, 'A1', 'P1'],
        ['session.pause', 'c', s.id, 'A1', 'P1'],
        ['session.close', 'c', s.id, 'A1', 'P1'],
      ],
    );
    assert.deepEqual(JSON.parse(records[2]!.detail!), { pausedMs: 30 * 60_000, activeMs: 10 * 60_000 });
    assert.equal(JSON.parse(records[4]!.detail!).pausedMs, 50 * 60_000);
    assert.equal(verifyStoredChain(svc.auditRepo, svc.signer.publicKey).ok, true);
    assert.deepEqual(released, [s.id], "the seat's platform instance is released at the close only, not at a pause");
    close();
  });

  it('every change and its audit record commit together: a refused change leaves no record', async () => {
    const { svc, close } = setup();
    await assert.rejects(svc.identity.openSession('c', { userId: 'x', seat: 'y' }));
    assert.equal(svc.auditRepo.query({}).length, 0);
    close();
  });
});

describe('identity API (/api/v1)', () => {
  const ctx = setup();
  const app = express();
  app.use('/api/v1', ctx.svc.router);
  const server = app.listen(0, '127.0.0.1');
  after(() => {
    server.close();
    ctx.close();
  });
  const adminToken = readFileSync(join(ctx.dir, 'keys/admin.token'), 'utf8').trim();
  async function call(method: string, path: string, auth: string | undefined, body?: unknown) {
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/api/v1${path}`, {
      method,
      headers: { ...(auth ? { authorization: auth } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & Array<Record<string, unknown>> };
  }
  const bearer = (t: string) => `Bearer ${t}`;

  it('bootstraps an admin token file (0600) and refuses requests without valid credentials', async () => {
    assert.equal(statSync(join(ctx.dir, 'keys/admin.token')).mode & 0o777, 0o600);
    assert.equal((await call('GET', '/users', undefined)).status, 401);
    assert.equal((await call('GET', '/users', bearer('bg_wrong'))).body.error, 'UNAUTHENTICATED');
    assert.deepEqual((await call('GET', '/whoami', bearer(adminToken))).body, { actor: 'token:bootstrap-admin', role: 'admin' });
  });

  it('roles: a cashier opens sessions but cannot add seats; an auditor reads and exports but changes nothing', async () => {
    const cashier = (await call('POST', '/tokens', bearer(adminToken), { name: 'desk1', role: 'cashier' })).body.token as string;
    const op = await call('POST', '/operators', bearer(adminToken), { username: 'eve', password: 'correct horse', role: 'auditor' });
    assert.equal(op.status, 201);
    const auditor = `Basic ${Buffer.from('eve:correct horse').toString('base64')}`;
    assert.equal((await call('GET', '/whoami', `Basic ${Buffer.from('eve:wrong pass').toString('base64')}`)).status, 401);

    assert.equal((await call('POST', '/seats', bearer(cashier), { name: 'A1', mac: MAC1 })).body.error, 'FORBIDDEN');
    assert.equal((await call('POST', '/seats', bearer(adminToken), { name: 'A1', mac: MAC1 })).status, 201);
    const bad = await call('POST', '/users', bearer(cashier), { name: 'X', docType: 'passport' });
    assert.deepEqual([bad.status, bad.body.error], [400, 'VALIDATION']);
    const u = await call('POST', '/users', bearer(cashier), { name: 'Ann', docType: 'passport', docNumber: 'P1', docCountry: 'DE' });
    assert.equal(u.status, 201);
    const s = await call('POST', '/sessions', bearer(cashier), { userId: u.body.id, seat: 'A1' });
    assert.equal(s.status, 201);
    assert.equal((await call('POST', '/sessions', bearer(cashier), { userId: u.body.id, seat: 'A1' })).body.error, 'SEAT_BUSY');
    const open = await call('GET', '/sessions', auditor);
    assert.deepEqual(
      open.body.map((x) => [x.seat, x.userName]),
      [['A1', 'Ann']],
    );

    for (const [m, p, b] of [
      ['POST', '/users', { name: 'Y', docType: 't', docNumber: 'n' }],
      ['POST', '/sessions/close', { seat: 'A1' }],
      ['POST', '/sessions/pause', { seat: 'A1' }],
      ['POST', '/sessions/resume', { seat: 'A1' }],
      ['POST', '/tokens', { name: 'x', role: 'admin' }],
      ['PUT', '/seat-groups/default', { rateMinorPerHour: 1 }],
    ] as const)
      assert.equal((await call(m, p, auditor, b)).body.error, 'FORBIDDEN', `${m} ${p}`);
    assert.equal((await call('GET', '/audit/records', bearer(cashier))).body.error, 'FORBIDDEN');

    const paused = await call('POST', '/sessions/pause', bearer(cashier), { seat: 'A1' });
    assert.equal(paused.status, 200);
    assert.equal(typeof paused.body.pausedAt, 'string', 'ISO-8601 on the wire');
    assert.equal((await call('POST', '/sessions/pause', bearer(cashier), { seat: 'A1' })).body.error, 'SESSION_PAUSED');
    assert.equal((await call('POST', '/sessions/resume', bearer(cashier), { seat: 'A1', extra: 1 })).body.error, 'VALIDATION');
    const resumed = await call('POST', '/sessions/resume', bearer(cashier), { seat: 'A1' });
    assert.deepEqual([resumed.status, resumed.body.pausedAt], [200, null]);
    assert.equal((await call('POST', '/sessions/close', bearer(cashier), { seat: 'A1' })).status, 200);
    const records = await call('GET', '/audit/records?kind=admin', auditor);
    assert.deepEqual(
      records.body.map((r) => [r.actor, r.action]),
      [
        ['token:bootstrap-admin', 'token.create'],
        ['token:bootstrap-admin', 'operator.create'],
        ['token:bootstrap-admin', 'seat.add'],
        ['token:desk1', 'user.add'],
        ['token:desk1', 'session.open'],
        ['token:desk1', 'session.pause'],
        ['token:desk1', 'session.resume'],
        ['token:desk1', 'session.close'],
      ],
    );
    // The export streams: the file, then the signed manifest as its last line (audit/export-stream.ts).
    const { port } = server.address() as AddressInfo;
    const ex = await fetch(`http://127.0.0.1:${port}/api/v1/audit/export`, {
      method: 'POST',
      headers: { authorization: auditor, 'content-type': 'application/json' },
      body: JSON.stringify({ format: 'ndjson', fileName: 'a.ndjson' }),
    });
    assert.equal(ex.status, 200);
    assert.match(
      ex.headers.get('content-type') ?? '',
      /^application\/vnd\.bootgate\.audit-export-stream; framing=bootgate-audit-stream\/1; format=ndjson/,
    );
    const reader = new ExportStreamReader();
    const content = reader.push(Buffer.from(await ex.arrayBuffer())).toString('utf8');
    const manifest = reader.end();
    assert.equal(manifest.count, 9, 'eight changes, and the export action itself, recorded before the export is built');
    assert.equal(verifyExport(content, JSON.stringify(manifest), ctx.svc.signer.publicKeyPem()).ok, true);
    const last = ctx.svc.auditRepo.last()!;
    assert.deepEqual([last.actor, last.action], ['operator:eve', 'audit.export']);
  });
});
