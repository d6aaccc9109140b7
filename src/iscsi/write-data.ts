import type { Logger } from 'pino';
import { FINAL_BIT, Op, RejectReason, RESERVED_TAG, ScsiStatus } from './constants.ts';
import type { SessionParams } from './negotiation.ts';
import { newBhs, type DataOut } from './pdu.ts';
import type { ScsiResult } from './scsi.ts';
import { Senses } from './sense.ts';

/**
 * The write side of a SCSI task (RFC 7143 §4.2.4–§4.2.5, §11.7, §11.8): collects a write's data from immediate
 * data, unsolicited Data-Out up to FirstBurstLength when InitialR2T=No, then R2T-solicited bursts of at most
 * MaxBurstLength, MaxOutstandingR2T at a time; checks DataSN and buffer offsets; hands the whole buffer to the
 * command's `run` and the result back. Socket-free: it sees the connection only through `WriteDataPort`.
 */

/** What the write path needs of a SCSI task; the connection's task has more. */
export interface WriteTask {
  readonly itt: number;
  /** the command's LUN field, echoed in each R2T */
  readonly lunField: Buffer;
  /** Expected Data Transfer Length (§11.3.4): the size of the write buffer */
  readonly edtl: number;
  readonly aborted: boolean;
  /** set by `start`: this task's Data-Out state */
  write?: WriteTransfer;
}

/** One outstanding R2T (§11.8): the burst it asked for and how much of it has come. */
interface R2tState {
  ttt: number;
  offset: number;
  length: number;
  received: number;
  nextDataSn: number;
}

export interface WriteTransfer {
  /** the data collected so far; undefined once the write has completed or failed */
  buf: Buffer | undefined;
  received: number;
  /** bytes the SCSI command wants (CDB transfer length), may differ from EDTL */
  need: number;
  run: (data: Buffer) => Promise<ScsiResult>;
  /** unsolicited data ends here (immediate data alone when InitialR2T=Yes) */
  unsolicitedEnd: number;
  unsolicitedNext: number;
  unsolicitedDataSn: number;
  nextR2tOffset: number;
  r2tSn: number;
  r2ts: Map<number, R2tState>;
}

export type WriteParams = Pick<SessionParams, 'initialR2T' | 'firstBurstLength' | 'maxBurstLength' | 'maxOutstandingR2T'>;

/** The connection as the write path sees it. */
export interface WriteDataPort<T extends WriteTask> {
  /** the session's negotiated parameters (read at each use: they are set when login ends) */
  params(): WriteParams;
  /** a fresh Target Transfer Tag (the connection shares its tags with Text continuations) */
  nextTag(): number;
  /** sends an R2T; the connection stamps StatSN (without advancing it, §11.8), ExpCmdSN and MaxCmdSN */
  sendR2t(bhs: Buffer): void;
  /** ends the task: status, sense and residuals; `wanted` is what the CDB would transfer */
  finish(task: T, result: ScsiResult, wanted?: number): void;
  /** counts a dropped PDU or failed sequence by reason */
  dropped(reason: string): void;
  /** counts bytes received for writes */
  written(bytes: number): void;
  log: Pick<Logger, 'error'>;
}

/** The write path of one connection: the tasks' transfers and the TTTs of their outstanding R2Ts. */
export class WriteData<T extends WriteTask> {
  /** TTTs of R2Ts still outstanding; a Data-Out for one of them after its task is gone is rejected, not dropped */
  private readonly solicitedTags = new Set<number>();

  constructor(private readonly port: WriteDataPort<T>) {}

  /** Starts collecting a write: takes the immediate data, then sends the first R2Ts (or completes at once). */
  start(task: T, need: number, run: (data: Buffer) => Promise<ScsiResult>, immediate: Buffer): void {
    const p = this.port.params();
    const w: WriteTransfer = {
      buf: Buffer.allocUnsafe(task.edtl),
      received: 0,
      need,
      run,
      unsolicitedEnd: p.initialR2T ? immediate.length : Math.min(p.firstBurstLength, task.edtl),
      unsolicitedNext: immediate.length,
      unsolicitedDataSn: 0,
      nextR2tOffset: 0,
      r2tSn: 0,
      r2ts: new Map(),
    };
    w.nextR2tOffset = w.unsolicitedEnd;
    if (immediate.length) {
      immediate.copy(w.buf!, 0);
      w.received = immediate.length;
      this.port.written(immediate.length);
    }
    task.write = w;
    if (w.received === task.edtl) return void this.complete(task, w);
    this.issueR2ts(task, w);
  }

