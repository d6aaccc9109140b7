/**
 * A pipelined iSCSI initiator for replaying a recorded working set (bench/storm/working-set.json): it logs in
 * with the keys the recorded initiator offered, then sends each recorded CDB verbatim, several outstanding at once
 * (the recorded concurrency, see replaySession). Written for the storm bench, not for tests of the target's edge
 * cases (test/helpers/iscsi-initiator.ts is that one). RFC 7143 references:
 *   §11.3 SCSI Command (immediate data when ImmediateData=Yes, §13.11), §11.7 Data-In (status in the last one
 *   with S), §11.8 R2T and §11.7 Data-Out (DataSN from 0 per R2T, ≤ the target's MaxRecvDataSegmentLength each),
 *   unsolicited Data-Out up to FirstBurstLength when InitialR2T=No (§13.10), §4.2.2.1 CmdSN window (MaxCmdSN),
 *   §11.18 NOP-In pings answered.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { FINAL_BIT, Op } from '../../src/iscsi/constants.ts';
import { framePdu, PduFramer, type FramedPdu } from '../../src/iscsi/framer.ts';
import { encodeLun, setDataLength, snLt } from '../../src/iscsi/pdu.ts';
import { decodeText, encodeText, type TextPairs } from '../../src/iscsi/text.ts';
import type { TraceCommand, TraceSession } from './working-set.ts';

export interface CommandResult {
  status: number;
  /** Data-In bytes received */
  bytes: number;
  data?: Buffer;
}

interface Pending {
  resolve: (r: CommandResult) => void;
  reject: (e: Error) => void;
  write?: Buffer;
  keep: boolean;
  parts: Buffer[];
  bytes: number;
}

const NO_TTT = 0xffffffff;

export class ReplayInitiator {
  private readonly framer: PduFramer;
  private readonly pending = new Map<number, Pending>();
  private loginWaiter: ((p: FramedPdu) => void) | undefined;
  private windowWaiters: Array<() => void> = [];
  private failure: Error | undefined;
  private itt = 1;
  private cmdSn = 1;
  private expStatSn = 0;
  private maxCmdSn = 1;
  private readonly isid = Buffer.concat([Buffer.from([0x80]), randomBytes(5)]);
  private lun = encodeLun(0);
  /** negotiated (RFC 7143 §13): our data-out segment size is the target's declared MaxRecvDataSegmentLength */
  private targetMrdsl = 8192;
  private immediateData = false;
  private initialR2T = true;
  private firstBurst = 65536;

  private constructor(private readonly socket: Socket) {
    this.framer = new PduFramer({ maxDataBytes: 1 << 24 }, (p) => this.onPdu(p));
    socket.on('data', (c: Buffer) => {
      try {
        this.framer.push(c);
      } catch (err) {
        this.fail(err as Error);
      }
    });
    socket.on('close', () => this.fail(new Error('connection closed by the target')));
    socket.on('error', (err) => this.fail(err));
  }

