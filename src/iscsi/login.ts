import type { ChapCredentials, TargetContext, TargetResolution } from './block-device.ts';
import { ChapAuthenticator } from './chap.ts';
import { LoginStatus, Op, Stage } from './constants.ts';
import { negotiateKey, outcomeValue, RFC_DEFAULTS, type SessionParams, type TargetPreferences } from './negotiation.ts';
import { newBhs, type LoginRequest } from './pdu.ts';
import { decodeText, type TextPairs } from './text.ts';

/**
 * The login phase of one connection, target side (RFC 7143 §6, §11.12/§11.13), without a socket: it takes
 * decoded Login Requests and returns what to do — the Login Response to send and whether login goes on,
 * fails (the connection sends the refusal and closes, §6.3), ends without a response (reflected CHAP), or
 * enters full feature phase with a session to bind. The connection applies the decision.
 */

/** What login needs from the target, and nothing more. */
export interface LoginContext {
  /** the initiator's IP address as seen on the TCP connection (for the provider's policy) */
  clientIp: string;
  /** maps (TargetName, initiator, client IP) of a Normal session to a disk, or refuses */
  resolve(ctx: TargetContext): Promise<TargetResolution>;
  /** a live session has this TSIH (a login that names one wants to add a connection to it) */
  sessionExists(tsih: number): boolean;
  /** CHAP for discovery sessions (none: discovery is open) */
  discoveryChap?: ChapCredentials;
  portalGroupTag: number;
  prefs: TargetPreferences;
  /** CHAP challenge bytes (default: crypto.randomBytes) */
  random?: (n: number) => Buffer;
}

/** The Login Response a decision asks for (RFC 7143 §11.13); ISID and ITT are the request's. */
export interface LoginResponse {
  /** status class and detail as one 16-bit value (LoginStatus) */
  status: number;
  transit: boolean;
  /** current stage as the response states it */
  csg: number;
  /** next stage (only with transit) */
  nsg: number;
  pairs: TextPairs;
}

/** What a login that reached full feature phase binds the connection to. */
export interface LoginResult {
  type: 'Normal' | 'Discovery';
  initiatorName: string;
  /** '' for a discovery session */
  targetName: string;
  isid: Buffer;
  /** the disk a Normal session opens */
  resolution?: Extract<TargetResolution, { status: 'ok' }>;
  params: SessionParams;
}

export type LoginDecision =
  /** send the response; login goes on */
  | { kind: 'respond'; response: LoginResponse }
  /** send the refusal, then close the connection (§6.3); `reason` is the metric label */
  | { kind: 'refuse'; response: LoginResponse; reason: string }
  /** close without a response (reflected CHAP challenge, §12.1.3); `result` is the metric label */
  | { kind: 'close'; reason: 'CHAP_REFLECTION'; result: string }
  /** send the response with the session's TSIH, then enter full feature phase */
  | { kind: 'full-feature'; response: LoginResponse; result: LoginResult };

/** A refusal as a Login Response: status only, no transit, no text. */
export function refusal(status: number, csg: number): LoginResponse {
  return { status, transit: false, csg, nsg: 0, pairs: [] };
}

/** The BHS of a Login Response (RFC 7143 §11.13); the caller stamps StatSN/ExpCmdSN/MaxCmdSN and sends it. */
export function loginResponseBhs(req: LoginRequest, rsp: LoginResponse, tsih = 0): Buffer {
  const bhs = newBhs(Op.LOGIN_RSP, (rsp.transit ? 0x80 : 0) | ((rsp.csg & 3) << 2) | (rsp.transit ? rsp.nsg & 3 : 0));
  bhs[2] = 0; // Version-max
  bhs[3] = 0; // Version-active
  req.isid.copy(bhs, 8);
  bhs.writeUInt16BE(tsih, 14);
  bhs.writeUInt32BE(req.itt, 16);
  bhs.writeUInt16BE(rsp.status, 36);
  return bhs;
}

export class LoginMachine {
  readonly params: SessionParams = { ...RFC_DEFAULTS };
  private loginStarted = false;
  private loginStage = 0;
  private loginPending: Buffer[] = [];
  private readonly negotiatedKeys = new Set<string>();
  private initiator = '';
  private target = '';
  private sessionType: 'Normal' | 'Discovery' = 'Normal';
  private isid = Buffer.alloc(6);
  private resolution: Extract<TargetResolution, { status: 'ok' }> | undefined;
  private chapCreds: ChapCredentials | undefined;
  private authMethod: 'None' | 'CHAP' | undefined;
  private chap: ChapAuthenticator | undefined;
  private authDone = false;
  private declaredOurs = false;
  private sentTpgt = false;

  constructor(private readonly ctx: LoginContext) {}

