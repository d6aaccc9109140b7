import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { SpaceExhaustedError } from '../../src/iscsi/block-device.ts';
import { targetIqn } from '../../src/terminal/iqn.ts';
import { parseMac } from '../../src/terminal/mac.ts';
import { overlaySettings } from '../../src/overlay/config.ts';
import { OverlayManager } from '../../src/overlay/manager.ts';
import { GRANULE_BYTES, OverlayDisk } from '../../src/overlay/overlay-disk.ts';
import { OverlayDeviceProvider } from '../../src/overlay/provider.ts';

const dir = mkdtempSync(join(tmpdir(), 'bg-overlay-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const logger = pino({ level: 'silent' });
const SIZE = 1 << 20;
const pattern = (i: number) => (i * 7 + (i >> 9)) & 0xff;

function makeImage(name: string, fill = pattern): string {
  const p = join(dir, name);
  const b = Buffer.alloc(SIZE);
  for (let i = 0; i < SIZE; i++) b[i] = fill(i);
  writeFileSync(p, b);
  return p;
}
const base = makeImage('golden.img');
const golden = readFileSync(base);
const read = async (d: OverlayDisk, off: number, len: number) => {
  const b = Buffer.alloc(len);
  await d.read(off, len, b, 0);
  return b;
};

describe('overlay disk: copy-on-write over a read-only image', () => {
  it('reads the image, writes land in the overlay, unaligned writes keep the bytes around them', async () => {
    const o = join(dir, 't1');
    const d = await OverlayDisk.open({ basePath: base, dataPath: o + '.data', mapPath: o + '.map', id: 't1' });
    assert.deepEqual(await read(d, 0, SIZE), golden);
    await d.write(4096 + 512, Buffer.alloc(1024, 0xaa), false); // inside one granule
    await d.write(3 * 4096 - 512, Buffer.alloc(4096 + 1024, 0xbb), false); // straddles granules
    const expect = Buffer.from(golden);
    expect.fill(0xaa, 4096 + 512, 4096 + 1536);
    expect.fill(0xbb, 3 * 4096 - 512, 4 * 4096 + 512);
    assert.deepEqual(await read(d, 0, SIZE), expect);
    assert.deepEqual(readFileSync(base), golden, 'the image is never written');
    assert.equal(d.overlayBytes, 4 * GRANULE_BYTES);
    await d.unmap(3 * 4096, 4096);
    assert.equal(d.overlayBytes, 3 * GRANULE_BYTES);
    await d.close();
  });
  it('after flush the map is on disk: a reopened overlay reads the same; unflushed map bits are not', async () => {
    const o = join(dir, 't2');
    const d = await OverlayDisk.open({ basePath: base, dataPath: o + '.data', mapPath: o + '.map', id: 't2' });
    await d.write(8192, Buffer.alloc(4096, 0x11), false);
    await d.flush();
    await d.write(65536, Buffer.alloc(4096, 0x22), true); // FUA
    // simulate a crash: reopen without close (the map pages for later writes were never flushed)
    await d.write(131072, Buffer.alloc(4096, 0x33), false);
    const again = await OverlayDisk.open({ basePath: base, dataPath: o + '.data', mapPath: o + '.map', id: 't2' });
    assert.deepEqual(await read(again, 8192, 4096), Buffer.alloc(4096, 0x11));
    assert.deepEqual(await read(again, 65536, 4096), Buffer.alloc(4096, 0x22));
    assert.deepEqual(await read(again, 131072, 4096), golden.subarray(131072, 135168), 'unsynced write not in the map');
    await again.close();
    await d.close();
  });
  it('bounded: a write past the limit fails with SpaceExhaustedError and changes nothing', async () => {
    const o = join(dir, 't3');
    const d = await OverlayDisk.open({ basePath: base, dataPath: o + '.data', mapPath: o + '.map', id: 't3', limitBytes: 2 * GRANULE_BYTES });
    await d.write(0, Buffer.alloc(8192, 1), false);
    await assert.rejects(d.write(8192, Buffer.alloc(512, 2), false), SpaceExhaustedError);
    await d.write(0, Buffer.alloc(512, 3), false); // rewriting allocated space still works
    assert.deepEqual(await read(d, 8192, 512), golden.subarray(8192, 8704));
    await d.close();
  });
  it('concurrent writes: overlapping ones apply in issue order, the rest in parallel; the result is exact', async () => {
    const o = join(dir, 'tc');
    const d = await OverlayDisk.open({ basePath: base, dataPath: o + '.data', mapPath: o + '.map', id: 'tc' });
    const expect = Buffer.from(golden);
    const writes: Promise<void>[] = [];
    let seed = 7;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    for (let i = 0; i < 300; i++) {
      const off = rnd(SIZE / 512 - 64) * 512;
      const len = (1 + rnd(40)) * 512;
      const buf = Buffer.alloc(len, i & 0xff);
      buf.copy(expect, off);
      writes.push(d.write(off, buf, false));
    }
    await Promise.all(writes);
    await d.flush();
    assert.deepEqual(await read(d, 0, SIZE), expect);
    const again = await OverlayDisk.open({ basePath: base, dataPath: o + '.data', mapPath: o + '.map', id: 'tc' });
    assert.deepEqual(await read(again, 0, SIZE), expect, 'and after a reopen (map persisted by flush)');
    await again.close();
    await d.close();
  });
  it('every terminal disk has its own NAA id', async () => {
    const a = await OverlayDisk.open({ basePath: base, dataPath: join(dir, 'n1.data'), mapPath: join(dir, 'n1.map'), id: 'img/a' });
    const b = await OverlayDisk.open({ basePath: base, dataPath: join(dir, 'n2.data'), mapPath: join(dir, 'n2.map'), id: 'img/b' });
    assert.notDeepEqual(a.naa, b.naa);
    assert.equal(a.naa[0]! >> 4, 6);
    await a.close();
    await b.close();
  });
});

describe('overlay manager: discard, keep, super + commit + rollback', () => {
  const A = parseMac('52:54:00:00:00:0a');
  const B = parseMac('52:54:00:00:00:0b');
  const S = parseMac('52:54:00:00:00:5e');
  const mk = () =>
    new OverlayManager({
      dataDir: join(dir, 'data'),
      settings: overlaySettings({ images: { demo: base }, overlays: { defaultMode: 'discard', terminals: { [B]: 'keep', [S]: 'super' } } }),
      logger,
    });

  it('discard: a new session starts from the image; keep: survives; isolation between terminals', async () => {
    const m = mk();
    await m.start();
    const a = await m.openTerminal('demo', A, { newSession: true });
    await a.disk.write(0, Buffer.alloc(4096, 0xa1), false);
    const b = await m.openTerminal('demo', B, { newSession: true });
    assert.deepEqual(await read(b.disk, 0, 4096), golden.subarray(0, 4096), 'B sees the image, not A');
    await b.disk.write(0, Buffer.alloc(4096, 0xb1), false);
    // a reinstated session (same initiator) shares the open disk: no reset
    const a2 = await m.openTerminal('demo', A, { newSession: false });
    assert.deepEqual(await read(a2.disk, 0, 4096), Buffer.alloc(4096, 0xa1));
    await a.release();
    await a2.release();
    await b.release();
    const a3 = await m.openTerminal('demo', A, { newSession: true });
    assert.deepEqual(await read(a3.disk, 0, 4096), golden.subarray(0, 4096), 'discard: reboot → clean image');
    await a3.release();
    const b2 = await m.openTerminal('demo', B, { newSession: true });
    assert.deepEqual(await read(b2.disk, 0, 4096), Buffer.alloc(4096, 0xb1), 'keep: survives');
    assert.equal(await m.overlayBytes('demo', B), 4096);
    await b2.release();
    await m.reset('demo', B);
    assert.equal(await m.overlayBytes('demo', B), 0);
    await m.stop();
  });

  it("a seat class's bound applies to the disks opened after it is set; the last session's end reports the overlay size", async () => {
    const m = mk();
    await m.start();
    const ends: Array<[string, string, string, number]> = [];
    m.onSessionEnd((e) => ends.push([e.image, e.mac, e.mode, e.bytes]));
    m.setLimitFor((mac) => (mac === A ? 8192 : undefined));
    const a = await m.openTerminal('demo', A, { newSession: true });
    const a2 = await m.openTerminal('demo', A, { newSession: false });
    await a.disk.write(0, Buffer.alloc(8192, 0xa1), false);
    await assert.rejects(a.disk.write(65536, Buffer.alloc(4096, 0xa2), false), SpaceExhaustedError);
    await a.release();
    assert.deepEqual(ends, [], 'a session still holds the disk');
    await a2.release();
    assert.deepEqual(ends, [['demo', A, 'discard', 8192]]);
    const b = await m.openTerminal('demo', B, { newSession: true });
    await b.disk.write(65536, Buffer.alloc(16384, 0xb2), false);
    await b.release();
    assert.deepEqual(ends[1], ['demo', B, 'keep', await m.overlayBytes('demo', B)], 'unbounded B: what it holds on file');
    assert.ok(ends[1]![3] >= 16384);
    await m.stop();
  });

  it('discard: markBoot (the terminal fetched its boot script) resets even while a stale session holds the disk', async () => {
    const m = mk();
    await m.start();
    const stale = await m.openTerminal('demo', A, { newSession: true });
    await stale.disk.write(0, Buffer.alloc(4096, 0xa7), false);
    const reinstated = await m.openTerminal('demo', A, { newSession: false });
    assert.deepEqual(await read(reinstated.disk, 0, 4096), Buffer.alloc(4096, 0xa7), 'no boot signal: shared, kept');
    m.markBoot(A);
    const booted = await m.openTerminal('demo', A, { newSession: false }); // iPXE: same name + ISID
    assert.deepEqual(await read(booted.disk, 0, 4096), golden.subarray(0, 4096), 'clean image after the reboot');
    await stale.disk.write(4096, Buffer.alloc(4096, 0xa8), false); // the stale session writes on
    assert.deepEqual(await read(booted.disk, 4096, 4096), golden.subarray(4096, 8192), 'stale writes do not leak in');
    await stale.release();
    await reinstated.release();
    await booted.disk.write(0, Buffer.alloc(512, 0xa9), false);
    assert.deepEqual(await read(booted.disk, 0, 512), Buffer.alloc(512, 0xa9));
    await booted.release();
    await m.stop();
  });

  it('discard: a reset keeps the data file (only the map is emptied) unless a stale session holds it or it is over recycleBytes', async () => {
    const at = (m: string) => join(dir, 'recycle', m, 'overlays', 'terminals', 'demo', '52-54-00-00-00-0a', 'data');
    const make = (name: string, recycleBytes?: number) =>
      new OverlayManager({
        dataDir: join(dir, 'recycle', name),
        settings: overlaySettings({
          images: { demo: base },
          overlays: { defaultMode: 'discard', ...(recycleBytes === undefined ? {} : { recycleBytes }) },
        }),
        logger,
      });
    /** boots A (a new session), says what the raw data file held at open (the last boot's bytes, or a hole), writes */
    const boot = async (m: OverlayManager, name: string, fill: number, newSession = true) => {
      const t = await m.openTerminal('demo', A, { newSession });
      const raw = readFileSync(at(name)).subarray(0, 8192);
      assert.deepEqual(await read(t.disk, 0, 8192), golden.subarray(0, 8192), 'every boot starts from the image');
      await t.disk.write(0, Buffer.alloc(8192, fill), false);
      await t.disk.flush();
      return { t, kept: raw.every((x) => x !== 0) ? raw[0] : raw.every((x) => x === 0) ? 'new' : 'mixed' };
    };
    const m = make('on');
    await m.start();
    const first = await boot(m, 'on', 0xc1);
    assert.equal(first.kept, 'new');
    await first.t.release();
    const second = await boot(m, 'on', 0xc2);
    assert.equal(second.kept, 0xc1, 'the same file: its blocks are already allocated');
    // a stale session still holding the old disk: the file it writes through must not be the new overlay's
    m.markBoot(A);
    const fresh = await boot(m, 'on', 0xc3, false);
    assert.equal(fresh.kept, 'new', 'a new file while a stale session holds the old one');
    await second.t.disk.write(0, Buffer.alloc(4096, 0xee), false);
    assert.deepEqual(await read(fresh.t.disk, 0, 4096), Buffer.alloc(4096, 0xc3), 'stale writes never reach the new overlay');
    await second.t.release();
    await fresh.t.release();
    await m.stop();
    for (const [name, cap] of [
      ['off', 0],
      ['small', 4096],
    ] as const) {
      const n = make(name, cap);
      await n.start();
      await (await boot(n, name, 0xd1)).t.release();
      const again = await boot(n, name, 0xd2);
      assert.equal(again.kept, 'new', `recycleBytes ${cap}: a new file`);
      await again.t.release();
      await n.stop();
    }
  });

  it('super: commit makes a new version for later sessions; running terminals keep theirs; rollback', async () => {
    const m = mk();
    await m.start();
    const running = await m.openTerminal('demo', A, { newSession: true });
    const s = await m.openTerminal('demo', S, { newSession: true });
    await s.disk.write(1024 * 4, Buffer.alloc(8192, 0x5e), false);
    const v = await m.commit('demo', S, 'install updates');
    assert.equal(v.version, 2);
    assert.equal(m.images()[0]!.current, 2);
    assert.deepEqual(await read(running.disk, 4096, 8192), golden.subarray(4096, 4096 + 8192), 'running terminal keeps v1');
    await running.release();
    const later = await m.openTerminal('demo', A, { newSession: true });
    assert.deepEqual(await read(later.disk, 4096, 8192), Buffer.alloc(8192, 0x5e), 'next session boots v2');
    await later.release();
    await s.release();
    await m.rollback('demo', 1);
    const rolled = await m.openTerminal('demo', A, { newSession: true });
    assert.deepEqual(await read(rolled.disk, 4096, 8192), golden.subarray(4096, 4096 + 8192));
    await rolled.release();
    // the manifest on disk says the same after a restart
    const m2 = mk();
    await m2.start();
    assert.deepEqual(
      m2.images()[0]!.versions.map((x) => x.version),
      [1, 2],
    );
    assert.equal(m2.images()[0]!.current, 1);
    await m.stop();
    await m2.stop();
  });

  it('terminals(): who is on which version, with mode, size and in-use, for the images screen', async () => {
    const m = new OverlayManager({
      dataDir: join(dir, 'data-terminals'),
      settings: overlaySettings({ images: { demo: base }, overlays: { defaultMode: 'keep', terminals: { [S]: 'super' } } }),
      logger,
    });
    await m.start();
    // S has a mode set but no overlay yet: listed, pinned to nothing
    assert.deepEqual(await m.terminals('demo'), [
      { mac: S, mode: 'super', overlayMode: null, baseVersion: null, createdAt: null, bytes: 0, inUse: false },
    ]);
    const a = await m.openTerminal('demo', A, { newSession: true });
    await a.disk.write(0, Buffer.alloc(8192, 0xa1), false);
    const s = await m.openTerminal('demo', S, { newSession: true });
    await s.disk.write(0, Buffer.alloc(4096, 0x5e), false);
    await m.commit('demo', S, 'v2');
    await s.release();
    await a.release();
    const b = await m.openTerminal('demo', B, { newSession: true }); // opened after the commit: on v2
    const list = await m.terminals('demo');
    assert.deepEqual(
      list.map((t) => [t.mac, t.mode, t.overlayMode, t.baseVersion, t.inUse]),
      [
        [A, 'keep', 'keep', 1, false],
        [B, 'keep', 'keep', 2, true],
        [S, 'super', 'super', 1, false],
      ],
    );
    assert.ok(list[0]!.bytes >= 8192, `A holds ${list[0]!.bytes}`);
    assert.equal(list[1]!.bytes, 0);
    m.setMode(A, 'discard');
    assert.equal((await m.terminals('demo'))[0]!.mode, 'discard', 'the next open uses the mode set now');
    await b.release();
    await assert.rejects(m.terminals('nope'), { code: 'IMAGE_UNKNOWN' });
    await m.stop();
  });

  it('provider: per-terminal IQN → that terminal overlay; other IPs refused; unknown image not found', async () => {
    const m = mk();
    await m.start();
    const leases = new Map([[A, '10.74.0.10']]);
    const p = new OverlayDeviceProvider({
      manager: m,
      ipForMac: (mac) => leases.get(mac),
      macsForIp: (ip) => [...leases].filter(([, v]) => v === ip).map(([k]) => k),
    });
    const iqn = targetIqn('demo', A);
    assert.equal((await p.resolve({ targetName: iqn, initiatorName: 'x', clientIp: '10.74.0.10' })).status, 'ok');
    assert.equal((await p.resolve({ targetName: iqn, initiatorName: 'x', clientIp: '10.74.0.99' })).status, 'not-allowed');
    assert.equal((await p.resolve({ targetName: targetIqn('other', A), initiatorName: 'x', clientIp: '10.74.0.10' })).status, 'not-found');
    assert.deepEqual(await p.listTargets({ initiatorName: 'x', clientIp: '10.74.0.10' }), [iqn]);
    await m.stop();
  });

  it('provider: onOpened fires once the disk is open (admission control frees the slot at iSCSI login)', async () => {
    const m = mk();
    await m.start();
    const opened: string[] = [];
    const p = new OverlayDeviceProvider({ manager: m, onOpened: (image, mac) => opened.push(`${image} ${mac}`) });
    const r = await p.resolve({ targetName: targetIqn('demo', A), initiatorName: 'x', clientIp: '10.74.0.10' });
    assert.equal(r.status, 'ok');
    assert.deepEqual(opened, [], 'not at resolve: only when the session opens the disk');
    if (r.status !== 'ok') return;
    const lease = await r.open({ reinstatement: false });
    assert.deepEqual(opened, [`demo ${A}`]);
    await lease.release();
    await m.stop();
  });
});

describe('overlay admin script (offline list / size / reset / commit / rollback)', () => {
  const ADMIN = fileURLToPath(new URL('../helpers/overlay-admin-runner.ts', import.meta.url));
  const data = join(dir, 'admin-data');
  const admin = (...args: string[]) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', ADMIN, '--data-dir', data, '--image', `demo=${base}`, ...args], { encoding: 'utf8' });
    return { code: r.status, json: r.stdout ? JSON.parse(r.stdout) : undefined, err: r.stderr };
  };
  it('commits a super overlay written earlier, lists the versions, rolls back, resets', async () => {
    const m = new OverlayManager({
      dataDir: data,
      settings: overlaySettings({ images: { demo: base }, overlays: { defaultMode: 'super' } }),
      logger,
    });
    await m.start();
    const s = await m.openTerminal('demo', parseMac('52:54:00:00:00:aa'), { newSession: true });
    await s.disk.write(0, Buffer.alloc(4096, 0x42), false);
    await s.disk.flush();
    await s.release();
    await m.stop();
    assert.equal(admin('size', 'demo', '52:54:00:00:00:aa').json.overlayBytes, 4096);
    assert.equal(admin('commit', 'demo', '52:54:00:00:00:aa', 'patch').json.version, 2);
    assert.equal(readFileSync(join(data, 'overlays/images/demo/v2.img')).subarray(0, 4096).equals(Buffer.alloc(4096, 0x42)), true);
    assert.deepEqual(
      admin('list').json[0].versions.map((v: { version: number }) => v.version),
      [1, 2],
    );
    assert.equal(admin('rollback', 'demo', '1').code, 0);
    assert.equal(admin('list').json[0].current, 1);
    assert.equal(admin('rollback', 'demo', '9').err.trim().split(':')[0], 'VERSION_UNKNOWN');
    assert.equal(admin('reset', 'demo', '52:54:00:00:00:aa').code, 0);
    assert.equal(admin('size', 'demo', '52:54:00:00:00:aa').json.overlayBytes, 0);
  });
});
