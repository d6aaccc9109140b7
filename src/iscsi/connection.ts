import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { DecodeError } from '../wire/decode-error.ts';
import type { BlockDeviceProvider, ChapCredentials } from './block-device.ts';
import {
  BHS_LENGTH,
  FINAL_BIT,
  LoginStatus,
  Op,
  OPCODE_NAMES,
  RejectReason,
  RESERVED_TAG,
  ScsiStatus,
  TmfFunction,
  TmfResponse,
} from './constants.ts';
import { framePdu, PduFramer, type FramedPdu } from './framer.ts';
import type { IscsiMetrics } from './metrics.ts';
import { LoginMachine, loginResponseBhs, refusal, type LoginResponse, type LoginResult } from './login.ts';
import { negotiateKey, outcomeValue, RFC_DEFAULTS, type SessionParams, type TargetPreferences } from './negotiation.ts';
import {
  decodeDataOut,
  decodeLoginRequest,
  decodeLogoutRequest,
  decodeLun,
  decodeNopOut,
  decodeScsiCommand,
  decodeTaskManagementRequest,
  decodeTextRequest,
  newBhs,
  pduItt,
  pduOpcode,
  setDataLength,
  snAdd,
  snLe,
  snLt,
  type Command,
  type DataOut,
  type LoginRequest,
  type LogoutRequest,
  type NopOut,
  type ScsiCommand,
  type TaskManagementRequest,
  type TextRequest,
} from './pdu.ts';
import type { LuStates } from './lu-state.ts';
import { DEFAULT_LIMITS, planCommand, type ScsiResult } from './scsi.ts';
import { fixedSense, Senses, type Sense } from './sense.ts';
import { SessionTable, type Session } from './session.ts';
import { decodeText, encodeText, type TextPairs } from './text.ts';
import { WriteData, type WriteTask } from './write-data.ts';
import { clientAddress } from '../terminal/client-address.ts';

/** Everything one connection needs from the target (explicit dependencies, no globals). */
export interface ConnectionDeps {
  socket: Socket;
  provider: BlockDeviceProvider;
  sessions: SessionTable;
  logger: Logger;
  metrics: IscsiMetrics;
  prefs: TargetPreferences;
  portalGroupTag: number;
  /** the port SendTargets advertises (the local IP comes from the socket, RFC 7143 §13.8 / LIO f2774f43) */
  listenPort: number;
  /** CHAP for discovery sessions (none: discovery is open) */
  discoveryChap?: ChapCredentials;
  /** CmdSN window: MaxCmdSN = ExpCmdSN + window - 1 */
  cmdWindow: number;
  /** largest Expected Data Transfer Length accepted for a write */
  maxWriteBytes: number;
  /** per-disk SCSI state shared by every session on that disk (reservations, the write range lock) */
  luStates: LuStates;
  onClose(conn: Connection): void;
}

/** One SCSI task of the session; a write keeps its Data-Out state in `write` (write-data.ts). */
interface Task extends WriteTask {
  lun: number;
  cmdSn: number;
  aborted: boolean;
}

type Phase = 'login' | 'full-feature' | 'closed';

/** A connection-level failure: the peer broke the protocol; we drop it (RFC 7143 §7.1.4 with ERL 0). */
class ProtocolFailure extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/**
 * One iSCSI connection, target side: login (RFC 7143 §6, §11.12/§11.13), decided by the socket-free
 * LoginMachine (login.ts) and applied here, then the full feature phase: SCSI commands with Data-In, NOP, Text,
 * TMF, Logout; a write's Data-Out and R2Ts are WriteData's (write-data.ts), which sees this class only through
 * its port. With MaxConnections=1 and ErrorRecoveryLevel=0 a session is one connection, so session state lives
 * here too.
 */
export class Connection {
  private phase: Phase = 'login';
  private readonly framer: PduFramer;
  private readonly log: Logger;
  private chain: Promise<void> = Promise.resolve();
  private statSn = 0;
  params: SessionParams = { ...RFC_DEFAULTS };

  // login state: the state machine; the names are kept for full feature phase (Text, SendTargets)
  private readonly login: LoginMachine;
  private loginFailed = false;
  private initiatorName = '';
  /** this session's nexus token and initiator port name (set at login; see nexus(), initiatorPort()) */
  private names = { nexus: '', port: '' };
  private targetName = '';

