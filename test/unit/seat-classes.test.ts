import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createSeatClassRouter } from '../../src/api/seat-class-api.ts';
import { createIdentityServices } from '../../src/compose/identity.ts';
import type { BootProfile } from '../../src/http/ipxe-script.ts';
import { OverlaySizeRepository } from '../../src/store/overlay-size-repository.ts';
import { openDatabase } from '../../src/store/database.ts';
import { parseMac } from '../../src/terminal/mac.ts';
import type { SeatClassesView } from '../../src/ui/wire.ts';

const GiB = 2 ** 30;
const profiles: Record<string, BootProfile> = { thin: { kernel: '/vmlinuz' }, win: { sanboot: 'win10' }, stream: { sanboot: 'obs' } };

describe('seat classes over HTTP: profile, overlay bound, recommended size, forecast; admin only, audited', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bg-class-'));
  const db = openDatabase(join(dir, 'bootgate.db'));
  const svc = createIdentityServices({
    db,
    dataDir: dir,
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    terminals: { macForIp: () => undefined },
  });
  const sizes = new OverlaySizeRepository(db);
  const totals: Array<{ at: number; bytes: number }> = [];
  let base = '';
  const server = (() => {
    const app = express();
    // the guard: a header names the caller's role, as the real guards put the actor in res.locals
    const guard =
      (roles: string[]): express.RequestHandler =>
      (req, res, next) => {
        const role = req.get('x-role') ?? '';
        res.locals.actor = `operator:${role}-1`;
        if (roles.includes(role)) next();
        else res.status(403).json({ error: 'FORBIDDEN' });
      };
    app.use(
      createSeatClassRouter({
        service: svc.identity,
        profiles: { names: () => Object.keys(profiles), get: (n) => profiles[n], defaultName: 'thin' },
        defaultLimitBytes: 4 * GiB,
        sizes: (image, limit) => sizes.recent(image, limit),
        totals: () => totals,
        overlayDir: dir,
        guard: { read: guard(['admin']), write: guard(['admin']) },
        logger: pino({ level: 'silent' }),
      }),
    );
    return app.listen(0, '127.0.0.1');
  })();
  before(
    () => new Promise<void>((r) => server.once('listening', () => ((base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`), r()))),
  );
  after(() => {
    server.close();
    svc.stop();
    db.close();
  });
  const call = async (method: string, path: string, role: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { 'x-role': role, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as SeatClassesView & { error?: string } };
  };

  it('lists classes with their seats, image and recommendation; sets one; seats boot and bound by it', async () => {
    svc.start();
    await svc.identity.setGroupRate('t', { name: 'vip', rateMinorPerHour: 500 });
    await svc.identity.addSeat('admin', { name: 'V1', mac: '52:54:00:76:00:01', group: 'vip' });
    await svc.identity.addSeat('admin', { name: 'V2', mac: '52:54:00:76:00:02', group: 'vip' });
    await svc.identity.addSeat('admin', { name: 'D1', mac: '52:54:00:76:00:03' });
    // 20 sessions of win10 measured: nineteen of 1 GiB and one of 8 GiB
    for (let i = 0; i < 20; i++)
      sizes.record({ image: 'win10', mac: '52:54:00:76:00:01', mode: 'discard', bytes: i === 7 ? 8 * GiB : GiB, recordedAt: i });
    const list = await call('GET', '/seat-classes', 'admin');
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body.classes.map((c) => [c.name, c.seats, c.profile, c.image, c.overlayLimitBytes]),
      [
        ['default', 1, null, null, null],
        ['vip', 2, null, null, null],
      ],
    );
    assert.deepEqual(list.body.profiles, [
      { name: 'thin', image: null, recommendation: null },
      { name: 'win', image: 'win10', recommendation: { samples: 20, p95Bytes: GiB, recommendedBytes: 1.25 * GiB } },
      { name: 'stream', image: 'obs', recommendation: { samples: 0, p95Bytes: null, recommendedBytes: null } },
    ]);
    assert.equal(list.body.worstCaseBytes, 3 * 4 * GiB, 'three seats at the default bound');
    assert.ok(list.body.disk && list.body.disk.totalBytes > 0);

    const set = await call('PUT', '/seat-classes/vip', 'admin', { rateMinorPerHour: 600, profile: 'win', overlayLimitBytes: 2 * GiB });
    assert.equal(set.status, 200);
    const vip = set.body.classes.find((c) => c.name === 'vip')!;
    assert.deepEqual([vip.rateMinorPerHour, vip.profile, vip.image, vip.overlayLimitBytes], [600, 'win', 'win10', 2 * GiB]);
    assert.deepEqual(vip.recommendation, { samples: 20, p95Bytes: GiB, recommendedBytes: 1.25 * GiB }, 'the 8 GiB outlier is past the p95');
    assert.equal(set.body.worstCaseBytes, 2 * 2 * GiB + 4 * GiB);
    // the seats of the class: profile and bound through the directory (what the boot policy and overlays ask)
    assert.deepEqual(svc.directory.classOf(parseMac('52:54:00:76:00:02')), {
      name: 'vip',
      rateMinorPerHour: 600,
      profile: 'win',
      overlayLimitBytes: 2 * GiB,
    });
    assert.equal(svc.directory.classOf(parseMac('52:54:00:76:00:03'))?.profile, null);
    // a session opened now is charged the class's rate
    const u = await svc.identity.addUser('c', { name: 'Ann', docType: 'passport', docNumber: 'P1' });
    assert.equal((await svc.identity.openSession('c', { userId: u.id, seat: 'V1' })).rateMinorPerHour, 600);
    const rec = svc.auditRepo.query({ kind: 'admin' }).find((r) => r.action === 'seat-class.set')!;
    assert.equal(rec.actor, 'operator:admin-1');
    assert.deepEqual(JSON.parse(rec.detail!), {
      rateMinorPerHour: 600,
      profile: 'win',
      overlayLimitBytes: 2 * GiB,
      before: { rateMinorPerHour: 500, profile: null, overlayLimitBytes: null },
    });
  });

  it('refuses what is not a class: unknown profile, a bound under 1 MiB, a bad rate or name, other fields; other roles get 403', async () => {
    for (const [name, body] of [
      ['vip', { rateMinorPerHour: 1, profile: 'nope' }],
      ['vip', { rateMinorPerHour: 1, overlayLimitBytes: 1000 }],
      ['vip', { rateMinorPerHour: -1 }],
      ['vip', { rateMinorPerHour: 1.5 }],
      ['vip', { rateMinorPerHour: 1, image: 'win10' }],
      ['../x', { rateMinorPerHour: 1 }],
    ] as const) {
      const r = await call('PUT', `/seat-classes/${encodeURIComponent(name)}`, 'admin', body);
      assert.deepEqual([r.status, r.body.error], [400, 'VALIDATION'], JSON.stringify(body));
    }
    for (const role of ['cashier', 'auditor']) {
      assert.equal((await call('GET', '/seat-classes', role)).status, 403);
      assert.equal((await call('PUT', '/seat-classes/vip', role, { rateMinorPerHour: 1 })).status, 403);
    }
    assert.equal(svc.auditRepo.query({ kind: 'admin' }).filter((r) => r.action === 'seat-class.set').length, 1, 'nothing refused was recorded');
  });

  it('forecasts the disk-full time from the overlays’ growth, as a warning', async () => {
    const free = (await call('GET', '/seat-classes', 'admin')).body.disk!.freeBytes;
    totals.push({ at: 0, bytes: 0 }, { at: 3_600_000, bytes: free / 3 });
    const f = (await call('GET', '/seat-classes', 'admin')).body.forecast;
    assert.ok(f.hoursToFull! > 2.9 && f.hoursToFull! < 3.1, `about 3 h: ${f.hoursToFull}`);
  });
});
