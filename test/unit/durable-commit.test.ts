import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { AuditSigner } from '../../src/audit/keys.ts';
import { AuditLog } from '../../src/audit/log.ts';
import { decodeDhcp } from '../../src/dhcp/codec.ts';
import { MessageType as T, Opt } from '../../src/dhcp/constants.ts';
import { optU8 } from '../../src/dhcp/options.ts';
import { AuditRepository } from '../../src/store/audit-repository.ts';
import { openDatabase } from '../../src/store/database.ts';
import { WalSync } from '../../src/store/wal-sync.ts';
import { intToIp } from '../../src/wire/ipv4.ts';
import { clientPacket, ip } from '../helpers/dhcp-client-packets.ts';
import { makeHarness, SERVER_ID } from '../helpers/dhcp-harness.ts';
import { tick } from '../helpers/memory-network.ts';

/**
 * Durable commits off the event loop: the database runs synchronous=NORMAL and the appliance acknowledges a
 * commit (an audit record's promise, a DHCP ACK) only after a WalSync of the WAL that covers it. A controllable
 * `durable` stands in for the sync to show that nothing is acknowledged before it and nothing at all if it fails.
 */
function deferred(): { durable: () => Promise<void>; calls: number; resolveAll: () => void; rejectAll: (e: Error) => void } {
  const waiting: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  const d = {
    calls: 0,
    durable: () => {
      d.calls++;
      return new Promise<void>((resolve, reject) => waiting.push({ resolve, reject }));
    },
    resolveAll: () => {
      for (const w of waiting.splice(0)) w.resolve();
    },
    rejectAll: (e: Error) => {
      for (const w of waiting.splice(0)) w.reject(e);
    },
  };
  return d;
}

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'bg-durable-'));
  dirs.push(d);
  return d;
};

describe('WalSync and synchronous=NORMAL', () => {
  it('syncInCommit false sets synchronous=NORMAL (1), the default FULL (2)', () => {
    const d = tmp();
    assert.equal(openDatabase(join(d, 'a.db'), { syncInCommit: false }).pragma('synchronous', { simple: true }), 1);
    assert.equal(openDatabase(join(d, 'b.db')).pragma('synchronous', { simple: true }), 2);
  });

  it('syncs after commits, concurrently, before the WAL exists and after it was recreated', async () => {
    const d = tmp();
    const file = join(d, 'bootgate.db');
    const wal = new WalSync(`${file}-wal`);
    await wal.sync(); // no WAL yet: nothing to sync
    let db = openDatabase(file, { syncInCommit: false });
    db.exec('CREATE TABLE t (x)');
    db.prepare('INSERT INTO t VALUES (1)').run();
    await Promise.all(Array.from({ length: 20 }, () => wal.sync()));
    db.close(); // the last connection checkpoints and removes the WAL
    db = openDatabase(file, { syncInCommit: false });
    db.prepare('INSERT INTO t VALUES (2)').run();
    await wal.sync(); // a new WAL file (new inode): reopened, not the stale descriptor
    assert.deepEqual(db.prepare('SELECT x FROM t ORDER BY x').pluck().all(), [1, 2]);
    await wal.close();
    await assert.rejects(wal.sync(), /closed/);
    db.close();
  });
});

describe('acknowledgement waits for durable()', () => {
  it('audit: append resolves only after the sync; a failed sync rejects (committed, never acknowledged)', async () => {
    const db = openDatabase(':memory:');
    const d = deferred();
    const log = new AuditLog({
      repo: new AuditRepository(db),
      signer: AuditSigner.loadOrCreate(join(tmp(), 'keys')),
      logger: pino({ level: 'silent' }),
      durable: d.durable,
    });
    let settled = false;
    const p = log.append({ kind: 'admin', actor: 'test', action: 'one' }).then(() => (settled = true));
    await tick();
    await tick();
    assert.equal(d.calls, 1, 'the commit asked for a sync');
    assert.equal(settled, false, 'not acknowledged while the sync is pending');
    d.resolveAll();
    await p;
    const q = log.append({ kind: 'admin', actor: 'test', action: 'two' });
    await tick();
    await tick();
    d.rejectAll(new Error('EIO'));
    await assert.rejects(q, /EIO/);
    const stopped = log.stop(); // nothing pending: resolves
    await stopped;
  });

  it('dhcp: the OFFER leaves at once, the ACK only after the sync of its lease', async () => {
    const d = deferred();
    const h = makeHarness(undefined, { durable: d.durable });
    const mac = '52:54:00:dd:00:01';
    const [offer] = await h.exchange(clientPacket({ type: T.DISCOVER, mac, broadcast: true }));
    assert.equal(optU8(offer!.p, Opt.MESSAGE_TYPE), T.OFFER);
    const yiaddr = intToIp(offer!.p.yiaddr);
    const none = await h.exchange(
      clientPacket({
        type: T.REQUEST,
        mac,
        broadcast: true,
        options: [
          [Opt.SERVER_ID, ip(SERVER_ID)],
          [Opt.REQUESTED_IP, ip(yiaddr)],
        ],
      }),
    );
    assert.deepEqual(none, [], 'no ACK before the lease is on disk');
    assert.ok(d.calls >= 1);
    d.resolveAll();
    await tick();
    const [ack] = h.net.take();
    assert.equal(optU8(decodeDhcp(ack!.buf), Opt.MESSAGE_TYPE), T.ACK, 'the ACK after the sync');
    h.close();
  });
});
