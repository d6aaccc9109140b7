import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LuState } from '../../src/iscsi/lu-state.ts';
import { PrType, ProutAction } from '../../src/iscsi/persistent-reservations.ts';
import { DEFAULT_LIMITS, planCommand, type CommandContext, type ScsiPlan, type ScsiResult } from '../../src/iscsi/scsi.ts';
import { MemoryDevice } from '../helpers/iscsi-memory-device.ts';

/** PERSISTENT RESERVE IN/OUT (SPC-4 §5.13, §6.15, §6.16) through planCommand, as a transport would run them. */
const GOOD = 0x00;
const CHECK = 0x02;
const CONFLICT = 0x18;

interface Nexus extends CommandContext {
  port: string;
}
const lu = () => new LuState();
const nexus = (l: LuState, name: string, tsih = 1): Nexus => ({
  lu: l,
  nexus: `tsih:${tsih}`,
  port: `iqn.2000-01.test:${name},i,0x23${tsih}000000001`,
});

async function run(p: ScsiPlan, data?: Buffer): Promise<ScsiResult> {
  if (p.kind === 'result') return p.result;
  if (p.kind === 'data-out') {
    assert.ok(data, 'a data-out plan needs its parameter list');
    assert.equal(p.dataOutLength, data.length);
    return p.run(data);
  }
  if (p.kind === 'async') return p.run();
  return { status: GOOD };
}
const status = (r: ScsiResult) => [r.status, r.sense?.key, r.sense?.asc, r.sense?.ascq];

function proutCdb(action: number, type = 0, paramLen = 24): Buffer {
  const b = Buffer.alloc(10);
  b[0] = 0x5f;
  b[1] = action;
  b[2] = type; // scope 0
  b.writeUInt32BE(paramLen, 5);
  return b;
}
function params(key: bigint, saKey: bigint, flags = 0): Buffer {
  const p = Buffer.alloc(24);
  p.writeBigUInt64BE(key, 0);
  p.writeBigUInt64BE(saKey, 8);
  p[20] = flags;
  return p;
}

class Initiator {
  constructor(
    readonly d: MemoryDevice,
    readonly ctx: Nexus,
  ) {}
  cmd(cdb: number[], data?: Buffer): Promise<ScsiResult> {
    return run(planCommand(Buffer.from(cdb), this.d, [0], DEFAULT_LIMITS, this.ctx), data);
  }
  prout(action: number, key: bigint, saKey: bigint, type = 0, flags = 0): Promise<ScsiResult> {
    return run(planCommand(proutCdb(action, type), this.d, [0], DEFAULT_LIMITS, this.ctx), params(key, saKey, flags));
  }
  register(key: bigint, saKey: bigint) {
    return this.prout(ProutAction.REGISTER, key, saKey);
  }
  ignoreAndRegister(saKey: bigint) {
    return this.prout(ProutAction.REGISTER_AND_IGNORE_EXISTING_KEY, 0n, saKey);
  }
  reserve(key: bigint, type: number) {
    return this.prout(ProutAction.RESERVE, key, 0n, type);
  }
  release(key: bigint, type: number) {
    return this.prout(ProutAction.RELEASE, key, 0n, type);
  }
  async prin(action: number, alloc = 0x4000): Promise<Buffer> {
    const r = await this.cmd([0x5e, action, 0, 0, 0, 0, 0, alloc >> 8, alloc & 0xff, 0]);
    assert.equal(r.status, GOOD, `PRIN ${action}: ${status(r)}`);
    return r.data!;
  }
  async keys(): Promise<{ generation: number; keys: bigint[] }> {
    const b = await this.prin(0);
    const n = b.readUInt32BE(4) / 8;
    return { generation: b.readUInt32BE(0), keys: Array.from({ length: n }, (_, i) => b.readBigUInt64BE(8 + 8 * i)) };
  }
  async reservation(): Promise<{ key: bigint; type: number } | undefined> {
    const b = await this.prin(1);
    if (b.readUInt32BE(4) === 0) return undefined;
    assert.equal(b.readUInt32BE(4), 16);
    return { key: b.readBigUInt64BE(8), type: b[21]! & 0x0f };
  }
  read() {
    return this.cmd([0x28, 0, 0, 0, 0, 1, 0, 0, 1, 0]);
  }
  write() {
    return this.cmd([0x2a, 0, 0, 0, 0, 1, 0, 0, 1, 0], Buffer.alloc(512, 0x5a));
  }
  tur() {
    return this.cmd([0, 0, 0, 0, 0, 0]);
  }
}