  // session state
  session: Session | undefined;
  private sessionKey = '';
  private expCmdSn = 0;
  /** commands ahead of ExpCmdSN, by CmdSN, decoded */
  private readonly pendingCmds = new Map<number, { pdu: FramedPdu; cmd: Command }>();
  private readonly tasks = new Map<number, Task>();
  private readonly writes: WriteData<Task>;
  private nextTtt = 1;
  private textContinuation: { ttt: number; rest: Buffer } | undefined;
  private textPending: Buffer[] = [];
  private textInTtt: number | undefined;
  private closedPromise: Promise<void>;
  private resolveClosed!: () => void;

  readonly peer: string;

  constructor(private readonly deps: ConnectionDeps) {
    this.peer = `${deps.socket.remoteAddress}:${deps.socket.remotePort}`;
    this.log = deps.logger.child({ peer: this.peer });
    this.closedPromise = new Promise((r) => (this.resolveClosed = r));
    this.login = new LoginMachine({
      clientIp: clientAddress(deps.socket.remoteAddress),
      resolve: (ctx) => deps.provider.resolve(ctx),
      sessionExists: (tsih) => deps.sessions.byTsih(tsih) !== undefined,
      discoveryChap: deps.discoveryChap,
      portalGroupTag: deps.portalGroupTag,
      prefs: deps.prefs,
    });
    this.writes = new WriteData<Task>({
      params: () => this.params,
      nextTag: () => this.nextTag(),
      sendR2t: (bhs) => {
        this.stamp(bhs, false); // R2T carries StatSN but does not advance it (§11.8)
        this.send(bhs);
      },
      finish: (task, result, wanted) => this.finishTask(task, result, wanted),
      dropped: (reason) => deps.metrics.drops.inc({ reason }),
      written: (bytes) => deps.metrics.bytesWritten.inc(bytes),
      log: this.log,
    });
    // During login only 8192-byte data segments are allowed (RFC 7143 §13.12 default for login PDUs).
    this.framer = new PduFramer({ maxDataBytes: Math.max(8192, deps.prefs.maxRecvDataSegmentLength) }, (pdu) => this.enqueue(pdu));
    deps.socket.setNoDelay(true);
    // A terminal that is power-cycled never closes its TCP connection; keepalive eventually ends the session.
    // (No NOP-In pings: iPXE drops the connection on a NOP-In that asks for an answer.)
    deps.socket.setKeepAlive(true, 10_000);
    deps.socket.on('data', (chunk: Buffer) => {
      try {
        this.framer.push(chunk);
      } catch (err) {
        this.fail(err instanceof DecodeError ? err.code : 'FRAMING', err);
      }
    });
    deps.socket.on('error', (err) => this.log.debug({ err }, 'socket error'));
    deps.socket.on('close', () => void this.teardown());
  }

  get closed(): Promise<void> {
    return this.closedPromise;
  }

  /** Closes the connection (session reinstatement, logout, stop()). */
  close(reason: string): Promise<void> {
    if (this.phase !== 'closed') {
      this.log.debug({ reason }, 'closing connection');
      this.deps.socket.destroy();
    }
    return this.closedPromise;
  }

  private fail(reason: string, err?: unknown): void {
    if (this.phase === 'closed') return;
    this.deps.metrics.drops.inc({ reason });
    this.log.debug({ reason, err: err instanceof Error ? err.message : err }, 'protocol failure, dropping connection');
    this.framer.stop();
    this.deps.socket.destroy();
  }

  private teardown = async (): Promise<void> => {
    if (this.phase === 'closed') return;
    const wasFfp = this.phase === 'full-feature';
    this.phase = 'closed';
    this.framer.stop();
    for (const t of this.tasks.values()) t.aborted = true;
    this.tasks.clear();
    this.writes.clear();
    const s = this.session;
    if (s) {
      this.deps.sessions.delete(this.sessionKey, s);
      if (wasFfp) this.deps.metrics.sessions.dec({ type: s.type });
      if (s.lease) this.deps.luStates.of(s.lease.device).nexusLost(this.nexus()); // SPC-2 §5.5.3: I_T nexus loss
      try {
        await s.lease?.release();
      } catch (err) {
        this.log.warn({ err }, 'releasing the disk failed');
      }
    }
    this.deps.onClose(this);
    this.resolveClosed();
  };

  private enqueue(pdu: FramedPdu): void {
    this.chain = this.chain
      .then(() => (this.phase === 'closed' || this.loginFailed ? undefined : this.handle(pdu)))
      .catch((err: unknown) => {
        if (err instanceof ProtocolFailure) this.fail(err.reason, err);
        else if (err instanceof DecodeError) this.fail(err.code, err);
        else {
          this.log.error({ err }, 'internal error handling a PDU');
          this.fail('INTERNAL', err);
        }
      });
  }