  static connect(host: string, port: number, localAddress?: string): Promise<ReplayInitiator> {
    return new Promise((resolve, reject) => {
      const s = connect({ host, port, ...(localAddress ? { localAddress } : {}) }, () => {
        s.setNoDelay(true);
        resolve(new ReplayInitiator(s));
      });
      s.once('error', reject);
    });
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const w of this.windowWaiters) w();
    this.windowWaiters = [];
  }

  private send(bhs: Buffer, data?: Buffer): void {
    setDataLength(bhs, data?.length ?? 0);
    for (const p of framePdu(bhs, data, false, false)) this.socket.write(p);
  }

  private onPdu(p: FramedPdu): void {
    const op = p.bhs[0]! & 0x3f;
    const b = p.bhs;
    if (op !== Op.DATA_IN || b[1]! & 0x01) this.expStatSn = (b.readUInt32BE(24) + 1) >>> 0;
    if (op !== Op.LOGIN_RSP) {
      const max = b.readUInt32BE(32);
      if (snLt(this.maxCmdSn, max)) {
        this.maxCmdSn = max;
        const w = this.windowWaiters;
        this.windowWaiters = [];
        for (const f of w) f();
      }
    }
    const itt = b.readUInt32BE(16);
    switch (op) {
      case Op.LOGIN_RSP:
        this.loginWaiter?.(p);
        return;
      case Op.DATA_IN: {
        const c = this.pending.get(itt);
        if (!c) return this.fail(new Error(`Data-In for unknown ITT ${itt}`));
        c.bytes += p.data.length;
        if (c.keep) c.parts.push(Buffer.from(p.data));
        if (b[1]! & 0x01) this.finish(itt, b[3]!);
        return;
      }
      case Op.SCSI_RSP:
        return this.finish(itt, b[3]!);
      case Op.R2T: {
        const c = this.pending.get(itt);
        if (!c?.write) return this.fail(new Error(`R2T for ITT ${itt} without data to send`));
        this.dataOut(itt, b.readUInt32BE(20), c.write, b.readUInt32BE(40), b.readUInt32BE(44));
        return;
      }
      case Op.NOP_IN:
        if (b.readUInt32BE(20) !== NO_TTT) {
          const r = Buffer.alloc(48);
          r[0] = 0x40 | Op.NOP_OUT;
          r[1] = FINAL_BIT;
          r.writeUInt32BE(NO_TTT, 16);
          r.writeUInt32BE(b.readUInt32BE(20), 20);
          r.writeUInt32BE(this.cmdSn, 24);
          r.writeUInt32BE(this.expStatSn, 28);
          this.send(r);
        }
        return;
      case Op.ASYNC:
        return;
      default:
        return this.fail(new Error(`unexpected PDU opcode 0x${op.toString(16)}`));
    }
  }

  private finish(itt: number, status: number): void {
    const c = this.pending.get(itt);
    if (!c) return;
    this.pending.delete(itt);
    c.resolve({ status, bytes: c.bytes, ...(c.keep ? { data: Buffer.concat(c.parts) } : {}) });
  }

  /** Data-Out for [offset, offset + length) of `data`, in segments of the target's MaxRecvDataSegmentLength. */
  private dataOut(itt: number, ttt: number, data: Buffer, offset: number, length: number): void {
    let sn = 0;
    for (let off = offset; off < offset + length; off += this.targetMrdsl) {
      const n = Math.min(this.targetMrdsl, offset + length - off);
      const b = Buffer.alloc(48);
      b[0] = Op.DATA_OUT;
      b[1] = off + n >= offset + length ? FINAL_BIT : 0;
      b.set(this.lun, 8);
      b.writeUInt32BE(itt, 16);
      b.writeUInt32BE(ttt, 20);
      b.writeUInt32BE(this.expStatSn, 28);
      b.writeUInt32BE(sn++, 36);
      b.writeUInt32BE(off, 40);
      this.send(b, data.subarray(off, off + n));
    }
  }

  private loginStep(csg: number, nsg: number, pairs: TextPairs): Promise<{ status: number; pairs: TextPairs; transit: boolean }> {
    const b = Buffer.alloc(48);
    b[0] = 0x40 | Op.LOGIN_REQ;
    b[1] = 0x80 | (csg << 2) | nsg;
    this.isid.copy(b, 8);
    b.writeUInt32BE(this.itt, 16);
    b.writeUInt32BE(this.cmdSn, 24);
    b.writeUInt32BE(this.expStatSn, 28);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('login: no response in 30 s')), 30_000);
      this.loginWaiter = (p) => {
        clearTimeout(t);
        this.loginWaiter = undefined;
        this.maxCmdSn = p.bhs.readUInt32BE(32);
        resolve({ status: p.bhs.readUInt16BE(36), pairs: decodeText(p.data), transit: (p.bhs[1]! & 0x80) !== 0 });
      };
      this.send(b, encodeText(pairs));
    });
  }

  /** Security (AuthMethod None) → operational with the recorded initiator's offer → full feature phase. */
  async login(initiatorName: string, targetName: string, keys: [string, string][], lun: number): Promise<void> {
    this.lun = encodeLun(lun);
    const sec = await this.loginStep(0, 1, [
      ['InitiatorName', initiatorName],
      ['TargetName', targetName],
      ['SessionType', 'Normal'],
      ['AuthMethod', 'None'],
    ]);
    if (sec.status !== 0) throw new Error(`login to ${targetName}: status 0x${sec.status.toString(16).padStart(4, '0')}`);
    const offer = keys.filter(([k]) => k !== 'SessionType' && k !== 'AuthMethod' && k !== 'InitiatorAlias');
    const opr = await this.loginStep(1, 3, offer);
    if (opr.status !== 0 || !opr.transit) throw new Error(`login to ${targetName}: operational status 0x${opr.status.toString(16)}`);
    const answer = new Map(opr.pairs);
    const value = (k: string): string | undefined => answer.get(k) ?? offer.find(([x]) => x === k)?.[1];
    this.targetMrdsl = Number(answer.get('MaxRecvDataSegmentLength') ?? 8192);
    this.immediateData = value('ImmediateData') === 'Yes';
    this.initialR2T = value('InitialR2T') !== 'No';
    this.firstBurst = Number(value('FirstBurstLength') ?? 65536);
  }

  /** Sends one SCSI command; resolves with its status once the target answered. */
  async command(cdb: Buffer, dir: 'r' | 'w' | '', bytes: number, opts: { write?: Buffer; keep?: boolean } = {}): Promise<CommandResult> {
    while (!this.failure && snLt(this.maxCmdSn, this.cmdSn)) await new Promise<void>((r) => this.windowWaiters.push(r));
    if (this.failure) throw this.failure;
    const itt = this.itt++;
    const b = Buffer.alloc(48);
    b[0] = Op.SCSI_CMD;
    b[1] = FINAL_BIT | (dir === 'r' ? 0x40 : dir === 'w' ? 0x20 : 0) | 0x01; // SIMPLE task attribute
    b.set(this.lun, 8);
    b.writeUInt32BE(itt, 16);
    b.writeUInt32BE(bytes, 20);
    b.writeUInt32BE(this.cmdSn, 24);
    this.cmdSn = (this.cmdSn + 1) >>> 0;
    b.writeUInt32BE(this.expStatSn, 28);
    cdb.copy(b, 32);
    const write = dir === 'w' ? opts.write : undefined;
    if (dir === 'w' && (!write || write.length !== bytes)) throw new Error(`write of ${bytes} bytes without them`);
    const done = new Promise<CommandResult>((resolve, reject) =>
      this.pending.set(itt, { resolve, reject, keep: opts.keep ?? false, parts: [], bytes: 0, ...(write ? { write } : {}) }),
    );
    let sent = 0;
    let immediate: Buffer | undefined;
    if (write && this.immediateData) {
      sent = Math.min(bytes, this.firstBurst, this.targetMrdsl);
      immediate = write.subarray(0, sent);
    }
    // F bit: clear when unsolicited Data-Out follows (§11.3.1: F set means no unsolicited Data-Out)
    const unsolicited = write && !this.initialR2T ? Math.min(bytes, this.firstBurst) - sent : 0;
    if (unsolicited > 0) b[1] = b[1]! & ~FINAL_BIT;
    this.send(b, immediate);
    if (write && unsolicited > 0) this.dataOut(itt, NO_TTT, write, sent, unsolicited);
    return done;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The bytes a terminal writes at a block: its name and the block number, repeated (checkable on read-back). */
export function blockPattern(terminal: string, lba: number, blocks: number, blockSize = 512): Buffer {
  const out = Buffer.alloc(blocks * blockSize);
  for (let i = 0; i < blocks; i++) out.fill(`${terminal} lba ${lba + i} `, i * blockSize, (i + 1) * blockSize);
  return out;
}

export interface ReplayStats {
  commands: number;
  notGood: number;
  /** CDB opcodes (hex) of the commands that did not end GOOD */
  notGoodOps: string[];
  readBytes: number;
  writeBytes: number;
  /** the written extents (for read-back) */
  written: { lba: number; blocks: number }[];
}

/**
 * Replays one recorded session's commands in trace order, as concurrent as the recording: command i is sent once
 * every command whose status had come back before i was issued (in the recording) has completed here. No think
 * time: the gaps the guest spent computing (TCG) are not replayed, so this is the server's worst case.
 */
export async function replaySession(ini: ReplayInitiator, s: TraceSession, terminal: string, blockSize: number): Promise<ReplayStats> {
  const cmds = s.commands;
  const byDone = cmds.map((c, i) => ({ c, i })).sort((a, b) => a.c.done - b.c.done);
  const results: Promise<CommandResult>[] = [];
  const stats: ReplayStats = { commands: 0, notGood: 0, notGoodOps: [], readBytes: 0, writeBytes: 0, written: [] };
  let next = 0;
  const run = async (c: TraceCommand): Promise<CommandResult> => {
    const cdb = Buffer.from(c.cdb, 'hex');
    let write: Buffer | undefined;
    if (c.dir === 'w') {
      write = c.lba !== undefined ? blockPattern(terminal, c.lba, c.blocks!, blockSize) : Buffer.alloc(c.bytes);
      if (write.length !== c.bytes) write = Buffer.alloc(c.bytes, write);
    }
    const r = await ini.command(cdb, c.dir, c.bytes, write ? { write } : {});
    stats.commands++;
    if (r.status !== 0) {
      stats.notGood++;
      stats.notGoodOps.push(c.cdb.slice(0, 2));
    }
    stats.readBytes += r.bytes;
    if (write && r.status === 0) {
      stats.writeBytes += write.length;
      if (c.lba !== undefined) stats.written.push({ lba: c.lba, blocks: c.blocks! });
    }
    return r;
  };
  for (let i = 0; i < cmds.length; i++) {
    const c = cmds[i]!;
    while (next < byDone.length && byDone[next]!.c.done >= 0 && byDone[next]!.c.done <= c.t) {
      const j = byDone[next]!.i;
      if (j < i) await results[j];
      next++;
    }
    results.push(run(c));
  }
  await Promise.all(results);
  return stats;
}
