import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { pino } from 'pino';
import { LoginStatus, Op } from '../../src/iscsi/constants.ts';
import { IscsiTarget } from '../../src/iscsi/target.ts';
import { decodeText } from '../../src/iscsi/text.ts';
import { ipxeOperationalKeys, RawInitiator } from '../helpers/iscsi-initiator.ts';
import { MemoryDevice, singleDiskProvider } from '../helpers/iscsi-memory-device.ts';
import { iscsiTargetConfigSchema } from '../../src/iscsi/config.ts';

const IQN = 'iqn.2026-11.io.bootgate:disk.demo.52-54-00-00-00-01';
const CHAP_IQN = 'iqn.2026-11.io.bootgate:disk.secure';
const INI = 'iqn.2010-04.org.ipxe:pc1';
const logger = pino({ level: 'silent' });

async function startTarget(
  provider: ConstructorParameters<typeof IscsiTarget>[0]['provider'],
  extra: Partial<ConstructorParameters<typeof IscsiTarget>[0]['config']> = {},
) {
  const registry = new Registry();
  const t = new IscsiTarget({ config: { ...iscsiTargetConfigSchema.parse({}), listen: '127.0.0.1', port: 0, ...extra }, logger, registry, provider });
  await t.start();
  return { t, registry };
}

const metric = async (r: Registry, name: string, labels: Record<string, string> = {}): Promise<number> => {
  const m = (await r.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values ?? []).filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((s, v) => s + Number(v.value), 0);
};