  // ---------------------------------------------------------------- sending

  private get maxCmdSn(): number {
    return snAdd(this.expCmdSn, this.deps.cmdWindow - 1);
  }

  /** StatSN / ExpCmdSN / MaxCmdSN at offsets 24/28/32 (every target PDU that has them). */
  private stamp(bhs: Buffer, advanceStatSn: boolean): void {
    bhs.writeUInt32BE(this.statSn, 24);
    if (advanceStatSn) this.statSn = snAdd(this.statSn, 1);
    bhs.writeUInt32BE(this.expCmdSn, 28);
    bhs.writeUInt32BE(this.maxCmdSn, 32);
  }

  private send(bhs: Buffer, data?: Buffer): void {
    if (this.phase === 'closed') return;
    setDataLength(bhs, data?.length ?? 0);
    const pieces = framePdu(
      bhs,
      data,
      this.params.headerDigest && this.phase === 'full-feature',
      this.params.dataDigest && this.phase === 'full-feature',
    );
    const s = this.deps.socket;
    s.cork();
    for (const p of pieces) s.write(p);
    s.uncork();
  }

  private reject(pdu: FramedPdu, reason: number): void {
    const bhs = newBhs(Op.REJECT, FINAL_BIT);
    bhs[2] = reason;
    bhs.writeUInt32BE(RESERVED_TAG, 16);
    this.stamp(bhs, true);
    this.deps.metrics.rejects.inc({ reason: String(reason) });
    this.send(bhs, Buffer.from(pdu.bhs));
  }

  // ---------------------------------------------------------------- dispatch

  private async handle(pdu: FramedPdu): Promise<void> {
    const op = pduOpcode(pdu);
    if (this.phase === 'login') {
      if (op !== Op.LOGIN_REQ) throw new ProtocolFailure('NOT_LOGGED_IN'); // RFC 7143 §6.3: only Login before FFP
      return this.onLogin(pdu);
    }
    if (pdu.dataDigestError) {
      // RFC 7143 §7.8: reject a PDU whose data digest failed; the command it carried fails
      this.deps.metrics.drops.inc({ reason: 'DATA_DIGEST' });
      this.reject(pdu, RejectReason.DATA_DIGEST);
      const task = this.tasks.get(pduItt(pdu));
      if (task && (op === Op.DATA_OUT || op === Op.SCSI_CMD))
        this.finishTask(task, { status: ScsiStatus.CHECK_CONDITION, sense: Senses.PROTOCOL_CRC_ERROR });
      return;
    }
    switch (op) {
      case Op.DATA_OUT:
        return this.onDataOut(pdu, decodeDataOut(pdu.bhs));
      case Op.SNACK:
        this.reject(pdu, RejectReason.COMMAND_NOT_SUPPORTED); // ERL 0: no SNACK
        return;
      case Op.LOGIN_REQ:
        this.reject(pdu, RejectReason.PROTOCOL_ERROR);
        return;
      case Op.NOP_OUT:
        return this.ordered(pdu, decodeNopOut(pdu.bhs));
      case Op.SCSI_CMD:
        return this.ordered(pdu, decodeScsiCommand(pdu.bhs, pdu.ahs));
      case Op.TMF_REQ:
        return this.ordered(pdu, decodeTaskManagementRequest(pdu.bhs));
      case Op.TEXT_REQ:
        return this.ordered(pdu, decodeTextRequest(pdu.bhs));
      case Op.LOGOUT_REQ:
        return this.ordered(pdu, decodeLogoutRequest(pdu.bhs));
      default:
        this.deps.metrics.drops.inc({ reason: 'BAD_OPCODE' });
        this.reject(pdu, RejectReason.PROTOCOL_ERROR);
    }
  }

