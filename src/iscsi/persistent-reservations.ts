import { ScsiStatus } from './constants.ts';
import type { ScsiPlan, ScsiResult } from './scsi.ts';
import { Senses, type Sense } from './sense.ts';

/**
 * Persistent reservations (SPC-4 §5.13, PERSISTENT RESERVE IN §6.15 / OUT §6.16) for one logical unit.
 *
 * An I_T nexus is named by its iSCSI initiator port, `<InitiatorName>,i,0x<ISID>` (RFC 7143 §4.2.7.1, the
 * TransportID of SPC-4 §7.6.4.6), so a registration outlives the session that made it (a reconnect with the same
 * ISID is the same nexus) — unlike RESERVE(6), which ends with the nexus. State is kept in memory only:
 * REPORT CAPABILITIES says PTPL_C=0, and APTPL=1 is refused, so a target restart (a power cycle of the LU)
 * clears it as SPC-4 §5.13.5 allows.
 *
 * Not implemented, answered INVALID FIELD IN CDB: PREEMPT AND ABORT (it must abort the preempted nexuses' tasks,
 * SPC-4 §5.13.11.2.6), REGISTER AND MOVE and REPLACE LOST RESERVATION; SPEC_I_PT and ALL_TG_PT (one target port)
 * are refused as INVALID FIELD IN PARAMETER LIST (SIP_C=0, ATP_C=0).
 */

/** PERSISTENT RESERVATION TYPE codes (SPC-4 §6.15.3.3 table 181) */
export const PrType = {
  WRITE_EXCLUSIVE: 1,
  EXCLUSIVE_ACCESS: 3,
  WRITE_EXCLUSIVE_REGISTRANTS_ONLY: 5,
  EXCLUSIVE_ACCESS_REGISTRANTS_ONLY: 6,
  WRITE_EXCLUSIVE_ALL_REGISTRANTS: 7,
  EXCLUSIVE_ACCESS_ALL_REGISTRANTS: 8,
} as const;
const VALID_TYPES = new Set<number>(Object.values(PrType));
const allRegistrants = (t: number): boolean => t === PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS || t === PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS;
const registrantsOnly = (t: number): boolean => t === PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY || t === PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY;
const writeExclusive = (t: number): boolean =>
  t === PrType.WRITE_EXCLUSIVE || t === PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY || t === PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS;

export const PrinAction = { READ_KEYS: 0, READ_RESERVATION: 1, REPORT_CAPABILITIES: 2, READ_FULL_STATUS: 3 } as const;
export const ProutAction = {
  REGISTER: 0,
  RESERVE: 1,
  RELEASE: 2,
  CLEAR: 3,
  PREEMPT: 4,
  PREEMPT_AND_ABORT: 5,
  REGISTER_AND_IGNORE_EXISTING_KEY: 6,
} as const;

/** UNIT ATTENTION conditions a PERSISTENT RESERVE OUT establishes for other nexuses (SPC-4 §5.13.11) */
export const PrUnitAttention = {
  RESERVATIONS_PREEMPTED: { key: 0x6, asc: 0x2a, ascq: 0x03 },
  RESERVATIONS_RELEASED: { key: 0x6, asc: 0x2a, ascq: 0x04 },
  REGISTRATIONS_PREEMPTED: { key: 0x6, asc: 0x2a, ascq: 0x05 },
} as const satisfies Record<string, Sense>;

/** SPC-4 §6.16.2: RELEASE of a reservation of another type or scope */
const INVALID_RELEASE: Sense = { key: 0x5, asc: 0x26, ascq: 0x04 };

/** How a command touches the medium, for the access rules of SPC-4 §5.13.1 table 66 */
export type MediumAccess = 'none' | 'read' | 'write';

const conflict: ScsiResult = { status: ScsiStatus.RESERVATION_CONFLICT };
const ok: ScsiResult = { status: ScsiStatus.GOOD };
const check = (sense: Sense): ScsiResult => ({ status: ScsiStatus.CHECK_CONDITION, sense });
const result = (r: ScsiResult): ScsiPlan => ({ kind: 'result', result: r });
const badCdb = (byte: number): ScsiPlan => result(check({ ...Senses.INVALID_FIELD_IN_CDB, fieldPointer: { cdb: true, byte } }));
const badParam = (byte: number): ScsiResult => check({ ...Senses.INVALID_FIELD_IN_PARAMETER_LIST, fieldPointer: { cdb: false, byte } });