describe('iSCSI target: login, negotiation, full feature phase (PROTOCOLS.md §7 checks 28-36)', () => {
  const disk = new MemoryDevice(2048, false, 'a', (i) => i & 0xff);
  const { provider, stats } = singleDiskProvider(IQN, disk);
  let target: IscsiTarget;
  let registry: Registry;
  let port: number;
  before(async () => {
    ({ t: target, registry } = await startTarget(provider));
    port = target.port;
  });
  after(() => target.stop());

  it("check 29: iPXE's login string → full feature phase, status 0, TPGT present, ImmediateData=No", async () => {
    const c = await RawInitiator.connect(port);
    const r1 = await c.login(0, 1, true, [
      ['InitiatorName', INI],
      ['TargetName', IQN],
      ['SessionType', 'Normal'],
      ['AuthMethod', 'None'],
    ]);
    assert.equal(r1?.status, 0);
    const first = new Map(r1!.pairs);
    assert.equal(first.get('TargetPortalGroupTag'), '1');
    assert.equal(first.get('AuthMethod'), 'None');
    assert.ok(Number(first.get('MaxRecvDataSegmentLength')) >= 8192, 'we declare ours when entering the operational stage');
    const r2 = await c.login(1, 3, true, ipxeOperationalKeys());
    assert.equal(r2?.status, 0);
    assert.equal(r2!.pdu.bhs[1]! & 0x83, 0x83, 'T bit and NSG=3');
    assert.ok(r2!.pdu.bhs.readUInt16BE(14) > 0, 'TSIH assigned');
    const ops = new Map(r2!.pairs);
    assert.equal(ops.get('ImmediateData'), 'No');
    assert.equal(ops.get('InitialR2T'), 'Yes');
    assert.equal(ops.get('HeaderDigest'), 'None');
    assert.equal(ops.get('MaxBurstLength'), '262144');
    assert.equal(ops.get('FirstBurstLength'), '65536');
    assert.equal(ops.get('DefaultTime2Wait'), '2');
    assert.equal(ops.get('DefaultTime2Retain'), '0');
    assert.equal(ops.get('ErrorRecoveryLevel'), '0');
    // check 32: TUR on a new session → GOOD; READ CAPACITY(10)
    c.scsi([0x00]);
    assert.equal((await c.result())?.status, 0);
    c.scsi([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], { read: 8 });
    const rc = await c.result();
    assert.equal(rc?.data.readUInt32BE(0), 2047);
    // READ(10) of 16 blocks with an 8 KiB MaxRecvDataSegmentLength: 1 Data-In per 8 KiB, status in the last
    c.scsi([0x28, 0, 0, 0, 0, 1, 0, 0, 16, 0], { read: 8192 });
    const rd = await c.result();
    assert.equal(rd?.status, 0);
    assert.deepEqual(rd!.data, disk.bytes.subarray(512, 512 + 8192));
    assert.equal(rd!.pdus.length, 1);
    c.scsi([0x28, 0, 0, 0, 0, 0, 0, 0, 64, 0], { read: 32768 });
    const big = await c.result();
    assert.equal(big!.pdus.length, 4, 'split at the initiator MaxRecvDataSegmentLength');
    assert.deepEqual(big!.data, disk.bytes.subarray(0, 32768));
    c.logout();
    const lo = await c.recv();
    assert.equal(lo!.bhs[0]! & 0x3f, Op.LOGOUT_RSP);
    assert.ok(await c.waitClosed());
  });

  it('check 30: unknown key → NotUnderstood, bad value → Reject', async () => {
    const c = await RawInitiator.connect(port);
    const r1 = await c.login(0, 1, true, [
      ['InitiatorName', INI],
      ['TargetName', IQN],
      ['AuthMethod', 'None'],
    ]);
    assert.equal(r1?.status, 0);
    const r2 = await c.login(1, 3, true, [
      ['X-com.example.Foo', 'bar'],
      ['NoSuchKey', '1'],
      ['MaxBurstLength', 'lots'],
      ['ErrorRecoveryLevel', '9'],
    ]);
    assert.equal(r2?.status, 0);
    const m = new Map(r2!.pairs);
    assert.equal(m.get('X-com.example.Foo'), 'NotUnderstood');
    assert.equal(m.get('NoSuchKey'), 'NotUnderstood');
    assert.equal(m.get('MaxBurstLength'), 'Reject');
    assert.equal(m.get('ErrorRecoveryLevel'), 'Reject');
    c.close();
  });

  it('check 30: wrong IQN → 0x0203; missing InitiatorName/TargetName → 0x0207; refused initiator → 0x0202; bad version → 0x0205', async () => {
    const cases: Array<[Array<[string, string]>, number]> = [
      [
        [
          ['InitiatorName', INI],
          ['TargetName', 'iqn.2026-11.io.bootgate:nope'],
        ],
        LoginStatus.NOT_FOUND,
      ],
      [[['TargetName', IQN]], LoginStatus.MISSING_PARAMETER],
      [[['InitiatorName', INI]], LoginStatus.MISSING_PARAMETER],
      [
        [
          ['InitiatorName', 'iqn.2000-01.x:forbidden'],
          ['TargetName', IQN],
        ],
        LoginStatus.AUTHORIZATION_FAILED,
      ],
    ];
    for (const [pairs, status] of cases) {
      const c = await RawInitiator.connect(port);
      const r = await c.login(0, 1, true, [...pairs, ['AuthMethod', 'None']]);
      assert.equal(r?.status, status, JSON.stringify(pairs));
      assert.ok(await c.waitClosed(), 'target closes after a failed login');
    }
    const c = await RawInitiator.connect(port);
    const b = Buffer.alloc(48);
    b[0] = 0x43;
    b[1] = 0x81;
    b[2] = 2;
    b[3] = 1; // Version-min 1
    c.send(b, Buffer.from(`InitiatorName=${INI}\0TargetName=${IQN}\0`));
    const r = await c.recv();
    assert.equal(r!.bhs.readUInt16BE(36), LoginStatus.UNSUPPORTED_VERSION);
  });

  it('check 28: discovery session, SendTargets=All → TargetName + TargetAddress=<local IP>:<port>,1', async () => {
    const c = await RawInitiator.connect(port);
    const r = await c.login(0, 3, true, [
      ['InitiatorName', INI],
      ['SessionType', 'Discovery'],
      ['AuthMethod', 'None'],
      ['MaxRecvDataSegmentLength', '8192'],
    ]);
    assert.equal(r?.status, 0);
    c.text([['SendTargets', 'All']]);
    const t = await c.recv();
    assert.equal(t!.bhs[0]! & 0x3f, Op.TEXT_RSP);
    assert.deepEqual(decodeText(t!.data), [
      ['TargetName', IQN],
      ['TargetAddress', `127.0.0.1:${port},1`],
    ]);
    // SCSI commands are not allowed in a discovery session (RFC 7143 §4.4.2): Reject
    c.scsi([0]);
    assert.equal((await c.recv())!.bhs[0]! & 0x3f, Op.REJECT);
    c.close();
  });

  it('Text: initiator continuation (C bit) and a long answer fetched in pieces (F=0, TTT)', async () => {
    const c = await RawInitiator.connect(port);
    assert.equal(
      (
        await c.login(0, 3, true, [
          ['InitiatorName', INI],
          ['SessionType', 'Discovery'],
          ['AuthMethod', 'None'],
          ['MaxRecvDataSegmentLength', '512'],
        ])
      )?.status,
      0,
    );
    const text = (flags: number, ttt: number, data: string) => {
      const b = Buffer.alloc(48);
      b[0] = 0x40 | Op.TEXT_REQ;
      b[1] = flags;
      b.writeUInt32BE(7, 16);
      b.writeUInt32BE(ttt, 20);
      b.writeUInt32BE(c.cmdSn, 24);
      c.send(b, Buffer.from(data));
    };
    text(0x40, 0xffffffff, 'SendTarg'); // C=1, F=0: the key continues in the next PDU
    const ack = await c.recv();
    assert.equal(ack!.data.length, 0);
    const ttt = ack!.bhs.readUInt32BE(20);
    assert.notEqual(ttt, 0xffffffff);
    text(0x80, ttt, 'ets=All\0X-long=' + 'v'.repeat(200) + '\0Y-long=' + 'w'.repeat(200) + '\0Z-long=' + 'z'.repeat(200) + '\0');
    const parts: Buffer[] = [];
    for (;;) {
      const r = await c.recv();
      assert.equal(r!.bhs[0]! & 0x3f, Op.TEXT_RSP);
      assert.ok(r!.data.length <= 512, 'pieces respect the initiator MaxRecvDataSegmentLength');
      parts.push(r!.data);
      if (r!.bhs[1]! & 0x80) break;
      assert.equal(r!.bhs[1]! & 0x40, 0x40, 'C bit while more follows');
      text(0x80, r!.bhs.readUInt32BE(20), '');
    }
    const pairs = new Map(decodeText(Buffer.concat(parts)));
    assert.equal(pairs.get('TargetName'), IQN);
    assert.equal(pairs.get('X-long'), 'NotUnderstood');
    assert.equal(pairs.get('Z-long'), 'NotUnderstood');
    c.close();
  });

  it('check 35: CmdSN = MaxCmdSN+1 is ignored; NOP-Out ping is echoed', async () => {
    const c = await RawInitiator.connect(port);
    assert.equal((await c.loginNormal(INI, IQN))?.status, 0);
    c.nop(Buffer.from('ping!'));
    const nopIn = await c.recv();
    assert.equal(nopIn!.bhs[0]! & 0x3f, Op.NOP_IN);
    assert.equal(nopIn!.data.toString(), 'ping!');
    const maxCmdSn = nopIn!.bhs.readUInt32BE(32);
    c.scsi([0x00], { cmdSn: (maxCmdSn + 1) >>> 0 });
    assert.equal(await c.recv(400), undefined, 'no answer outside the window');
    // a command ahead of ExpCmdSN waits for the gap to be filled, then both run in order
    const exp = nopIn!.bhs.readUInt32BE(28);
    c.scsi([0x00], { cmdSn: (exp + 1) >>> 0, itt: 901 });
    assert.equal(await c.recv(300), undefined);
    c.scsi([0x00], { cmdSn: exp, itt: 900 });
    const a = await c.recv();
    const b = await c.recv();
    assert.deepEqual([a!.bhs.readUInt32BE(16), b!.bhs.readUInt32BE(16)], [900, 901]);
    c.close();
  });

  it('check 33/35: READ10 past the end → 05/21; zero-length READ10 → GOOD; short EDTL → residuals', async () => {
    const c = await RawInitiator.connect(port);
    assert.equal((await c.loginNormal(INI, IQN))?.status, 0);
    c.scsi([0x28, 0, 0, 0, 0x07, 0xff, 0, 0, 2, 0], { read: 1024 });
    const past = await c.result();
    assert.equal(past?.status, 2);
    assert.deepEqual([past!.sense![2]! & 0xf, past!.sense![12], past!.sense![13]], [5, 0x21, 0]);
    c.scsi([0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0], { read: 0 });
    assert.equal((await c.result())?.status, 0);
    c.scsi([0x28, 0, 0, 0, 0, 0, 0, 0, 2, 0], { read: 2048 }); // EDTL > transfer: underflow
    const under = await c.result();
    assert.equal(under!.flags & 0x02, 0x02);
    assert.equal(under!.residual, 1024);
    c.scsi([0x28, 0, 0, 0, 0, 0, 0, 0, 2, 0], { read: 512 }); // EDTL < transfer: overflow, only EDTL sent
    const over = await c.result();
    assert.equal(over!.flags & 0x04, 0x04);
    assert.equal(over!.residual, 512);
    assert.equal(over!.data.length, 512);
    c.close();
  });

  it('writes: immediate data + unsolicited Data-Out + R2T, FirstBurstLength / MaxBurstLength honoured; duplicate DataSN fails', async () => {
    const c = await RawInitiator.connect(port);
    const ops = ipxeOperationalKeys().map(([k, v]): [string, string] =>
      k === 'ImmediateData'
        ? [k, 'Yes']
        : k === 'InitialR2T'
          ? [k, 'No']
          : k === 'FirstBurstLength'
            ? [k, '4096']
            : k === 'MaxBurstLength'
              ? [k, '8192']
              : [k, v],
    );
    const r = await c.loginNormal(INI, IQN, ops);
    assert.equal(r?.status, 0);
    const payload = Buffer.from(Array.from({ length: 24 * 512 }, (_, i) => (i * 13 + 1) & 0xff));
    const itt = c.scsi([0x2a, 0, 0, 0, 0, 100, 0, 0, 24, 0], { write: payload.length, immediate: payload.subarray(0, 2048) });
    c.dataOut(itt, 0xffffffff, 0, 2048, payload.subarray(2048, 4096), true); // unsolicited up to FirstBurstLength
    const r2ts: Array<{ ttt: number; offset: number; len: number }> = [];
    for (;;) {
      const p = await c.recv();
      assert.ok(p);
      if ((p.bhs[0]! & 0x3f) !== Op.R2T) {
        assert.equal(p.bhs[0]! & 0x3f, Op.SCSI_RSP);
        assert.equal(p.bhs[3], 0);
        break;
      }
      const t = { ttt: p.bhs.readUInt32BE(20), offset: p.bhs.readUInt32BE(40), len: p.bhs.readUInt32BE(44) };
      assert.ok(t.len <= 8192, 'R2T within MaxBurstLength');
      r2ts.push(t);
      // answer in 2 KiB PDUs
      for (let o = 0, sn = 0; o < t.len; o += 2048, sn++)
        c.dataOut(itt, t.ttt, sn, t.offset + o, payload.subarray(t.offset + o, t.offset + Math.min(t.len, o + 2048)), o + 2048 >= t.len);
    }
    assert.equal(r2ts[0]!.offset, 4096, 'R2Ts start after the unsolicited first burst');
    assert.equal(
      r2ts.reduce((s, t) => s + t.len, 0),
      payload.length - 4096,
    );
    assert.deepEqual(disk.bytes.subarray(100 * 512, 124 * 512), payload);
    // duplicate DataSN on a solicited burst → the command fails, nothing half-written acknowledged
    const itt2 = c.scsi([0x2a, 0, 0, 0, 0, 0, 0, 0, 16, 0], { write: 8192 });
    c.dataOut(itt2, 0xffffffff, 0, 0, Buffer.alloc(4096, 0xee), true);
    const r2t = await c.recv();
    assert.equal(r2t!.bhs[0]! & 0x3f, Op.R2T);
    const ttt = r2t!.bhs.readUInt32BE(20);
    c.dataOut(itt2, ttt, 0, 4096, Buffer.alloc(2048, 0xee), false);
    c.dataOut(itt2, ttt, 0, 6144, Buffer.alloc(2048, 0xee), true);
    const failed = await c.result();
    assert.equal(failed?.status, 2);
    c.close();
  });

  it('check 36: same initiator name + ISID as a live session → old session dropped, new one accepted', async () => {
    const before = stats.reinstatements;
    const a = await RawInitiator.connect(port);
    assert.equal((await a.loginNormal(INI, IQN))?.status, 0);
    const b = await RawInitiator.connect(port);
    assert.equal((await b.loginNormal(INI, IQN))?.status, 0);
    assert.ok(await a.waitClosed(), 'old connection closed');
    assert.equal(stats.reinstatements, before + 1);
    b.scsi([0x00]);
    assert.equal((await b.result())?.status, 0);
    b.close();
  });

  it('task management: ABORT TASK of a write waiting for data, LUN RESET, unknown task', async () => {
    const c = await RawInitiator.connect(port);
    assert.equal((await c.loginNormal(INI, IQN))?.status, 0);
    const itt = c.scsi([0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0], { write: 4096 });
    assert.equal((await c.recv())!.bhs[0]! & 0x3f, Op.R2T);
    const tmf = (fn: number, ref: number) => {
      const b = Buffer.alloc(48);
      b[0] = 0x40 | Op.TMF_REQ;
      b[1] = 0x80 | fn;
      b.writeUInt32BE(c.itt++, 16);
      b.writeUInt32BE(ref, 20);
      b.writeUInt32BE(c.cmdSn, 24);
      b.writeUInt32BE(c.cmdSn, 32);
      c.send(b);
    };
    tmf(1, itt);
    const rsp = await c.recv();
    assert.equal(rsp!.bhs[0]! & 0x3f, Op.TMF_RSP);
    assert.equal(rsp!.bhs[2], 0, 'function complete');
    tmf(5, 0);
    assert.equal((await c.recv())!.bhs[2], 0);
    c.close();
  });

  it('many sessions in parallel: 40 initiators each read and write their own range concurrently', async () => {
    const clients = await Promise.all(Array.from({ length: 40 }, () => RawInitiator.connect(port)));
    await Promise.all(
      clients.map(async (c, i) => {
        c.isid = Buffer.from([0x80, 0, 0, 0, 1, i]);
        const ops = ipxeOperationalKeys().map(([k, v]): [string, string] =>
          k === 'ImmediateData' ? [k, 'Yes'] : k === 'MaxRecvDataSegmentLength' ? [k, '65536'] : [k, v],
        );
        assert.equal((await c.loginNormal(`iqn.2000-01.many:${i}`, IQN, ops))?.status, 0);
        const lba = 1024 + i * 16;
        const payload = Buffer.alloc(8192, i + 1);
        c.scsi([0x2a, 0, 0, 0, lba >> 8, lba & 0xff, 0, 0, 16, 0], { write: 8192, immediate: payload });
        assert.equal((await c.result(10_000))?.status, 0);
        c.scsi([0x28, 0, 0, 0, lba >> 8, lba & 0xff, 0, 0, 16, 0], { read: 8192 });
        const r = await c.result(10_000);
        assert.ok(r?.data.equals(payload), `session ${i} reads back its own data`);
        c.close();
      }),
    );
  });

  it('bad input never takes the server down: garbage → connection dropped and counted', async () => {
    const c = await RawInitiator.connect(port);
    c.socket.write(Buffer.alloc(48, 0xff)); // DataSegmentLength 16M-1 > limit
    assert.ok(await c.waitClosed());
    assert.ok((await metric(registry, 'bootgate_iscsi_drops_total')) >= 1);
    const ok = await RawInitiator.connect(port);
    assert.equal((await ok.loginNormal(INI, IQN))?.status, 0);
    ok.close();
  });
});