  /**
   * CmdSN ordering (RFC 7143 §4.2.2.1, §3.2.2.1): immediate commands run at once; others run in CmdSN order,
   * those ahead of ExpCmdSN wait, and those outside [ExpCmdSN, MaxCmdSN] are dropped silently.
   */
  private async ordered(pdu: FramedPdu, cmd: Command): Promise<void> {
    // A NOP-Out that is not a ping request carries no CmdSN of its own (§11.18)
    if (cmd.immediate || (cmd.opcode === Op.NOP_OUT && cmd.itt === RESERVED_TAG)) return this.execute(pdu, cmd);
    const sn = cmd.cmdSn;
    if (sn === this.expCmdSn) {
      this.expCmdSn = snAdd(this.expCmdSn, 1);
      await this.execute(pdu, cmd);
      for (let next = this.pendingCmds.get(this.expCmdSn); next; next = this.pendingCmds.get(this.expCmdSn)) {
        this.pendingCmds.delete(this.expCmdSn);
        this.expCmdSn = snAdd(this.expCmdSn, 1);
        await this.execute(next.pdu, next.cmd);
      }
      return;
    }
    if (snLt(this.expCmdSn, sn) && snLe(sn, this.maxCmdSn) && !this.pendingCmds.has(sn)) {
      this.pendingCmds.set(sn, { pdu, cmd });
      return;
    }
    this.deps.metrics.drops.inc({ reason: 'CMDSN_OUT_OF_WINDOW' });
    this.log.debug({ cmdSn: sn, expCmdSn: this.expCmdSn }, 'CmdSN outside the window: dropped');
  }

  private async execute(pdu: FramedPdu, cmd: Command): Promise<void> {
    switch (cmd.opcode) {
      case Op.NOP_OUT:
        return this.onNop(pdu, cmd);
      case Op.SCSI_CMD:
        return this.onScsiCommand(pdu, cmd);
      case Op.TMF_REQ:
        return this.onTmf(cmd);
      case Op.TEXT_REQ:
        return this.onText(pdu, cmd);
      case Op.LOGOUT_REQ:
        return this.onLogout(cmd);
    }
  }

  // ---------------------------------------------------------------- login

  private sendLoginResponse(req: LoginRequest, rsp: LoginResponse, tsih = 0): void {
    const bhs = loginResponseBhs(req, rsp, tsih);
    this.stamp(bhs, true);
    this.send(bhs, rsp.pairs.length ? encodeText(rsp.pairs) : undefined);
  }

  private loginFail(req: LoginRequest, rsp: LoginResponse, reason: string): void {
    this.deps.metrics.logins.inc({ result: reason });
    this.log.info({ status: rsp.status.toString(16), reason, initiator: this.login.initiatorName, target: this.login.targetName }, 'login refused');
    this.sendLoginResponse(req, rsp);
    // §6.3: after a failed login the target closes the connection
    this.loginFailed = true;
    this.framer.stop();
    this.deps.socket.end();
    setTimeout(() => this.deps.socket.destroy(), 1000).unref();
  }

  /** Hands the Login Request to the login state machine (login.ts) and applies its decision. */
  private async onLogin(pdu: FramedPdu): Promise<void> {
    const req = decodeLoginRequest(pdu);
    if (!this.login.started) {
      this.statSn = req.expStatSn; // ExpStatSN of the first login: where our StatSN starts (tgt does the same)
      this.expCmdSn = req.cmdSn;
    }
    const d = await this.login.receive(req);
    if ((this.phase as Phase) === 'closed') return;
    switch (d.kind) {
      case 'respond':
        return this.sendLoginResponse(req, d.response);
      case 'refuse':
        return this.loginFail(req, d.response, d.reason);
      case 'close':
        this.deps.metrics.logins.inc({ result: d.result });
        this.log.warn({ initiator: this.login.initiatorName }, 'reflected CHAP challenge: connection closed');
        return this.fail(d.reason);
      case 'full-feature':
        return this.enterFullFeature(req, d.response, d.result);
    }
  }

