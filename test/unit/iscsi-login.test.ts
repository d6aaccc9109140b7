import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ChapCredentials, TargetResolution } from '../../src/iscsi/block-device.ts';
import { chapResponse } from '../../src/iscsi/chap.ts';
import { LoginStatus, Op, Stage } from '../../src/iscsi/constants.ts';
import { LoginMachine, loginResponseBhs, type LoginContext, type LoginDecision } from '../../src/iscsi/login.ts';
import { DEFAULT_PREFERENCES } from '../../src/iscsi/negotiation.ts';
import { decodeLoginRequest, type LoginRequest } from '../../src/iscsi/pdu.ts';
import { encodeText, parseBinary, type TextPairs } from '../../src/iscsi/text.ts';
import { DecodeError } from '../../src/wire/decode-error.ts';
import { ipxeOperationalKeys } from '../helpers/iscsi-initiator.ts';

/** The login state machine without sockets: Login Requests in, decisions out (as CoreDHCP tests its handlers). */

const IQN = 'iqn.2026-11.io.bootgate:disk.demo';
const CHAP_IQN = 'iqn.2026-11.io.bootgate:disk.secure';
const INI = 'iqn.2010-04.org.ipxe:pc1';
const CHAP: ChapCredentials = { user: 'pc1', secret: 'secret-of-pc1', targetUser: 'bootgate', targetSecret: 'target-secret-1' };
const opened: string[] = [];
/** a fixed "random" source: CHAP_I = 7, challenge = 16 × 0xab */
const fixedRandom = (n: number): Buffer => (n === 1 ? Buffer.from([7]) : Buffer.alloc(n, 0xab));

function context(extra: Partial<LoginContext> = {}): LoginContext {
  const disk = (target: string, chap?: ChapCredentials): TargetResolution => ({
    status: 'ok',
    chap,
    open: async () => {
      opened.push(target);
      throw new Error('not opened in login tests');
    },
  });
  return {
    clientIp: '10.0.0.5',
    async resolve(ctx) {
      if (ctx.initiatorName.includes('forbidden')) return { status: 'not-allowed' };
      if (ctx.targetName === IQN) return disk(IQN);
      if (ctx.targetName === CHAP_IQN) return disk(CHAP_IQN, CHAP);
      return { status: 'not-found' };
    },
    sessionExists: (tsih) => tsih === 5,
    portalGroupTag: 1,
    prefs: DEFAULT_PREFERENCES,
    random: fixedRandom,
    ...extra,
  };
}

const ISID = Buffer.from([0x80, 0x12, 0x34, 0x56, 0x00, 0x01]);
function req(csg: number, nsg: number, transit: boolean, pairs: TextPairs, extra: Partial<LoginRequest> = {}): LoginRequest {
  return {
    transit,
    continue: false,
    csg,
    nsg: transit ? nsg : 0,
    versionMax: 0,
    versionMin: 0,
    isid: ISID,
    tsih: 0,
    itt: 1,
    cid: 0,
    cmdSn: 1,
    expStatSn: 0,
    data: encodeText(pairs),
    ...extra,
  };
}

const pairsOf = (d: LoginDecision): Map<string, string> => new Map(d.kind === 'close' ? [] : d.response.pairs);
function refused(d: LoginDecision, status: number, reason?: string): void {
  assert.equal(d.kind, 'refuse');
  if (d.kind !== 'refuse') return;
  assert.equal(d.response.status, status);
  assert.equal(d.response.transit, false);
  assert.deepEqual(d.response.pairs, []);
  if (reason) assert.equal(d.reason, reason);
}

/** iPXE states every operational value explicitly (PROTOCOLS.md I3) */
const ipxeOperational = ipxeOperationalKeys();