  /**
   * One Data-Out PDU for `task` (the live task its ITT names, if any). Returns a Reject reason when the PDU
   * itself is bad (§11.17.1); sequence errors fail the command instead (ERL 0, libiscsi iSCSIdatasn).
   */
  receive(task: T | undefined, d: DataOut, data: Buffer): number | undefined {
    const w = task?.write;
    if (!task || !w?.buf || task.aborted) {
      // Data for a command that already completed (e.g. failed before its data arrived) or was aborted.
      if (d.ttt === RESERVED_TAG || !this.solicitedTags.has(d.ttt)) {
        this.port.dropped('DATA_OUT_NO_TASK');
        return undefined;
      }
      return RejectReason.INVALID_PDU_FIELD;
    }
    const { ttt, dataSn, bufferOffset: offset } = d;
    const len = data.length;
    if (ttt === RESERVED_TAG) {
      // unsolicited data (§4.2.5.2)
      if (dataSn !== w.unsolicitedDataSn || offset !== w.unsolicitedNext || offset + len > w.unsolicitedEnd) {
        return this.sequenceError(task, w, 'UNSOLICITED_SEQUENCE');
      }
      w.unsolicitedDataSn++;
      w.unsolicitedNext += len;
    } else {
      const r = w.r2ts.get(ttt);
      if (!r) return RejectReason.INVALID_PDU_FIELD;
      // DataPDUInOrder=Yes: offsets follow each other; DataSN counts from 0 within the R2T's sequence (§11.7.5)
      if (dataSn !== r.nextDataSn || offset !== r.offset + r.received || r.received + len > r.length) {
        return this.sequenceError(task, w, 'DATASN');
      }
      r.nextDataSn++;
      r.received += len;
      if (r.received === r.length) {
        w.r2ts.delete(ttt);
        this.solicitedTags.delete(ttt);
      } else if (d.final) {
        return this.sequenceError(task, w, 'SHORT_BURST');
      }
    }
    data.copy(w.buf, offset);
    w.received += len;
    this.port.written(len);
    if (w.received === task.edtl) return void this.complete(task, w);
    if (ttt !== RESERVED_TAG) this.issueR2ts(task, w);
    return undefined;
  }

  /** The task was aborted: Data-Out for its R2Ts is dropped from now on. */
  forget(task: T): void {
    for (const r of task.write?.r2ts.values() ?? []) this.solicitedTags.delete(r.ttt);
  }

  /** The connection closed. */
  clear(): void {
    this.solicitedTags.clear();
  }

  private issueR2ts(task: T, w: WriteTransfer): void {
    const p = this.port.params();
    while (w.r2ts.size < p.maxOutstandingR2T && w.nextR2tOffset < task.edtl) {
      const length = Math.min(p.maxBurstLength, task.edtl - w.nextR2tOffset);
      const r: R2tState = { ttt: this.port.nextTag(), offset: w.nextR2tOffset, length, received: 0, nextDataSn: 0 };
      w.nextR2tOffset += length;
      w.r2ts.set(r.ttt, r);
      this.solicitedTags.add(r.ttt);
      // R2T, §11.8: LUN 8, ITT 16, TTT 20, R2TSN 36, Buffer Offset 40, Desired Data Transfer Length 44
      const bhs = newBhs(Op.R2T, FINAL_BIT);
      task.lunField.copy(bhs, 8);
      bhs.writeUInt32BE(task.itt, 16);
      bhs.writeUInt32BE(r.ttt, 20);
      bhs.writeUInt32BE(w.r2tSn, 36);
      w.r2tSn++;
      bhs.writeUInt32BE(r.offset, 40);
      bhs.writeUInt32BE(length, 44);
      this.port.sendR2t(bhs);
    }
  }

  /** A Data-Out out of sequence (bad DataSN/offset): with ERL 0 the command fails (libiscsi iSCSIdatasn). */
  private sequenceError(task: T, w: WriteTransfer, reason: string): undefined {
    this.port.dropped(reason);
    for (const r of w.r2ts.values()) this.solicitedTags.delete(r.ttt);
    w.buf = undefined;
    this.port.finish(task, { status: ScsiStatus.CHECK_CONDITION, sense: Senses.DATA_PHASE_ERROR });
    return undefined;
  }

  private async complete(task: T, w: WriteTransfer): Promise<void> {
    const buf = w.buf!;
    w.buf = undefined;
    const { need } = w;
    const edtl = task.edtl;
    // EDTL below the CDB's length: write what arrived, whole blocks only (libiscsi Write10Residuals)
    const data = need <= edtl ? buf.subarray(0, need) : buf;
    let result: ScsiResult;
    if (need > edtl && edtl % 512 !== 0) {
      result = { status: ScsiStatus.CHECK_CONDITION, sense: Senses.INVALID_FIELD_IN_COMMAND_IU };
    } else {
      try {
        result = await w.run(data);
      } catch (err) {
        this.port.log.error({ err }, 'write failed');
        result = { status: ScsiStatus.CHECK_CONDITION, sense: Senses.WRITE_ERROR };
      }
    }
    this.port.finish(task, result, need);
  }
}