  private async enterFullFeature(req: LoginRequest, rsp: LoginResponse, login: LoginResult): Promise<void> {
    const sessions = this.deps.sessions;
    this.params = login.params;
    const target = login.targetName;
    this.initiatorName = login.initiatorName;
    this.targetName = target;
    this.sessionKey = SessionTable.key(login.initiatorName, login.isid.toString('hex'), target);
    // Session reinstatement (RFC 7143 §6.3.5): same initiator name + ISID (+ target) replaces the old session.
    const old = sessions.get(this.sessionKey);
    if (old) {
      this.log.info({ initiator: login.initiatorName, oldTsih: old.tsih }, 'session reinstatement: closing the old session');
      await old.close('reinstated');
    }
    if ((this.phase as Phase) === 'closed') return;
    const session: Session = {
      tsih: sessions.allocateTsih(),
      type: login.type,
      initiatorName: login.initiatorName,
      targetName: target,
      isid: login.isid.toString('hex'),
      params: this.params,
      close: (reason) => this.close(reason),
    };
    if (login.resolution) {
      try {
        session.lease = await login.resolution.open({ reinstatement: old !== undefined });
      } catch (err) {
        this.log.error({ err, target }, 'opening the disk failed');
        return this.loginFail(req, refusal(LoginStatus.OUT_OF_RESOURCES, rsp.csg), 'open-failed');
      }
      if ((this.phase as Phase) === 'closed') {
        await session.lease.release();
        return;
      }
    }
    this.session = session;
    // built once per session, not per command
    this.names = { nexus: `tsih:${session.tsih}`, port: `${session.initiatorName},i,0x${session.isid}` };
    sessions.set(this.sessionKey, session);
    this.sendLoginResponse(req, rsp, session.tsih);
    // Digests start with the first PDU after the final login response (§13.1); the initiator sends nothing
    // before it has that response, so switching the framer now is exact.
    this.phase = 'full-feature';
    this.framer.headerDigest = this.params.headerDigest;
    this.framer.dataDigest = this.params.dataDigest;
    this.framer.maxDataBytes = this.deps.prefs.maxRecvDataSegmentLength;
    this.deps.metrics.sessions.inc({ type: session.type });
    this.deps.metrics.logins.inc({ result: 'success' });
    this.log.info(
      { initiator: login.initiatorName, target, tsih: session.tsih, type: session.type, digests: [this.params.headerDigest, this.params.dataDigest] },
      'session established',
    );
  }

  // ---------------------------------------------------------------- NOP

  private onNop(pdu: FramedPdu, nop: NopOut): void {
    const itt = nop.itt;
    if (itt === RESERVED_TAG) return; // answer to our NOP-In, or a ping that wants no reply (§11.18)
    const bhs = newBhs(Op.NOP_IN, FINAL_BIT);
    nop.lun.copy(bhs, 8);
    bhs.writeUInt32BE(itt, 16);
    bhs.writeUInt32BE(RESERVED_TAG, 20);
    this.stamp(bhs, true);
    const echo =
      pdu.data.length > this.params.initiatorMaxRecvDataSegmentLength
        ? pdu.data.subarray(0, this.params.initiatorMaxRecvDataSegmentLength)
        : pdu.data;
    this.send(bhs, echo.length ? Buffer.from(echo) : undefined);
  }

  // ---------------------------------------------------------------- Text (§11.10/§11.11)

  private onText(pdu: FramedPdu, text: TextRequest): void {
    const { final, continue: cont, itt, ttt } = text;
    if (ttt !== RESERVED_TAG && ttt !== this.textInTtt) {
      // the initiator asks for the rest of a long answer (§11.11.1)
      if (!this.textContinuation || this.textContinuation.ttt !== ttt) return this.reject(pdu, RejectReason.INVALID_PDU_FIELD);
      return this.sendText(itt, this.textContinuation.rest, text.lun);
    }
    if (final && cont) return this.reject(pdu, RejectReason.PROTOCOL_ERROR);
    if (ttt === RESERVED_TAG) this.textPending = []; // a new exchange
    this.textPending.push(Buffer.from(pdu.data));
    if (cont || !final) {
      // the initiator's text continues in the next PDU (§11.10.2): empty answer with a TTT it echoes
      const bhs = newBhs(Op.TEXT_RSP, 0);
      bhs.writeUInt32BE(itt, 16);
      this.textInTtt = this.nextTag();
      bhs.writeUInt32BE(this.textInTtt, 20);
      this.stamp(bhs, true);
      this.send(bhs);
      return;
    }
    this.textInTtt = undefined;
    const data = Buffer.concat(this.textPending);
    this.textPending = [];
    let pairs: TextPairs;
    try {
      pairs = decodeText(data);
    } catch {
      return this.reject(pdu, RejectReason.PROTOCOL_ERROR);
    }
    const answer: TextPairs = [];
    const seen = new Set<string>();
    for (const [k, v] of pairs) {
      if (seen.has(k)) return this.reject(pdu, RejectReason.PROTOCOL_ERROR);
      seen.add(k);
      if (k === 'SendTargets') {
        answer.push(...this.sendTargets(v));
        continue;
      }
      const val = outcomeValue(negotiateKey(k, v, this.params, this.deps.prefs, true));
      if (val !== undefined) answer.push([k, val]);
    }
    void this.finishSendTargets(itt, answer, text.lun);
  }

  private pendingTargets: Promise<string[]> | undefined;