describe('iSCSI login state machine (login.ts)', () => {
  it('discovery session: security → operational → full feature, no TPGT, type Discovery without a disk', async () => {
    const m = new LoginMachine(context());
    const d1 = await m.receive(
      req(Stage.SECURITY, Stage.OPERATIONAL, true, [
        ['InitiatorName', INI],
        ['SessionType', 'Discovery'],
        ['AuthMethod', 'None'],
      ]),
    );
    assert.equal(d1.kind, 'respond');
    if (d1.kind !== 'respond') return;
    assert.deepEqual(
      { status: d1.response.status, transit: d1.response.transit, csg: d1.response.csg, nsg: d1.response.nsg },
      { status: 0, transit: true, csg: 0, nsg: 1 },
    );
    assert.equal(pairsOf(d1).get('AuthMethod'), 'None');
    assert.equal(pairsOf(d1).has('TargetPortalGroupTag'), false, 'TPGT is for Normal sessions');
    const d2 = await m.receive(req(Stage.OPERATIONAL, Stage.FULL_FEATURE, true, [['MaxRecvDataSegmentLength', '65536']]));
    assert.equal(d2.kind, 'full-feature');
    if (d2.kind !== 'full-feature') return;
    assert.equal(d2.result.type, 'Discovery');
    assert.equal(d2.result.targetName, '');
    assert.equal(d2.result.resolution, undefined);
    assert.equal(d2.result.initiatorName, INI);
    assert.deepEqual(d2.result.isid, ISID);
    assert.equal(d2.result.params.initiatorMaxRecvDataSegmentLength, 65536);
  });

  it('discovery: SendTargets is a full-feature Text key; offered during login it is answered Reject', async () => {
    const m = new LoginMachine(context());
    const d = await m.receive(
      req(Stage.OPERATIONAL, Stage.FULL_FEATURE, true, [
        ['InitiatorName', INI],
        ['SessionType', 'Discovery'],
        ['SendTargets', 'All'],
      ]),
    );
    assert.equal(d.kind, 'full-feature');
    assert.equal(pairsOf(d).get('SendTargets'), 'Reject');
  });

  it("normal session to a known target with iPXE's keys: TPGT and our MaxRecvDataSegmentLength in the first response, negotiated values", async () => {
    const m = new LoginMachine(context());
    const d1 = await m.receive(
      req(Stage.SECURITY, Stage.OPERATIONAL, true, [
        ['InitiatorName', INI],
        ['TargetName', IQN],
        ['SessionType', 'Normal'],
        ['AuthMethod', 'None'],
      ]),
    );
    assert.equal(d1.kind, 'respond');
    const first = pairsOf(d1);
    assert.equal(first.get('TargetPortalGroupTag'), '1');
    assert.equal(first.get('MaxRecvDataSegmentLength'), String(DEFAULT_PREFERENCES.maxRecvDataSegmentLength));
    const d2 = await m.receive(req(Stage.OPERATIONAL, Stage.FULL_FEATURE, true, ipxeOperational));
    assert.equal(d2.kind, 'full-feature');
    if (d2.kind !== 'full-feature') return;
    assert.deepEqual(
      { transit: d2.response.transit, csg: d2.response.csg, nsg: d2.response.nsg, status: d2.response.status },
      { transit: true, csg: 1, nsg: 3, status: 0 },
    );
    const ops = pairsOf(d2);
    assert.equal(ops.get('HeaderDigest'), 'None');
    assert.equal(ops.get('DataDigest'), 'None');
    assert.equal(ops.get('InitialR2T'), 'Yes', 'Yes if either says Yes');
    assert.equal(ops.get('ImmediateData'), 'No', 'Yes only if both say Yes');
    assert.equal(ops.get('MaxBurstLength'), '262144', 'the smaller value');
    assert.equal(ops.get('FirstBurstLength'), '65536');
    assert.equal(ops.get('DefaultTime2Wait'), '2', 'the larger value');
    assert.equal(ops.get('DefaultTime2Retain'), '0');
    assert.equal(ops.has('MaxRecvDataSegmentLength'), false, 'declarative: not answered, ours was declared once');
    assert.equal(ops.has('TargetPortalGroupTag'), false, 'TPGT only in the first response');
    assert.equal(d2.result.type, 'Normal');
    assert.equal(d2.result.targetName, IQN);
    assert.equal(d2.result.resolution?.status, 'ok');
    const p = d2.result.params;
    assert.deepEqual(
      [
        p.headerDigest,
        p.dataDigest,
        p.initialR2T,
        p.immediateData,
        p.maxBurstLength,
        p.firstBurstLength,
        p.initiatorMaxRecvDataSegmentLength,
        p.targetMaxRecvDataSegmentLength,
      ],
      [false, false, true, false, 262144, 65536, 8192, DEFAULT_PREFERENCES.maxRecvDataSegmentLength],
    );
    assert.deepEqual(opened, [], 'login decides; opening the disk is the connection’s job');
  });

  it('key negotiation: the target’s preferences bound the bursts, ImmediateData=Yes both ways, CRC32C picked in the initiator’s order', async () => {
    const m = new LoginMachine(context({ prefs: { ...DEFAULT_PREFERENCES, maxBurstLength: 131072, firstBurstLength: 65536 } }));
    const d = await m.receive(
      req(Stage.OPERATIONAL, Stage.FULL_FEATURE, true, [
        ['InitiatorName', INI],
        ['TargetName', IQN],
        ['HeaderDigest', 'CRC32C,None'],
        ['DataDigest', 'None,CRC32C'],
        ['ImmediateData', 'Yes'],
        ['InitialR2T', 'No'],
        ['MaxBurstLength', '1048576'],
        ['FirstBurstLength', '262144'],
        ['MaxRecvDataSegmentLength', '100'],
        ['X-com.example.Foo', 'bar'],
      ]),
    );
    assert.equal(d.kind, 'full-feature');
    const ops = pairsOf(d);
    assert.equal(ops.get('HeaderDigest'), 'CRC32C');
    assert.equal(ops.get('DataDigest'), 'None');
    assert.equal(ops.get('ImmediateData'), 'Yes');
    assert.equal(ops.get('InitialR2T'), 'No');
    assert.equal(ops.get('MaxBurstLength'), '131072');
    assert.equal(ops.get('FirstBurstLength'), '65536');
    assert.equal(
      ops.get('MaxRecvDataSegmentLength'),
      String(DEFAULT_PREFERENCES.maxRecvDataSegmentLength),
      'out of range (<512): the value is ours, theirs unchanged',
    );
    assert.equal(ops.get('X-com.example.Foo'), 'NotUnderstood');
    if (d.kind === 'full-feature') {
      assert.equal(d.result.params.headerDigest, true);
      assert.equal(d.result.params.initiatorMaxRecvDataSegmentLength, 8192, 'a rejected declaration keeps the default');
    }
  });

  it('unknown target → 0x0203; refused initiator → 0x0202; missing names → 0x0207; bad SessionType → 0x0209', async () => {
    refused(
      await new LoginMachine(context()).receive(
        req(0, 1, true, [
          ['InitiatorName', INI],
          ['TargetName', 'iqn.2026-11.io.bootgate:nope'],
        ]),
      ),
      LoginStatus.NOT_FOUND,
      'not-found',
    );
    refused(
      await new LoginMachine(context()).receive(
        req(0, 1, true, [
          ['InitiatorName', 'iqn.x:forbidden'],
          ['TargetName', IQN],
        ]),
      ),
      LoginStatus.AUTHORIZATION_FAILED,
      'not-allowed',
    );
    refused(await new LoginMachine(context()).receive(req(0, 1, true, [['TargetName', IQN]])), LoginStatus.MISSING_PARAMETER, 'no-initiator-name');
    refused(await new LoginMachine(context()).receive(req(0, 1, true, [['InitiatorName', INI]])), LoginStatus.MISSING_PARAMETER, 'no-target-name');
    refused(
      await new LoginMachine(context()).receive(
        req(0, 1, true, [
          ['InitiatorName', INI],
          ['SessionType', 'Other'],
        ]),
      ),
      LoginStatus.SESSION_TYPE_NOT_SUPPORTED,
    );
  });

  it('first PDU checks: Version-min > 0 → 0x0205; a TSIH of a live session → 0x0206, of none → 0x020a', async () => {
    const names: TextPairs = [
      ['InitiatorName', INI],
      ['TargetName', IQN],
    ];
    refused(await new LoginMachine(context()).receive(req(0, 1, true, names, { versionMin: 1 })), LoginStatus.UNSUPPORTED_VERSION, 'version');
    refused(await new LoginMachine(context()).receive(req(0, 1, true, names, { tsih: 5 })), LoginStatus.TOO_MANY_CONNECTIONS, 'tsih');
    refused(await new LoginMachine(context()).receive(req(0, 1, true, names, { tsih: 6 })), LoginStatus.SESSION_DOES_NOT_EXIST, 'tsih');
  });

  describe('CHAP (RFC 7143 §12.1.3)', () => {
    async function toChallenge(m: LoginMachine, target = CHAP_IQN): Promise<{ id: number; challenge: Buffer }> {
      const d1 = await m.receive(
        req(0, 1, true, [
          ['InitiatorName', INI],
          ['TargetName', target],
          ['AuthMethod', 'CHAP,None'],
        ]),
      );
      assert.equal(d1.kind, 'respond');
      if (d1.kind !== 'respond') throw new Error('unreachable');
      assert.equal(pairsOf(d1).get('AuthMethod'), 'CHAP');
      assert.equal(d1.response.transit, false, 'no leaving the security stage before CHAP succeeded');
      const d2 = await m.receive(req(0, 1, true, [['CHAP_A', '5']]));
      const p = pairsOf(d2);
      assert.equal(p.get('CHAP_A'), '5');
      assert.equal(d2.kind === 'respond' && d2.response.transit, false);
      return { id: Number(p.get('CHAP_I')), challenge: parseBinary(p.get('CHAP_C')!)! };
    }

    it('one-way CHAP: the right CHAP_R moves on to the operational stage', async () => {
      const m = new LoginMachine(context());
      const { id, challenge } = await toChallenge(m);
      assert.equal(id, 7);
      const d = await m.receive(
        req(0, 1, true, [
          ['CHAP_N', 'pc1'],
          ['CHAP_R', '0x' + chapResponse(id, CHAP.secret, challenge).toString('hex')],
        ]),
      );
      assert.equal(d.kind, 'respond');
      if (d.kind === 'respond') assert.deepEqual([d.response.status, d.response.transit, d.response.nsg], [0, true, 1]);
      assert.equal((await m.receive(req(1, 3, true, []))).kind, 'full-feature');
    });

    it('bad CHAP_R → 0x0201; wrong CHAP_N → 0x0201; AuthMethod=None when CHAP is required → 0x0201; skipping security → 0x0201', async () => {
      let m = new LoginMachine(context());
      let { id, challenge } = await toChallenge(m);
      refused(
        await m.receive(
          req(0, 1, true, [
            ['CHAP_N', 'pc1'],
            ['CHAP_R', '0x' + chapResponse(id, 'wrong', challenge).toString('hex')],
          ]),
        ),
        LoginStatus.AUTH_FAILED,
        'chap-bad-response',
      );
      m = new LoginMachine(context());
      ({ id, challenge } = await toChallenge(m));
      refused(
        await m.receive(
          req(0, 1, true, [
            ['CHAP_N', 'pc2'],
            ['CHAP_R', '0x' + chapResponse(id, CHAP.secret, challenge).toString('hex')],
          ]),
        ),
        LoginStatus.AUTH_FAILED,
        'chap-bad-user',
      );
      refused(
        await new LoginMachine(context()).receive(
          req(0, 1, true, [
            ['InitiatorName', INI],
            ['TargetName', CHAP_IQN],
            ['AuthMethod', 'None'],
          ]),
        ),
        LoginStatus.AUTH_FAILED,
        'chap-required',
      );
      refused(
        await new LoginMachine(context()).receive(
          req(1, 3, true, [
            ['InitiatorName', INI],
            ['TargetName', CHAP_IQN],
          ]),
        ),
        LoginStatus.AUTH_FAILED,
        'auth-required',
      );
    });

    it('mutual CHAP: the target answers the initiator’s challenge with its own secret', async () => {
      const m = new LoginMachine(context());
      const { id, challenge } = await toChallenge(m);
      const theirs = Buffer.alloc(16, 0x5c);
      const d = await m.receive(
        req(0, 1, true, [
          ['CHAP_N', 'pc1'],
          ['CHAP_R', '0x' + chapResponse(id, CHAP.secret, challenge).toString('hex')],
          ['CHAP_I', '33'],
          ['CHAP_C', '0x' + theirs.toString('hex')],
        ]),
      );
      assert.equal(d.kind, 'respond');
      const p = pairsOf(d);
      assert.equal(p.get('CHAP_N'), 'bootgate');
      assert.deepEqual(parseBinary(p.get('CHAP_R')!), chapResponse(33, CHAP.targetSecret!, theirs));
    });

    it('a reflected CHAP_C closes the connection without a response', async () => {
      const m = new LoginMachine(context());
      const { id, challenge } = await toChallenge(m);
      const d = await m.receive(
        req(0, 1, true, [
          ['CHAP_N', 'pc1'],
          ['CHAP_R', '0x' + chapResponse(id, CHAP.secret, challenge).toString('hex')],
          ['CHAP_I', String(id)],
          ['CHAP_C', '0x' + challenge.toString('hex')],
        ]),
      );
      assert.deepEqual(d, { kind: 'close', reason: 'CHAP_REFLECTION', result: 'reflected-challenge' });
    });

    it('discovery CHAP applies to discovery sessions; CHAP keys without AuthMethod=CHAP → 0x0200', async () => {
      const m = new LoginMachine(context({ discoveryChap: CHAP }));
      refused(
        await m.receive(
          req(0, 1, true, [
            ['InitiatorName', INI],
            ['SessionType', 'Discovery'],
            ['AuthMethod', 'None'],
          ]),
        ),
        LoginStatus.AUTH_FAILED,
        'chap-required',
      );
      refused(
        await new LoginMachine(context()).receive(
          req(0, 1, true, [
            ['InitiatorName', INI],
            ['TargetName', IQN],
            ['CHAP_A', '5'],
          ]),
        ),
        LoginStatus.INITIATOR_ERROR,
        'chap-not-negotiated',
      );
    });
  });

  describe('stages (RFC 7143 §11.12.3: CSG/NSG and the T bit)', () => {
    it('without T the stage stays; the next PDU may then transit; security may go straight to full feature', async () => {
      const m = new LoginMachine(context());
      const d1 = await m.receive(
        req(0, 0, false, [
          ['InitiatorName', INI],
          ['TargetName', IQN],
          ['AuthMethod', 'None'],
        ]),
      );
      assert.equal(d1.kind, 'respond');
      if (d1.kind === 'respond') assert.deepEqual([d1.response.transit, d1.response.csg], [false, 0]);
      const d2 = await m.receive(req(0, 3, true, []));
      assert.equal(d2.kind, 'full-feature');
      if (d2.kind === 'full-feature') assert.deepEqual([d2.response.csg, d2.response.nsg], [0, 3]);
    });

    it('operational stage after security without a T bit is allowed once authentication is done (None)', async () => {
      const m = new LoginMachine(context());
      await m.receive(
        req(0, 0, false, [
          ['InitiatorName', INI],
          ['TargetName', IQN],
          ['AuthMethod', 'None'],
        ]),
      );
      assert.equal((await m.receive(req(1, 3, true, ipxeOperational))).kind, 'full-feature');
    });

    it('reserved stage 2, CSG=3, NSG=2 and backwards or same-stage transitions → 0x0200', async () => {
      const names: TextPairs = [
        ['InitiatorName', INI],
        ['TargetName', IQN],
      ];
      refused(await new LoginMachine(context()).receive(req(2, 3, true, names)), LoginStatus.INITIATOR_ERROR, 'bad-stage');
      refused(await new LoginMachine(context()).receive(req(3, 3, false, names)), LoginStatus.INITIATOR_ERROR, 'bad-stage');
      refused(await new LoginMachine(context()).receive(req(0, 2, true, names)), LoginStatus.INITIATOR_ERROR, 'bad-stage');
      refused(await new LoginMachine(context()).receive(req(1, 1, true, names)), LoginStatus.INITIATOR_ERROR, 'bad-stage');
      refused(await new LoginMachine(context()).receive(req(1, 0, true, names)), LoginStatus.INITIATOR_ERROR, 'bad-stage');
    });

    it('a login PDU out of order: back to the security stage after operational → 0x0200, CSG stays the current one', async () => {
      const m = new LoginMachine(context());
      assert.equal(
        (
          await m.receive(
            req(1, 1, false, [
              ['InitiatorName', INI],
              ['TargetName', IQN],
            ]),
          )
        ).kind,
        'respond',
      );
      const d = await m.receive(req(0, 1, true, [['AuthMethod', 'None']]));
      refused(d, LoginStatus.INITIATOR_ERROR, 'bad-stage');
      if (d.kind === 'refuse') assert.equal(d.response.csg, 1);
    });

    it('auth keys outside the security stage and a key negotiated twice → 0x0200', async () => {
      refused(
        await new LoginMachine(context()).receive(
          req(1, 3, true, [
            ['InitiatorName', INI],
            ['TargetName', IQN],
            ['AuthMethod', 'None'],
          ]),
        ),
        LoginStatus.INITIATOR_ERROR,
        'auth-key-outside-security',
      );
      const m = new LoginMachine(context());
      await m.receive(
        req(1, 1, false, [
          ['InitiatorName', INI],
          ['TargetName', IQN],
          ['MaxBurstLength', '65536'],
        ]),
      );
      refused(await m.receive(req(1, 3, true, [['MaxBurstLength', '65536']])), LoginStatus.INITIATOR_ERROR, 'duplicate-key');
    });

    it('text split with the C bit: empty answers until the last piece, then the whole text is negotiated', async () => {
      const m = new LoginMachine(context());
      const text = encodeText([
        ['InitiatorName', INI],
        ['TargetName', IQN],
        ['AuthMethod', 'None'],
      ]);
      const d1 = await m.receive({ ...req(0, 1, true, []), continue: true, data: text.subarray(0, 20) });
      assert.equal(d1.kind, 'respond');
      if (d1.kind === 'respond') assert.deepEqual([d1.response.status, d1.response.transit, d1.response.pairs], [0, false, []]);
      const d2 = await m.receive({ ...req(0, 1, true, []), data: text.subarray(20) });
      assert.equal(pairsOf(d2).get('AuthMethod'), 'None');
      assert.equal(m.targetName, IQN);
    });

    it('malformed text → 0x0200', async () => {
      refused(
        await new LoginMachine(context()).receive({ ...req(0, 1, true, []), data: Buffer.from('no-equals-sign\0') }),
        LoginStatus.INITIATOR_ERROR,
        'bad-text',
      );
    });
  });

  it('the response BHS: opcode, T/CSG/NSG, ISID and ITT echoed, TSIH and status', () => {
    const r = req(1, 3, true, [], { itt: 0x01020304 });
    const bhs = loginResponseBhs(r, { status: 0x0203, transit: true, csg: 1, nsg: 3, pairs: [] }, 9);
    assert.equal(bhs[0], Op.LOGIN_RSP);
    assert.equal(bhs[1], 0x80 | (1 << 2) | 3);
    assert.deepEqual(bhs.subarray(8, 14), ISID);
    assert.equal(bhs.readUInt16BE(14), 9);
    assert.equal(bhs.readUInt32BE(16), 0x01020304);
    assert.equal(bhs.readUInt16BE(36), 0x0203);
  });

  it('decodeLoginRequest: fields at the RFC offsets; a short BHS or another opcode → DecodeError', () => {
    const b = Buffer.alloc(48);
    b[0] = 0x40 | Op.LOGIN_REQ;
    b[1] = 0x80 | 0x40 | (1 << 2) | 3;
    b[3] = 0;
    ISID.copy(b, 8);
    b.writeUInt16BE(7, 14);
    b.writeUInt32BE(0xaabbccdd, 16);
    b.writeUInt16BE(2, 20);
    b.writeUInt32BE(10, 24);
    b.writeUInt32BE(11, 28);
    const r = decodeLoginRequest({ bhs: b, ahs: Buffer.alloc(0), data: Buffer.alloc(0) });
    assert.deepEqual([r.transit, r.continue, r.csg, r.nsg, r.tsih, r.itt, r.cid, r.cmdSn, r.expStatSn], [true, true, 1, 3, 7, 0xaabbccdd, 2, 10, 11]);
    assert.deepEqual(r.isid, ISID);
    assert.throws(
      () => decodeLoginRequest({ bhs: b.subarray(0, 47), ahs: Buffer.alloc(0), data: Buffer.alloc(0) }),
      (e) => e instanceof DecodeError && e.code === 'TRUNCATED' && e.offset === 47,
    );
    b[0] = Op.TEXT_REQ;
    assert.throws(
      () => decodeLoginRequest({ bhs: b, ahs: Buffer.alloc(0), data: Buffer.alloc(0) }),
      (e) => e instanceof DecodeError && e.code === 'BAD_OPCODE',
    );
  });

  it('fuzz: random and mutated login PDUs only ever yield a decision (a refusal is class 0x02), never an exception', async () => {
    const keys = [
      'InitiatorName',
      'TargetName',
      'SessionType',
      'AuthMethod',
      'CHAP_A',
      'CHAP_N',
      'CHAP_R',
      'CHAP_I',
      'CHAP_C',
      'HeaderDigest',
      'MaxBurstLength',
      'FirstBurstLength',
      'ImmediateData',
      'InitialR2T',
      'MaxRecvDataSegmentLength',
      'SendTargets',
      'X-y',
    ];
    const values = [
      INI,
      IQN,
      CHAP_IQN,
      'Discovery',
      'Normal',
      'None',
      'CHAP',
      'CHAP,None',
      '5',
      'pc1',
      '0x00',
      '0xabcd',
      'Yes',
      'No',
      '512',
      '99999999',
      'CRC32C,None',
      '',
      'Reject',
      'NotUnderstood',
    ];
    const pair = fc.tuple(fc.constantFrom(...keys), fc.oneof(fc.constantFrom(...values), fc.string({ maxLength: 20 })));
    const text = fc.oneof(
      fc.array(pair, { maxLength: 6 }).map((p) => encodeText(p)),
      fc.uint8Array({ maxLength: 120 }).map((u) => Buffer.from(u)),
    );
    const pdu = fc.record({
      bhs: fc.uint8Array({ minLength: 40, maxLength: 48 }),
      flags: fc.integer({ min: 0, max: 255 }),
      text,
      login: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(pdu, { minLength: 1, maxLength: 6 }), fc.boolean(), async (pdus, discoveryChap) => {
        const m = new LoginMachine(context(discoveryChap ? { discoveryChap: CHAP } : {}));
        for (const p of pdus) {
          const bhs = Buffer.from(p.bhs);
          if (p.login) {
            bhs[0] = 0x40 | Op.LOGIN_REQ;
            bhs[1] = p.flags;
            bhs[3] = 0;
            bhs.writeUInt16BE(0, 14);
          }
          let r: LoginRequest;
          try {
            r = decodeLoginRequest({ bhs, ahs: Buffer.alloc(0), data: p.text });
          } catch (e) {
            assert.ok(e instanceof DecodeError, String(e));
            continue;
          }
          const d = await m.receive(r);
          assert.ok(['respond', 'refuse', 'close', 'full-feature'].includes(d.kind));
          if (d.kind === 'refuse') assert.equal(d.response.status >> 8, 0x02, 'initiator-error class');
          if (d.kind !== 'respond') break; // the connection ends login here (refusal, close, full feature)
        }
      }),
      { numRuns: 1500 },
    );
  });
});