  /** a Login Request has been received (the first one sets the connection's StatSN and ExpCmdSN) */
  get started(): boolean {
    return this.loginStarted;
  }
  get initiatorName(): string {
    return this.initiator;
  }
  get targetName(): string {
    return this.target;
  }

  private refuse(status: number, reason: string): LoginDecision {
    return { kind: 'refuse', response: refusal(status, this.loginStage), reason };
  }

  async receive(req: LoginRequest): Promise<LoginDecision> {
    const { transit, csg, nsg } = req;
    if (!this.loginStarted) {
      this.loginStarted = true;
      this.isid = Buffer.from(req.isid);
      this.loginStage = csg;
      // RFC 7143 §11.12.4: Version-min must be 0 (draft 20 / RFC 3720 / 7143 are all version 0)
      if (req.versionMin > 0) return this.refuse(LoginStatus.UNSUPPORTED_VERSION, 'version');
      if (req.tsih !== 0) {
        // Adding a connection to an existing session: MaxConnections=1 (§13.2)
        return this.refuse(this.ctx.sessionExists(req.tsih) ? LoginStatus.TOO_MANY_CONNECTIONS : LoginStatus.SESSION_DOES_NOT_EXIST, 'tsih');
      }
    }
    // §11.12.3: stage 2 is reserved, FFP is never a current stage, and a transition only goes forward
    if (csg === 2 || csg === 3 || (transit && (nsg === 2 || nsg <= csg))) {
      return this.refuse(LoginStatus.INITIATOR_ERROR, 'bad-stage');
    }
    if (csg !== this.loginStage && !(csg === Stage.OPERATIONAL && this.loginStage === Stage.SECURITY && this.authDoneOrNone())) {
      return this.refuse(LoginStatus.INITIATOR_ERROR, 'bad-stage');
    }
    this.loginStage = csg;
    // Text split over several PDUs with the C bit (§11.12.2): answer each with an empty response.
    this.loginPending.push(req.data);
    if (req.continue) return { kind: 'respond', response: { status: 0, transit: false, csg: this.loginStage, nsg: 0, pairs: [] } };
    const data = Buffer.concat(this.loginPending);
    this.loginPending = [];
    let pairs: TextPairs;
    try {
      pairs = decodeText(data);
    } catch {
      return this.refuse(LoginStatus.INITIATOR_ERROR, 'bad-text');
    }
    const keys = new Map<string, string>();
    for (const [k, v] of pairs) {
      // §6.2: a key negotiated twice in one login is an initiator error
      if (keys.has(k) || (this.negotiatedKeys.has(k) && !k.startsWith('CHAP_'))) return this.refuse(LoginStatus.INITIATOR_ERROR, 'duplicate-key');
      keys.set(k, v);
    }
    const answer: TextPairs = [];

    if (!this.initiator) {
      const refused = await this.identify(keys);
      if (refused) return refused;
    }
    for (const k of ['InitiatorName', 'TargetName', 'SessionType']) keys.delete(k);

    const security = this.security(keys, csg, transit, answer);
    if (security) return security;

    // ---- operational keys (allowed in either stage)
    for (const [k, v] of keys) {
      this.negotiatedKeys.add(k);
      if (k === 'SendTargets' || k === 'TargetAlias' || k === 'TargetAddress' || k === 'TargetPortalGroupTag') {
        answer.push([k, 'Reject']);
        continue;
      }
      const out = negotiateKey(k, v, this.params, this.ctx.prefs, false);
      const val = outcomeValue(out);
      if (val !== undefined) answer.push([k, val]);
    }
    // Discovery sessions carry no data: digests and bursts do not matter, but the answers stay valid.
    if (!this.sentTpgt && this.sessionType === 'Normal') {
      answer.push(['TargetPortalGroupTag', String(this.ctx.portalGroupTag)]); // §13.9: in the first response
      this.sentTpgt = true;
    }

    // ---- transition
    let canTransit = transit;
    if (transit && csg === Stage.SECURITY && this.chapCreds && !this.authDone) canTransit = false; // CHAP in progress
    if (transit && csg === Stage.SECURITY && !this.chapCreds && this.authMethod === undefined) {
      this.authDone = true; // initiator skipped AuthMethod: None by default (§13.5)
    }
    const entering = canTransit ? nsg : this.loginStage;
    // §13.12: MaxRecvDataSegmentLength is declarative; we state ours once, on entering the operational stage
    if ((canTransit && (nsg === Stage.FULL_FEATURE || nsg === Stage.OPERATIONAL)) || csg === Stage.OPERATIONAL) {
      if (!this.declaredOurs) {
        answer.push(['MaxRecvDataSegmentLength', String(this.ctx.prefs.maxRecvDataSegmentLength)]);
        this.params.targetMaxRecvDataSegmentLength = this.ctx.prefs.maxRecvDataSegmentLength;
        this.declaredOurs = true;
      }
    }
    const response: LoginResponse = { status: 0, transit: canTransit, csg: this.loginStage, nsg, pairs: answer };
    if (entering === Stage.FULL_FEATURE) {
      return {
        kind: 'full-feature',
        response,
        result: {
          type: this.sessionType,
          initiatorName: this.initiator,
          targetName: this.sessionType === 'Normal' ? this.target : '',
          isid: this.isid,
          resolution: this.resolution,
          params: this.params,
        },
      };
    }
    if (canTransit) this.loginStage = nsg;
    return { kind: 'respond', response };
  }