  /** RFC 7143 §13.3 / Appendix C: All (discovery only), empty (this session's target) or one target name. */
  private sendTargets(value: string): TextPairs {
    if (value === 'All') {
      if (this.session?.type !== 'Discovery') return [['SendTargets', 'Reject']];
      this.pendingTargets = this.deps.provider.listTargets({
        initiatorName: this.initiatorName,
        clientIp: clientAddress(this.deps.socket.remoteAddress),
      });
      return [];
    }
    const name = value === '' ? this.targetName : value;
    if (this.session?.type === 'Normal' && name !== this.targetName) return [];
    if (!name) return [];
    this.pendingTargets = this.deps.provider
      .listTargets({ initiatorName: this.initiatorName, clientIp: clientAddress(this.deps.socket.remoteAddress) })
      .then((all) => all.filter((t) => t === name || this.session?.type === 'Normal'));
    return [];
  }

  private async finishSendTargets(itt: number, answer: TextPairs, lun: Buffer): Promise<void> {
    if (this.pendingTargets) {
      const list = await this.pendingTargets;
      this.pendingTargets = undefined;
      // The address the initiator reached us on, not 0.0.0.0 (LIO commit f2774f43)
      const local = clientAddress(this.deps.socket.localAddress);
      const addr = local.includes(':') ? `[${local}]` : local;
      for (const t of list) {
        answer.push(['TargetName', t]);
        answer.push(['TargetAddress', `${addr}:${this.deps.listenPort},${this.deps.portalGroupTag}`]);
      }
    }
    this.sendText(itt, encodeText(answer), lun);
  }

  private sendText(itt: number, data: Buffer, lun: Buffer): void {
    const max = this.params.initiatorMaxRecvDataSegmentLength;
    const bhs = newBhs(Op.TEXT_RSP, FINAL_BIT);
    lun.copy(bhs, 8);
    bhs.writeUInt32BE(itt, 16);
    if (data.length > max) {
      // §11.11.1: C bit, F clear, a TTT the initiator echoes to fetch the rest
      const ttt = this.nextTag();
      bhs[1] = 0x40;
      bhs.writeUInt32BE(ttt, 20);
      this.textContinuation = { ttt, rest: data.subarray(max) };
      data = data.subarray(0, max);
    } else {
      bhs.writeUInt32BE(RESERVED_TAG, 20);
      this.textContinuation = undefined;
    }
    this.stamp(bhs, true);
    this.send(bhs, data);
  }

  private nextTag(): number {
    const t = this.nextTtt;
    this.nextTtt = this.nextTtt >= 0xfffffffe ? 1 : this.nextTtt + 1;
    return t;
  }

  // ---------------------------------------------------------------- Logout (§11.14/§11.15)

  private onLogout(logout: LogoutRequest): void {
    const reason = logout.reasonCode;
    const bhs = newBhs(Op.LOGOUT_RSP, FINAL_BIT);
    bhs.writeUInt32BE(logout.itt, 16);
    // 0 close session, 1 close connection: both end our single-connection session; 2 (recovery) needs ERL 2
    bhs[2] = reason === 2 ? 2 : 0;
    this.stamp(bhs, true);
    bhs.writeUInt16BE(this.params.defaultTime2Wait, 40);
    bhs.writeUInt16BE(this.params.defaultTime2Retain, 42);
    this.send(bhs);
    if (reason !== 2) {
      this.framer.stop();
      this.deps.socket.end();
    }
  }

  // ---------------------------------------------------------------- Task management (§11.5/§11.6)

  private onTmf(tmf: TaskManagementRequest): void {
    const fn = tmf.function;
    const lun = decodeLun(tmf.lun);
    let response: number = TmfResponse.COMPLETE;
    const abortWhere = (pred: (t: Task) => boolean): void => {
      for (const t of [...this.tasks.values()]) if (pred(t)) this.abortTask(t);
    };
    switch (fn) {
      case TmfFunction.ABORT_TASK: {
        const refCmdSn = tmf.refCmdSn;
        const t = this.tasks.get(tmf.referencedTaskTag);
        if (t) this.abortTask(t);
        // §11.5.1 b: a task we never received whose CmdSN is still in the window (≥ ExpCmdSN) and before the
        // TMF counts as received and aborted; c: anything else (e.g. already completed) → task does not exist
        else if (!(snLe(this.expCmdSn, refCmdSn) && snLt(refCmdSn, tmf.cmdSn))) response = TmfResponse.NO_TASK;
        break;
      }
      case TmfFunction.ABORT_TASK_SET:
      case TmfFunction.CLEAR_TASK_SET:
        if (lun !== 0) response = TmfResponse.NO_LUN;
        else abortWhere((t) => t.lun === lun);
        break;
      case TmfFunction.LUN_RESET:
        if (lun !== 0) response = TmfResponse.NO_LUN;
        else {
          abortWhere((t) => t.lun === lun);
          this.resetLu();
        }
        break;
      case TmfFunction.TARGET_WARM_RESET:
      case TmfFunction.TARGET_COLD_RESET:
        abortWhere(() => true);
        this.resetLu();
        break;
      case TmfFunction.CLEAR_ACA:
        response = TmfResponse.NOT_SUPPORTED;
        break;
      case TmfFunction.TASK_REASSIGN:
        response = TmfResponse.NO_REASSIGN; // ERL 0 (§11.5.1)
        break;
      default:
        response = TmfResponse.REJECTED;
    }
    const rsp = newBhs(Op.TMF_RSP, FINAL_BIT);
    rsp[2] = response;
    rsp.writeUInt32BE(tmf.itt, 16);
    this.stamp(rsp, true);
    this.send(rsp);
    if (fn === TmfFunction.TARGET_COLD_RESET) {
      this.framer.stop();
      this.deps.socket.end(); // §11.5.1: a cold reset drops every connection
    }
  }