describe('iSCSI target: CHAP and digests', () => {
  const disk = new MemoryDevice(64);
  const creds = { user: 'pc1', secret: 'pc1-secret-16b!', targetUser: 'bootgate', targetSecret: 'target-secret-1' };
  const { provider } = singleDiskProvider(CHAP_IQN, disk, creds);
  let target: IscsiTarget;
  before(async () => {
    ({ t: target } = await startTarget(provider));
  });
  after(() => target.stop());

  it('one-way and mutual CHAP succeed; the target proves the mutual secret', async () => {
    const a = await RawInitiator.connect(target.port);
    assert.equal((await a.loginChap(INI, CHAP_IQN, creds.user, creds.secret))?.status, 0);
    a.close();
    const b = await RawInitiator.connect(target.port);
    const challenge = Buffer.alloc(16, 0x42);
    const r = await b.loginChap(INI, CHAP_IQN, creds.user, creds.secret, { challenge, id: 77 });
    assert.equal(r?.status, 0);
    const { chapResponse } = await import('../../src/iscsi/chap.ts');
    assert.equal(new Map(r!.pairs).get('CHAP_R'), '0x' + chapResponse(77, creds.targetSecret, challenge).toString('hex'));
    b.close();
  });

  it('check 30: bad CHAP_R → 0x0201; AuthMethod=None when CHAP is required → 0x0201; skipping security → 0x0201', async () => {
    const a = await RawInitiator.connect(target.port);
    assert.equal((await a.loginChap(INI, CHAP_IQN, creds.user, 'not-the-secret'))?.status, LoginStatus.AUTH_FAILED);
    const b = await RawInitiator.connect(target.port);
    assert.equal((await b.loginNormal(INI, CHAP_IQN))?.status, LoginStatus.AUTH_FAILED);
    const c = await RawInitiator.connect(target.port);
    assert.equal(
      (await c.login(1, 3, true, [['InitiatorName', INI], ['TargetName', CHAP_IQN], ...ipxeOperationalKeys()]))?.status,
      LoginStatus.AUTH_FAILED,
    );
  });

  it('check 30: a reflected CHAP_C closes the connection without a response', async () => {
    const c = await RawInitiator.connect(target.port);
    await c.login(0, 1, false, [
      ['InitiatorName', INI],
      ['TargetName', CHAP_IQN],
      ['AuthMethod', 'CHAP'],
    ]);
    const r2 = await c.login(0, 1, false, [['CHAP_A', '5']]);
    const m = new Map(r2!.pairs);
    c.loginPdu(0, 1, true, [
      ['CHAP_N', creds.user],
      ['CHAP_R', '0x00112233445566778899aabbccddeeff'],
      ['CHAP_I', '1'],
      ['CHAP_C', m.get('CHAP_C')!],
    ]);
    assert.equal(await c.recv(1000), undefined);
    assert.ok(await c.waitClosed());
  });

  it('check 31: CRC32C header + data digests both ways; bad data digest → Reject 0x02; corrupted header digest drops the connection', async () => {
    const c = await RawInitiator.connect(target.port);
    const ops = ipxeOperationalKeys().map(([k, v]): [string, string] => (k.endsWith('Digest') ? [k, 'CRC32C,None'] : [k, v]));
    const r = await c.loginChap(INI, CHAP_IQN, creds.user, creds.secret);
    assert.equal(r?.status, 0);
    c.close();
    const d = await RawInitiator.connect(target.port);
    await d.login(0, 1, false, [
      ['InitiatorName', INI],
      ['TargetName', CHAP_IQN],
      ['AuthMethod', 'CHAP'],
    ]);
    const ch = new Map((await d.login(0, 1, false, [['CHAP_A', '5']]))!.pairs);
    const { chapResponse } = await import('../../src/iscsi/chap.ts');
    const { parseBinary } = await import('../../src/iscsi/text.ts');
    await d.login(0, 1, true, [
      ['CHAP_N', creds.user],
      ['CHAP_R', '0x' + chapResponse(Number(ch.get('CHAP_I')), creds.secret, parseBinary(ch.get('CHAP_C')!)!).toString('hex')],
    ]);
    const fin = await d.login(1, 3, true, ops);
    assert.equal(new Map(fin!.pairs).get('HeaderDigest'), 'CRC32C');
    assert.equal(new Map(fin!.pairs).get('DataDigest'), 'CRC32C');
    d.useDigests(true, true);
    // data moves both ways with both digests checked (our framer verifies the target's)
    const payload = Buffer.from(Array.from({ length: 1536 }, (_, i) => (i * 5 + 1) & 0xff));
    const w = d.scsi([0x2a, 0, 0, 0, 0, 8, 0, 0, 3, 0], { write: 1536 });
    const r2t = await d.recv();
    assert.equal(r2t!.bhs[0]! & 0x3f, Op.R2T);
    d.dataOut(w, r2t!.bhs.readUInt32BE(20), 0, 0, payload, true);
    assert.equal((await d.result())?.status, 0);
    d.scsi([0x28, 0, 0, 0, 0, 8, 0, 0, 3, 0], { read: 1536 });
    const back = await d.result();
    assert.equal(
      back!.pdus.every((p) => !p.dataDigestError),
      true,
    );
    assert.ok(back!.data.equals(payload));
    // a corrupted data digest: Reject (reason 0x02 data digest error) and the command fails
    const w2 = d.scsi([0x2a, 0, 0, 0, 0, 8, 0, 0, 1, 0], { write: 512 });
    const r2t2 = await d.recv();
    const dob = Buffer.alloc(48);
    dob[0] = Op.DATA_OUT;
    dob[1] = 0x80;
    dob.writeUInt32BE(w2, 16);
    dob.writeUInt32BE(r2t2!.bhs.readUInt32BE(20), 20);
    dob.writeUIntBE(512, 5, 3); // DataSegmentLength
    const { framePdu: fp } = await import('../../src/iscsi/framer.ts');
    const bad = fp(dob, Buffer.alloc(512, 0x33), true, true);
    bad[bad.length - 1]![0] = bad[bad.length - 1]![0]! ^ 0xff;
    for (const p of bad) d.socket.write(p);
    const rej = await d.recv();
    assert.equal(rej!.bhs[0]! & 0x3f, Op.REJECT);
    assert.equal(rej!.bhs[2], 0x02);
    const failed = await d.result();
    assert.equal(failed?.status, 2);
    assert.deepEqual([failed!.sense![2]! & 0xf, failed!.sense![12], failed!.sense![13]], [0xb, 0x47, 0x05]);
    // now corrupt one header byte after the digest was computed
    const b = Buffer.alloc(48);
    b[0] = 0x40;
    b[1] = 0x80;
    b.writeUInt32BE(99, 16);
    const { framePdu } = await import('../../src/iscsi/framer.ts');
    const pieces = framePdu(b, undefined, true, true);
    pieces[0]![17] = pieces[0]![17]! ^ 0xff;
    for (const p of pieces) d.socket.write(p);
    assert.ok(await d.waitClosed(), 'ERL 0: header digest error closes the connection');
  });
});