function pair(): { a: Initiator; b: Initiator; l: LuState } {
  const d = new MemoryDevice(64);
  const l = lu();
  return { a: new Initiator(d, nexus(l, 'a', 1)), b: new Initiator(d, nexus(l, 'b', 2)), l };
}

describe('persistent reservations (SPC-4 §5.13)', () => {
  it('REGISTER: a key per nexus, generation counts changes, a wrong current key is a conflict, key 0 unregisters', async () => {
    const { a, b } = pair();
    assert.deepEqual(await a.keys(), { generation: 0, keys: [] });
    assert.equal((await a.register(0n, 0xaan)).status, GOOD);
    assert.equal((await b.ignoreAndRegister(0xbbn)).status, GOOD);
    assert.deepEqual(await b.keys(), { generation: 2, keys: [0xaan, 0xbbn] });
    assert.equal((await a.register(0n, 0xabn)).status, CONFLICT, 'REGISTER must name the current key');
    assert.equal((await a.register(0xaan, 0xacn)).status, GOOD, 'a key change');
    assert.equal((await a.ignoreAndRegister(0xadn)).status, GOOD, 'IGNORE EXISTING KEY replaces without the old key');
    assert.deepEqual((await a.keys()).keys, [0xadn, 0xbbn]);
    assert.equal((await b.register(0xbbn, 0n)).status, GOOD, 'unregister');
    const after = await a.keys();
    assert.deepEqual(after.keys, [0xadn]);
    assert.equal(after.generation, 5);
    assert.equal((await b.register(0n, 0n)).status, GOOD, 'unregistering when not registered: GOOD, no change');
    assert.equal((await a.keys()).generation, 5);
  });

  it('READ KEYS: ADDITIONAL LENGTH counts every key when the allocation length truncates', async () => {
    const { a, b } = pair();
    await a.ignoreAndRegister(1n);
    await b.ignoreAndRegister(2n);
    const cut = await a.prin(0, 8);
    assert.equal(cut.length, 8);
    assert.equal(cut.readUInt32BE(4), 16);
  });

  it('RESERVE/RELEASE every type: READ RESERVATION shows key (0 for all-registrants) and type', async () => {
    const { a } = pair();
    await a.ignoreAndRegister(0x77n);
    for (const t of Object.values(PrType)) {
      assert.equal((await a.reserve(0x77n, t)).status, GOOD);
      assert.equal((await a.reserve(0x77n, t)).status, GOOD, 'the holder reserving again with the same type');
      const all = t === PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS || t === PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS;
      assert.deepEqual(await a.reservation(), { key: all ? 0n : 0x77n, type: t });
      assert.deepEqual(status(await a.release(0x77n, t === 1 ? 3 : 1)), [CHECK, 5, 0x26, 0x04], 'INVALID RELEASE OF PERSISTENT RESERVATION');
      assert.equal((await a.release(0x77n, t)).status, GOOD);
      assert.equal(await a.reservation(), undefined);
    }
    assert.equal((await a.reserve(0x78n, PrType.WRITE_EXCLUSIVE)).status, CONFLICT, 'RESERVE with a key not ours');
    const { a: c } = pair();
    assert.equal((await c.reserve(0n, PrType.WRITE_EXCLUSIVE)).status, CONFLICT, 'RESERVE without a registration');
  });

  it('access of another nexus, registered and not, per type (SPC-4 table 66; the libiscsi matrix)', async () => {
    // [type, registered can read, registered can write, unregistered can read, unregistered can write]
    const matrix: Array<[number, boolean, boolean, boolean, boolean]> = [
      [PrType.EXCLUSIVE_ACCESS, false, false, false, false],
      [PrType.WRITE_EXCLUSIVE, true, false, true, false],
      [PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY, true, true, false, false],
      [PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY, true, true, true, false],
      [PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS, true, true, false, false],
      [PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS, true, true, true, false],
    ];
    for (const [t, rr, rw, ur, uw] of matrix) {
      const { a, b } = pair();
      await a.ignoreAndRegister(1n);
      await b.ignoreAndRegister(2n);
      assert.equal((await a.reserve(1n, t)).status, GOOD);
      assert.equal((await a.read()).status, GOOD);
      assert.equal((await a.write()).status, GOOD);
      assert.equal((await b.read()).status, rr ? GOOD : CONFLICT, `type ${t} registered read`);
      assert.equal((await b.write()).status, rw ? GOOD : CONFLICT, `type ${t} registered write`);
      assert.equal((await b.tur()).status, GOOD, 'TEST UNIT READY is always allowed');
      assert.equal((await b.register(2n, 0n)).status, GOOD);
      assert.equal((await b.read()).status, ur ? GOOD : CONFLICT, `type ${t} unregistered read`);
      assert.equal((await b.write()).status, uw ? GOOD : CONFLICT, `type ${t} unregistered write`);
      assert.equal((await b.cmd([0x16, 0, 0, 0, 0, 0])).status, CONFLICT, 'RESERVE(6) against a persistent reservation');
    }
  });

  it('the holder unregistering: the reservation goes (registrants-only types tell the others once); all-registrants stays', async () => {
    const { a, b } = pair();
    await a.ignoreAndRegister(1n);
    await b.ignoreAndRegister(2n);
    await a.reserve(1n, PrType.EXCLUSIVE_ACCESS);
    await a.register(1n, 0n);
    assert.equal(await b.reservation(), undefined);
    assert.equal((await b.tur()).status, GOOD, 'no unit attention for a plain exclusive-access reservation');

    await a.ignoreAndRegister(1n);
    await a.reserve(1n, PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY);
    await a.register(1n, 0n);
    assert.equal((await a.tur()).status, GOOD, 'the nexus that unregistered gets none');
    assert.deepEqual(status(await b.tur()), [CHECK, 6, 0x2a, 0x04], 'RESERVATIONS RELEASED');
    assert.equal((await b.tur()).status, GOOD, 'reported once');

    await a.ignoreAndRegister(1n);
    await a.reserve(1n, PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS);
    await a.register(1n, 0n);
    assert.deepEqual(await b.reservation(), { key: 0n, type: PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS }, 'b still holds it');
    assert.equal((await b.release(2n, PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS)).status, GOOD);
    assert.equal(await b.reservation(), undefined);
  });

  it('CLEAR: registrations and reservation gone, generation + 1, RESERVATIONS PREEMPTED for the others (also by REQUEST SENSE)', async () => {
    const { a, b } = pair();
    await a.ignoreAndRegister(1n);
    await b.ignoreAndRegister(2n);
    await a.reserve(1n, PrType.WRITE_EXCLUSIVE);
    const before = (await a.keys()).generation;
    assert.equal((await b.prout(ProutAction.CLEAR, 2n, 0n)).status, GOOD);
    assert.deepEqual(await b.keys(), { generation: before + 1, keys: [] });
    assert.equal(await b.reservation(), undefined);
    const rs = await a.cmd([0x03, 0, 0, 0, 18, 0]);
    assert.equal(rs.status, GOOD);
    assert.deepEqual([rs.data![2]! & 0x0f, rs.data![12], rs.data![13]], [6, 0x2a, 0x03], 'REQUEST SENSE reports the unit attention');
    assert.equal((await a.tur()).status, GOOD, 'and clears it');
  });

  it('PREEMPT: the holder key takes the reservation and its registration; another key only the registration; errors', async () => {
    const { a, b } = pair();
    await a.ignoreAndRegister(1n);
    await b.ignoreAndRegister(2n);
    await a.reserve(1n, PrType.EXCLUSIVE_ACCESS);
    const gen = (await a.keys()).generation;
    assert.equal((await b.prout(ProutAction.PREEMPT, 2n, 1n, PrType.WRITE_EXCLUSIVE)).status, GOOD);
    assert.deepEqual(status(await a.tur()), [CHECK, 6, 0x2a, 0x05], 'REGISTRATIONS PREEMPTED');
    assert.deepEqual(await a.keys(), { generation: gen + 1, keys: [2n] });
    assert.deepEqual(await a.reservation(), { key: 2n, type: PrType.WRITE_EXCLUSIVE });
    assert.equal((await a.write()).status, CONFLICT, 'a lost its registration and the reservation');
    assert.equal((await b.prout(ProutAction.PREEMPT, 2n, 9n, PrType.WRITE_EXCLUSIVE)).status, CONFLICT, 'no such key');
    await b.release(2n, PrType.WRITE_EXCLUSIVE);
    assert.deepEqual(status(await b.prout(ProutAction.PREEMPT, 2n, 0n, PrType.WRITE_EXCLUSIVE)), [CHECK, 5, 0x26, 0]);
    await a.ignoreAndRegister(3n);
    assert.equal((await b.prout(ProutAction.PREEMPT, 2n, 3n, PrType.WRITE_EXCLUSIVE)).status, GOOD, 'registration only, no reservation');
    assert.equal(await b.reservation(), undefined);
    assert.deepEqual((await b.keys()).keys, [2n]);
  });

  it('CDB and parameter list checks; unsupported service actions are refused, not ignored', async () => {
    const { a } = pair();
    const d = a.d;
    const plan = (c: Buffer) => planCommand(c, d, [0], DEFAULT_LIMITS, a.ctx);
    assert.deepEqual(status(await run(plan(proutCdb(ProutAction.REGISTER, 0, 23)))), [CHECK, 5, 0x1a, 0], 'PARAMETER LIST LENGTH ERROR');
    assert.deepEqual(status(await run(plan(proutCdb(ProutAction.PREEMPT_AND_ABORT)))), [CHECK, 5, 0x24, 0]);
    assert.deepEqual(status(await run(plan(proutCdb(7)))), [CHECK, 5, 0x24, 0], 'REGISTER AND MOVE');
    assert.deepEqual(status(await run(plan(proutCdb(ProutAction.RESERVE, 2)))), [CHECK, 5, 0x24, 0], 'type 2 is reserved');
    assert.deepEqual(status(await run(plan(proutCdb(ProutAction.RESERVE, 0x11)))), [CHECK, 5, 0x24, 0], 'scope other than LU');
    for (const flag of [0x01, 0x04, 0x08]) {
      assert.deepEqual(status(await a.prout(ProutAction.REGISTER, 0n, 5n, 0, flag)), [CHECK, 5, 0x26, 0], `flag ${flag}`);
    }
    assert.deepEqual((await a.keys()).keys, [], 'nothing registered by a refused command');
    for (let sa = 4; sa < 0x20; sa++) assert.deepEqual(status(await a.cmd([0x5e, sa, 0, 0, 0, 0, 0, 0x40, 0, 0])), [CHECK, 5, 0x24, 0]);
  });

  it('REPORT CAPABILITIES and READ FULL STATUS (iSCSI TransportIDs, R_HOLDER)', async () => {
    const { a, b } = pair();
    const caps = await a.prin(2);
    assert.equal(caps.readUInt16BE(0), 8);
    assert.equal(caps[3]! & 0x80, 0x80, 'TMV');
    assert.equal(caps.readUInt16BE(4), 0xea01, 'all six types');
    await a.ignoreAndRegister(1n);
    await b.ignoreAndRegister(2n);
    await a.reserve(1n, PrType.EXCLUSIVE_ACCESS);
    const full = await b.prin(3);
    assert.equal(full.readUInt32BE(4), full.length - 8);
    const descs: Array<{ key: bigint; holder: boolean; type: number; id: string }> = [];
    for (let at = 8; at < full.length;) {
      const len = full.readUInt32BE(at + 20);
      const tid = full.subarray(at + 24, at + 24 + len);
      assert.equal(tid[0], 0x45, 'FORMAT CODE 01b, iSCSI');
      assert.equal(tid.readUInt16BE(2) % 4, 0);
      descs.push({
        key: full.readBigUInt64BE(at),
        holder: (full[at + 12]! & 1) === 1,
        type: full[at + 13]!,
        id: tid.subarray(4).toString('utf8').replace(/\0+$/, ''),
      });
      at += 24 + len;
    }
    assert.deepEqual(descs, [
      { key: 1n, holder: true, type: PrType.EXCLUSIVE_ACCESS, id: a.ctx.port },
      { key: 2n, holder: false, type: 0, id: b.ctx.port },
    ]);
  });

  it('a registration belongs to the initiator port, not the session: a reconnect keeps it, RESERVE(6) does not', async () => {
    const d = new MemoryDevice(64);
    const l = lu();
    const first = new Initiator(d, nexus(l, 'a', 1));
    await first.ignoreAndRegister(5n);
    await first.reserve(5n, PrType.EXCLUSIVE_ACCESS);
    const again = new Initiator(d, { lu: l, nexus: 'tsih:9', port: first.ctx.port });
    assert.equal((await again.write()).status, GOOD, 'same port, new session: still the holder');
    l.nexusLost('tsih:1');
    l.reset();
    assert.deepEqual(await again.reservation(), { key: 5n, type: PrType.EXCLUSIVE_ACCESS }, 'resets and nexus loss keep it');
    const other = new Initiator(d, nexus(l, 'b', 3));
    assert.equal((await other.read()).status, CONFLICT);
  });
});