/** The basic PERSISTENT RESERVE OUT parameter list is 24 bytes (SPC-4 §6.16.3 table 192) */
const PROUT_PARAM_LEN = 24;
const KEY0 = 0n;

export class PersistentReservations {
  /** PRgeneration (SPC-4 §6.15.2): bumped by every successful REGISTER, REGISTER AND IGNORE, CLEAR, PREEMPT */
  private generation = 0;
  /** registered I_T nexuses (initiator ports) and their reservation keys, in registration order */
  private readonly keys = new Map<string, bigint>();
  /** the reservation; for all-registrants types every registrant holds it and `holder` is who made it */
  private reservation: { holder: string; type: number } | undefined;
  /** pending UNIT ATTENTION conditions per initiator port (SAM-5 §5.14), oldest first */
  private readonly attentions = new Map<string, Sense[]>();

  get reserved(): boolean {
    return this.reservation !== undefined;
  }

  /** the next UNIT ATTENTION for this port, removed (SPC-4 §5.14: reported once) */
  takeUnitAttention(port: string): Sense | undefined {
    const q = this.attentions.get(port);
    const s = q?.shift();
    if (q && q.length === 0) this.attentions.delete(port);
    return s;
  }

  private isHolder(port: string): boolean {
    const r = this.reservation;
    if (!r) return false;
    return allRegistrants(r.type) ? this.keys.has(port) : r.holder === port;
  }

  /**
   * SPC-4 §5.13.1 table 66: may this nexus run a command with this medium access now? Registrants of a
   * registrants-only or all-registrants reservation get the holder's access; others of a write-exclusive
   * reservation may read; of an exclusive-access one, neither.
   */
  allows(port: string, access: MediumAccess): boolean {
    const r = this.reservation;
    if (!r || access === 'none' || this.isHolder(port)) return true;
    if ((registrantsOnly(r.type) || allRegistrants(r.type)) && this.keys.has(port)) return true;
    return access === 'read' && writeExclusive(r.type);
  }

  private attention(sense: Sense, ports: Iterable<string>, except: string): void {
    for (const p of ports) {
      if (p === except) continue;
      const q = this.attentions.get(p) ?? [];
      q.push(sense);
      this.attentions.set(p, q);
    }
  }

  /** Removes a registration and what the reservation loses with it (SPC-4 §5.13.11.2.3 / §5.13.10). */
  private unregister(port: string): void {
    this.keys.delete(port);
    const r = this.reservation;
    if (!r) return;
    if (allRegistrants(r.type)) {
      if (this.keys.size === 0) this.reservation = undefined; // the last registrant gone
      return;
    }
    if (r.holder !== port) return;
    this.reservation = undefined;
    // registrants-only types: the other registrants learn that the reservation is gone
    if (registrantsOnly(r.type)) this.attention(PrUnitAttention.RESERVATIONS_RELEASED, this.keys.keys(), port);
  }