  private abortTask(t: Task): void {
    t.aborted = true;
    this.tasks.delete(t.itt);
    this.writes.forget(t);
  }

  // ---------------------------------------------------------------- SCSI (§11.3/§11.4)

  private onScsiCommand(pdu: FramedPdu, cmd: ScsiCommand): void {
    if (!this.session || this.session.type !== 'Normal') return this.reject(pdu, RejectReason.PROTOCOL_ERROR); // §4.4.2
    const itt = cmd.itt;
    if (this.tasks.has(itt)) return this.reject(pdu, RejectReason.TASK_IN_PROGRESS);
    const edtl = cmd.expectedDataTransferLength;
    const lun = decodeLun(cmd.lun);
    // an Extended CDB AHS (CDBs over 16 bytes) is already appended; none of ours are, the opcode tells what it is
    const cdb = cmd.cdb;
    const device = lun === 0 ? this.session.lease?.device : undefined;
    this.deps.metrics.commands.inc({ opcode: cdb[0]!.toString(16).padStart(2, '0') });
    const task: Task = { itt, lun, lunField: cmd.lun, cmdSn: cmd.cmdSn, edtl, aborted: false };
    const ctx = device
      ? { lu: this.deps.luStates.of(device), nexus: this.nexus(), port: this.initiatorPort(), edtl: cmd.write ? edtl : 0 }
      : undefined;
    const plan = planCommand(cdb, device, device ? [0] : [], DEFAULT_LIMITS, ctx);
    const immediate = pdu.data;
    if (immediate.length > this.params.firstBurstLength || immediate.length > edtl || (immediate.length && !this.params.immediateData)) {
      throw new ProtocolFailure('BAD_IMMEDIATE_DATA');
    }
    if (plan.kind === 'data-out' && cmd.write && edtl > 0) {
      if (edtl > this.deps.maxWriteBytes) {
        this.tasks.set(itt, task);
        return this.finishTask(task, { status: ScsiStatus.CHECK_CONDITION, sense: Senses.INVALID_FIELD_IN_CDB });
      }
      this.tasks.set(itt, task);
      return this.writes.start(task, plan.dataOutLength, plan.run, immediate);
    }
    this.tasks.set(itt, task);
    // Data the initiator sends unsolicited for a command that takes none is discarded (RFC 7143 §11.4.5.1).
    switch (plan.kind) {
      case 'result':
        return this.finishTask(task, plan.result);
      case 'read':
        void this.runRead(task, plan.offset, plan.length);
        return;
      case 'async':
        void plan.run().then(
          (r) => this.finishTask(task, r),
          (err: unknown) => this.internalTaskError(task, err),
        );
        return;
      case 'data-out':
        // write command without data (EDTL 0 or no W bit): nothing is written, overflow residual (libiscsi)
        return this.finishTask(task, { status: ScsiStatus.GOOD }, plan.dataOutLength);
    }
  }

  /** The I_T nexus token of this session (SAM-5 §4.6.3): unique among live sessions. */
  private nexus(): string {
    return this.names.nexus;
  }

  /** the iSCSI initiator port name (RFC 7143 §4.2.7.1): the I_T nexus for persistent reservations */
  private initiatorPort(): string {
    return this.names.port;
  }

  /** SAM-5 §6.3.7 / SPC-2 §5.5.3: a reset of the LU drops reservations */
  private resetLu(): void {
    const device = this.session?.lease?.device;
    if (device) this.deps.luStates.of(device).reset();
  }