  /** The first PDU with text names the initiator, the session type and (Normal) the target (§13.4, §13.6, §13.8). */
  private async identify(keys: Map<string, string>): Promise<LoginDecision | undefined> {
    const ini = keys.get('InitiatorName');
    if (!ini) return this.refuse(LoginStatus.MISSING_PARAMETER, 'no-initiator-name');
    this.initiator = ini;
    const st = keys.get('SessionType') ?? 'Normal';
    if (st !== 'Normal' && st !== 'Discovery') return this.refuse(LoginStatus.SESSION_TYPE_NOT_SUPPORTED, 'session-type');
    this.sessionType = st;
    if (st === 'Discovery') {
      this.chapCreds = this.ctx.discoveryChap;
      return undefined;
    }
    const tn = keys.get('TargetName');
    if (!tn) return this.refuse(LoginStatus.MISSING_PARAMETER, 'no-target-name');
    this.target = tn;
    const r = await this.ctx.resolve({ targetName: tn, initiatorName: ini, clientIp: this.ctx.clientIp });
    if (r.status === 'not-found') return this.refuse(LoginStatus.NOT_FOUND, 'not-found');
    if (r.status === 'not-allowed') return this.refuse(LoginStatus.AUTHORIZATION_FAILED, 'not-allowed');
    this.resolution = r;
    this.chapCreds = r.chap;
    return undefined;
  }

  /** Security stage (§6.3.1, §12): AuthMethod, then CHAP. Consumes the auth keys; answers go to `answer`. */
  private security(keys: Map<string, string>, csg: number, transit: boolean, answer: TextPairs): LoginDecision | undefined {
    const authKeys = [...keys.keys()].filter((k) => k === 'AuthMethod' || k.startsWith('CHAP_'));
    if (authKeys.length && csg !== Stage.SECURITY) return this.refuse(LoginStatus.INITIATOR_ERROR, 'auth-key-outside-security');
    if (csg === Stage.SECURITY) {
      const am = keys.get('AuthMethod');
      if (am !== undefined) {
        keys.delete('AuthMethod');
        this.negotiatedKeys.add('AuthMethod');
        const offered = am.split(',');
        if (this.chapCreds) {
          if (!offered.includes('CHAP')) return this.refuse(LoginStatus.AUTH_FAILED, 'chap-required');
          this.authMethod = 'CHAP';
          this.chap = new ChapAuthenticator(this.chapCreds, this.ctx.random);
        } else if (offered.includes('None')) {
          this.authMethod = 'None';
          this.authDone = true;
        } else {
          return this.refuse(LoginStatus.AUTH_FAILED, 'no-acceptable-auth');
        }
        answer.push(['AuthMethod', this.authMethod]);
      }
      const chapKeys = new Map([...keys].filter(([k]) => k.startsWith('CHAP_')));
      for (const k of chapKeys.keys()) keys.delete(k);
      if (chapKeys.size) {
        if (!this.chap) return this.refuse(LoginStatus.INITIATOR_ERROR, 'chap-not-negotiated');
        const step = this.chap.step(chapKeys);
        if (step.kind === 'close') return { kind: 'close', reason: 'CHAP_REFLECTION', result: step.reason };
        if (step.kind === 'fail') return this.refuse(LoginStatus.AUTH_FAILED, `chap-${step.reason}`);
        answer.push(...step.answer);
        if (step.kind === 'done') this.authDone = true;
      }
    }
    if (this.chapCreds && !this.authDone) {
      // CHAP is required: no skipping the security stage, no leaving it before CHAP succeeded (§12)
      if (csg !== Stage.SECURITY) return this.refuse(LoginStatus.AUTH_FAILED, 'auth-required');
      if (transit && !answer.some(([k]) => k === 'AuthMethod' || k.startsWith('CHAP_'))) {
        return this.refuse(LoginStatus.AUTH_FAILED, 'auth-required');
      }
    }
    return undefined;
  }

  private authDoneOrNone(): boolean {
    return this.authDone || (!this.chapCreds && this.authMethod !== 'CHAP');
  }
}