  /** PERSISTENT RESERVE IN (0x5E) */
  in(cdb: Buffer): ScsiPlan {
    const action = cdb[1]! & 0x1f;
    const alloc = cdb.readUInt16BE(7);
    let data: Buffer;
    switch (action) {
      case PrinAction.READ_KEYS: {
        // §6.15.2: the ADDITIONAL LENGTH counts every key whatever the allocation length
        data = Buffer.alloc(8 + 8 * this.keys.size);
        data.writeUInt32BE(this.generation, 0);
        data.writeUInt32BE(8 * this.keys.size, 4);
        let at = 8;
        for (const k of this.keys.values()) {
          data.writeBigUInt64BE(k, at);
          at += 8;
        }
        break;
      }
      case PrinAction.READ_RESERVATION: {
        const r = this.reservation;
        data = Buffer.alloc(r ? 24 : 8);
        data.writeUInt32BE(this.generation, 0);
        if (r) {
          data.writeUInt32BE(16, 4);
          // §6.15.3.2: an all-registrants reservation reports key 0
          data.writeBigUInt64BE(allRegistrants(r.type) ? KEY0 : (this.keys.get(r.holder) ?? KEY0), 8);
          data[21] = r.type; // SCOPE 0h (LU_SCOPE) in the high nibble
        }
        break;
      }
      case PrinAction.REPORT_CAPABILITIES: {
        data = Buffer.alloc(8);
        data.writeUInt16BE(8, 0);
        data[2] = 0; // CRH=0, SIP_C=0, ATP_C=0, PTPL_C=0
        data[3] = 0x80; // TMV=1: the type mask is valid; ALLOW COMMANDS=0; PTPL_A=0
        data[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02; // WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX
        data[5] = 0x01; // EX_AC_AR
        break;
      }
      case PrinAction.READ_FULL_STATUS: {
        const descriptors = [...this.keys].map(([p, k]) => fullStatusDescriptor(p, k, this.isHolder(p) ? this.reservation!.type : undefined));
        const body = Buffer.concat(descriptors);
        data = Buffer.alloc(8);
        data.writeUInt32BE(this.generation, 0);
        data.writeUInt32BE(body.length, 4);
        data = Buffer.concat([data, body]);
        break;
      }
      default:
        return badCdb(1);
    }
    return result({ status: ScsiStatus.GOOD, data: data.length > alloc ? data.subarray(0, alloc) : data });
  }

  /** PERSISTENT RESERVE OUT (0x5F): checks the CDB, then runs on its 24-byte parameter list. */
  out(cdb: Buffer, port: string): ScsiPlan {
    const action = cdb[1]! & 0x1f;
    const scope = cdb[2]! >> 4;
    const type = cdb[2]! & 0x0f;
    const paramLen = cdb.readUInt32BE(5);
    if (
      action !== ProutAction.REGISTER &&
      action !== ProutAction.RESERVE &&
      action !== ProutAction.RELEASE &&
      action !== ProutAction.CLEAR &&
      action !== ProutAction.PREEMPT &&
      action !== ProutAction.REGISTER_AND_IGNORE_EXISTING_KEY
    ) {
      return badCdb(1);
    }
    // §6.16.1: SCOPE and TYPE matter for RESERVE, RELEASE and PREEMPT only; LU_SCOPE is the only scope
    const typed = action === ProutAction.RESERVE || action === ProutAction.RELEASE || action === ProutAction.PREEMPT;
    if (typed && (scope !== 0 || !VALID_TYPES.has(type))) return badCdb(2);
    if (paramLen !== PROUT_PARAM_LEN) return result(check(Senses.PARAMETER_LIST_LENGTH_ERROR));
    return {
      kind: 'data-out',
      dataOutLength: paramLen,
      run: async (p) => this.runOut(action, type, p, port),
    };
  }

  private runOut(action: number, type: number, p: Buffer, port: string): ScsiResult {
    if (p.length !== PROUT_PARAM_LEN) return check(Senses.PARAMETER_LIST_LENGTH_ERROR);
    const key = p.readBigUInt64BE(0);
    const saKey = p.readBigUInt64BE(8);
    const flags = p[20]!;
    if (flags & 0x08) return badParam(20); // SPEC_I_PT: SIP_C=0
    if (flags & 0x04) return badParam(20); // ALL_TG_PT: one target port, ATP_C=0
    if (flags & 0x01) return badParam(20); // APTPL: PTPL_C=0, nothing survives power loss
    const mine = this.keys.get(port);

    if (action === ProutAction.REGISTER || action === ProutAction.REGISTER_AND_IGNORE_EXISTING_KEY) {
      // §5.13.7: REGISTER must name the nexus's current key (0 when unregistered); IGNORE skips the check
      if (action === ProutAction.REGISTER && (mine ?? KEY0) !== key) return conflict;
      if (saKey === KEY0) {
        if (mine === undefined) return ok; // nothing to unregister: GOOD, no change
        this.unregister(port);
      } else {
        this.keys.set(port, saKey);
      }
      this.generation++;
      return ok;
    }

    // every other action: the nexus must be registered and name its key (§5.13.1)
    if (mine === undefined || mine !== key) return conflict;
    const r = this.reservation;
    switch (action) {
      case ProutAction.RESERVE:
        // §5.13.9: a second RESERVE by the holder of the same type is GOOD; anything else conflicts
        if (!r) {
          this.reservation = { holder: port, type };
          return ok;
        }
        return this.isHolder(port) && r.type === type ? ok : conflict;
      case ProutAction.RELEASE:
        // §5.13.11.2.2: not reserved, or not the holder → GOOD, nothing happens
        if (!r || !this.isHolder(port)) return ok;
        if (r.type !== type) return check(INVALID_RELEASE);
        this.reservation = undefined;
        if (registrantsOnly(r.type) || allRegistrants(r.type)) this.attention(PrUnitAttention.RESERVATIONS_RELEASED, this.keys.keys(), port);
        return ok;
      case ProutAction.CLEAR: {
        // §5.13.11.2.7: every registration and the reservation go; the others are told
        const others = [...this.keys.keys()];
        this.keys.clear();
        this.reservation = undefined;
        this.generation++;
        this.attention(PrUnitAttention.RESERVATIONS_PREEMPTED, others, port);
        return ok;
      }
      default:
        return this.preempt(port, type, saKey);
    }
  }

  /** PREEMPT (§5.13.11.2.4–5) */
  private preempt(port: string, type: number, saKey: bigint): ScsiResult {
    const r = this.reservation;
    const removeWithKey = (k: bigint): string[] => {
      const gone = [...this.keys].filter(([p, v]) => v === k && p !== port).map(([p]) => p);
      for (const p of gone) this.keys.delete(p);
      return gone;
    };
    if (r && allRegistrants(r.type) && saKey === KEY0) {
      // an all-registrants reservation preempted with key 0: every other registration goes, the caller reserves
      const gone = [...this.keys.keys()].filter((p) => p !== port);
      for (const p of gone) this.keys.delete(p);
      this.reservation = { holder: port, type };
      this.generation++;
      this.attention(PrUnitAttention.REGISTRATIONS_PREEMPTED, gone, port);
      return ok;
    }
    const holderKey = r && !allRegistrants(r.type) ? this.keys.get(r.holder) : undefined;
    if (r && holderKey !== undefined && saKey === holderKey) {
      // the holder's key: its registrations go and the caller takes the reservation with the new type
      const gone = removeWithKey(saKey);
      const typeChanged = r.type !== type;
      this.reservation = { holder: port, type };
      this.generation++;
      this.attention(PrUnitAttention.REGISTRATIONS_PREEMPTED, gone, port);
      if (typeChanged) this.attention(PrUnitAttention.RESERVATIONS_RELEASED, this.keys.keys(), port);
      return ok;
    }
    // no reservation, or a key other than the holder's: registrations only; key 0 names nobody
    if (saKey === KEY0) return badParam(8);
    const gone = removeWithKey(saKey);
    if (gone.length === 0) return conflict;
    this.generation++;
    this.attention(PrUnitAttention.REGISTRATIONS_PREEMPTED, gone, port);
    return ok;
  }
}

/** READ FULL STATUS descriptor (SPC-4 §6.15.5 table 186) with an iSCSI TransportID (§7.6.4.6, FORMAT CODE 01b) */
function fullStatusDescriptor(port: string, key: bigint, holdsType: number | undefined): Buffer {
  const name = Buffer.from(`${port}\0`, 'utf8');
  const padded = Math.max(20, Math.ceil(name.length / 4) * 4);
  const tid = Buffer.alloc(4 + padded);
  tid[0] = 0x40 | 0x05; // FORMAT CODE 01b (initiator port with ISID), PROTOCOL IDENTIFIER 5h (iSCSI)
  tid.writeUInt16BE(padded, 2);
  name.copy(tid, 4);
  const d = Buffer.alloc(24);
  d.writeBigUInt64BE(key, 0);
  if (holdsType !== undefined) {
    d[12] = 0x01; // R_HOLDER
    d[13] = holdsType; // SCOPE 0h | TYPE
  }
  d.writeUInt16BE(1, 18); // RELATIVE TARGET PORT IDENTIFIER: the one portal group
  d.writeUInt32BE(tid.length, 20);
  return Buffer.concat([d, tid]);
}