  private internalTaskError(task: Task, err: unknown): void {
    this.log.error({ err, itt: task.itt }, 'SCSI command failed');
    this.finishTask(task, { status: ScsiStatus.CHECK_CONDITION, sense: Senses.UNRECOVERED_READ_ERROR });
  }

  /** Data-Out (§11.7) goes to the write path (write-data.ts); a bad PDU comes back as a Reject reason. */
  private onDataOut(pdu: FramedPdu, d: DataOut): void {
    const reason = this.writes.receive(this.tasks.get(d.itt), d, pdu.data);
    if (reason !== undefined) this.reject(pdu, reason);
  }

  /** Reads straight into one buffer and sends it as Data-In PDUs (views, no copies), status in the last. */
  private async runRead(task: Task, offset: number, length: number): Promise<void> {
    const device = this.session!.lease!.device;
    const send = Math.min(length, task.edtl);
    let buf: Buffer | undefined;
    if (send > 0) {
      buf = Buffer.allocUnsafe(send);
      try {
        await device.read(offset, send, buf, 0);
      } catch (err) {
        this.log.error({ err }, 'read failed');
        return this.finishTask(task, { status: ScsiStatus.CHECK_CONDITION, sense: Senses.UNRECOVERED_READ_ERROR });
      }
    }
    this.finishTask(task, { status: ScsiStatus.GOOD, data: buf }, length);
  }

  /**
   * Sends a command's Data-In and status. `wanted` is what the CDB would transfer (for residuals, §11.4.5.2):
   * EDTL below it → overflow, above it → underflow.
   */
  private finishTask(task: Task, result: ScsiResult, wanted?: number): void {
    if (task.aborted || this.tasks.get(task.itt) !== task) return;
    this.tasks.delete(task.itt);
    if (this.phase !== 'full-feature') return;
    const data = result.data;
    const cdbBytes = wanted ?? data?.length ?? 0;
    let resFlags = 0;
    let residual = 0;
    if (result.status === ScsiStatus.GOOD || data || wanted !== undefined) {
      if (cdbBytes > task.edtl) {
        resFlags = 0x04; // O
        residual = cdbBytes - task.edtl;
      } else if (cdbBytes < task.edtl) {
        resFlags = 0x02; // U
        residual = task.edtl - cdbBytes;
      }
    }
    const payload = data && data.length > task.edtl ? data.subarray(0, task.edtl) : data;
    if (payload && payload.length > 0) {
      this.deps.metrics.bytesRead.inc(payload.length);
      const max = this.params.initiatorMaxRecvDataSegmentLength;
      const collapse = result.status === ScsiStatus.GOOD; // status in the last Data-In (§11.7.3)
      let dataSn = 0;
      const s = this.deps.socket;
      s.cork();
      for (let off = 0; off < payload.length; off += max) {
        const seg = payload.subarray(off, Math.min(off + max, payload.length));
        const last = off + seg.length >= payload.length;
        const bhs = newBhs(Op.DATA_IN, last ? FINAL_BIT | (collapse ? 0x01 | resFlags : 0) : 0);
        bhs.writeUInt32BE(task.itt, 16);
        bhs.writeUInt32BE(RESERVED_TAG, 20);
        if (last && collapse) {
          bhs[3] = result.status;
          this.stamp(bhs, true);
          bhs.writeUInt32BE(residual, 44);
        } else {
          bhs.writeUInt32BE(this.expCmdSn, 28);
          bhs.writeUInt32BE(this.maxCmdSn, 32);
        }
        bhs.writeUInt32BE(dataSn++, 36);
        bhs.writeUInt32BE(off, 40);
        this.send(bhs, seg);
      }
      s.uncork();
      if (collapse) return;
    }
    const bhs = newBhs(Op.SCSI_RSP, FINAL_BIT | resFlags);
    bhs[2] = 0; // command completed at target
    bhs[3] = result.status;
    bhs.writeUInt32BE(task.itt, 16);
    this.stamp(bhs, true);
    bhs.writeUInt32BE(residual, 44);
    let senseData: Buffer | undefined;
    if (result.sense) {
      const sense = fixedSense(result.sense);
      senseData = Buffer.alloc(2 + sense.length);
      senseData.writeUInt16BE(sense.length, 0); // SenseLength (§11.4.7.2)
      sense.copy(senseData, 2);
    }
    this.send(bhs, senseData);
  }
}

export type { Sense };
export { BHS_LENGTH, OPCODE_NAMES };
