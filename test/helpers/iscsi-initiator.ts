import { connect, type Socket } from 'node:net';
import { chapResponse } from '../../src/iscsi/chap.ts';
import { FINAL_BIT, Op } from '../../src/iscsi/constants.ts';
import { framePdu, PduFramer, type FramedPdu } from '../../src/iscsi/framer.ts';
import { setDataLength } from '../../src/iscsi/pdu.ts';
import { decodeText, encodeText, parseBinary, type TextPairs } from '../../src/iscsi/text.ts';

/**
 * The operational keys of PROTOCOLS.md §5 I3 (iPXE states every value explicitly). iPXE's own
 * iscsi_build_login_request_strings (src/net/tcp/iscsi.c) sends this set minus MaxConnections, ImmediateData and
 * FirstBurstLength; test/integration/iscsi-sanboot.test.ts logs in with the real iPXE.
 */
export function ipxeOperationalKeys(): TextPairs {
  return [
    ['HeaderDigest', 'None'],
    ['DataDigest', 'None'],
    ['MaxConnections', '1'],
    ['InitialR2T', 'Yes'],
    ['ImmediateData', 'No'],
    ['MaxRecvDataSegmentLength', '8192'],
    ['MaxBurstLength', '262144'],
    ['FirstBurstLength', '65536'],
    ['DefaultTime2Wait', '0'],
    ['DefaultTime2Retain', '0'],
    ['MaxOutstandingR2T', '1'],
    ['DataPDUInOrder', 'Yes'],
    ['DataSequenceInOrder', 'Yes'],
    ['ErrorRecoveryLevel', '0'],
  ];
}

export interface LoginResult {
  status: number;
  pairs: TextPairs;
  pdu: FramedPdu;
}

/**
 * A deliberately small, scriptable initiator for protocol tests: it sends exactly the PDUs a test builds
 * (so tests can send what real initiators never would) and collects what comes back.
 */
export class RawInitiator {
  readonly socket: Socket;
  readonly framer: PduFramer;
  private readonly queue: FramedPdu[] = [];
  private waiters: Array<() => void> = [];
  closed = false;
  cmdSn = 1;
  expStatSn = 0;
  itt = 1;
  isid = Buffer.from([0x80, 0x12, 0x34, 0x56, 0x00, 0x01]);
  tsih = 0;
  headerDigest = false;
  dataDigest = false;

  /** digests on in both directions (after the final login response) */
  useDigests(header: boolean, data: boolean): void {
    this.headerDigest = this.framer.headerDigest = header;
    this.dataDigest = this.framer.dataDigest = data;
  }

  private constructor(socket: Socket) {
    this.socket = socket;
    this.framer = new PduFramer({ maxDataBytes: 1 << 24 }, (p) => {
      this.queue.push(p);
      this.wake();
    });
    socket.on('data', (c: Buffer) => this.framer.push(c));
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawInitiator> {
    return new Promise((resolve, reject) => {
      const s = connect(port, host, () => resolve(new RawInitiator(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Next PDU from the target, or undefined when the connection closed / timeout passed. */
  async recv(timeoutMs = 3000): Promise<FramedPdu | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (!this.queue.length) {
      if (this.closed || Date.now() >= deadline) return undefined;
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    const p = this.queue.shift()!;
    this.expStatSn = (p.bhs.readUInt32BE(24) + 1) >>> 0;
    return p;
  }

  /** Waits for the target to close the connection (true) or not within the timeout (false). */
  async waitClosed(timeoutMs = 3000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  send(bhs: Buffer, data?: Buffer, ahs?: Buffer): void {
    setDataLength(bhs, data?.length ?? 0);
    if (ahs) bhs[4] = ahs.length / 4;
    const hdr = ahs ? Buffer.concat([bhs, ahs]) : bhs;
    for (const p of framePdu(hdr, data, this.headerDigest, this.dataDigest)) this.socket.write(p);
  }

  loginPdu(csg: number, nsg: number, transit: boolean, pairs: TextPairs): Buffer {
    const b = Buffer.alloc(48);
    b[0] = 0x40 | Op.LOGIN_REQ;
    b[1] = (transit ? 0x80 : 0) | (csg << 2) | (transit ? nsg : 0);
    this.isid.copy(b, 8);
    b.writeUInt16BE(this.tsih, 14);
    b.writeUInt32BE(this.itt, 16);
    b.writeUInt32BE(this.cmdSn, 24);
    b.writeUInt32BE(this.expStatSn, 28);
    this.send(b, encodeText(pairs));
    return b;
  }

  async login(csg: number, nsg: number, transit: boolean, pairs: TextPairs): Promise<LoginResult | undefined> {
    this.loginPdu(csg, nsg, transit, pairs);
    const pdu = await this.recv();
    if (!pdu) return undefined;
    const status = pdu.bhs.readUInt16BE(36);
    if (pdu.bhs[1]! & 0x80 && (pdu.bhs[1]! & 3) === 3) this.tsih = pdu.bhs.readUInt16BE(14);
    return { status, pairs: decodeText(pdu.data), pdu };
  }

  /** Security → operational → full feature with the given keys (no auth). */
  async loginNormal(initiatorName: string, targetName: string, ops: TextPairs = ipxeOperationalKeys()): Promise<LoginResult | undefined> {
    const r1 = await this.login(0, 1, true, [
      ['InitiatorName', initiatorName],
      ['TargetName', targetName],
      ['SessionType', 'Normal'],
      ['AuthMethod', 'None'],
    ]);
    if (!r1 || r1.status !== 0) return r1;
    return this.login(1, 3, true, ops);
  }

  /** Full CHAP login; `mutual` adds our own challenge. */
  async loginChap(
    initiatorName: string,
    targetName: string,
    user: string,
    secret: string,
    mutual?: { challenge: Buffer; id: number },
  ): Promise<LoginResult | undefined> {
    const r1 = await this.login(0, 1, false, [
      ['InitiatorName', initiatorName],
      ['TargetName', targetName],
      ['SessionType', 'Normal'],
      ['AuthMethod', 'CHAP,None'],
    ]);
    if (!r1 || r1.status !== 0) return r1;
    const r2 = await this.login(0, 1, false, [['CHAP_A', '5']]);
    if (!r2 || r2.status !== 0) return r2;
    const m = new Map(r2.pairs);
    const id = Number(m.get('CHAP_I'));
    const challenge = parseBinary(m.get('CHAP_C')!)!;
    const resp: TextPairs = [
      ['CHAP_N', user],
      ['CHAP_R', '0x' + chapResponse(id, secret, challenge).toString('hex')],
    ];
    if (mutual) resp.push(['CHAP_I', String(mutual.id)], ['CHAP_C', '0x' + mutual.challenge.toString('hex')]);
    const r3 = await this.login(0, 1, true, resp);
    if (!r3 || r3.status !== 0) return r3;
    const r4 = await this.login(1, 3, true, ipxeOperationalKeys());
    if (r4) r4.pairs.unshift(...r3.pairs);
    return r4;
  }

  /** A SCSI command; returns every PDU up to and including the status-bearing one. */
  scsi(cdb: number[] | Buffer, opts: { read?: number; write?: number; immediate?: Buffer; lun?: number; cmdSn?: number; itt?: number } = {}): number {
    const b = Buffer.alloc(48);
    b[0] = Op.SCSI_CMD;
    b[1] = FINAL_BIT | (opts.read !== undefined ? 0x40 : 0) | (opts.write !== undefined ? 0x20 : 0) | 0x01;
    if (opts.lun) b[9] = opts.lun;
    const itt = opts.itt ?? this.itt++;
    b.writeUInt32BE(itt, 16);
    b.writeUInt32BE(opts.read ?? opts.write ?? 0, 20);
    const sn = opts.cmdSn ?? this.cmdSn;
    if (opts.cmdSn === undefined) this.cmdSn = (this.cmdSn + 1) >>> 0;
    b.writeUInt32BE(sn, 24);
    b.writeUInt32BE(this.expStatSn, 28);
    Buffer.from(cdb).copy(b, 32);
    this.send(b, opts.immediate);
    return itt;
  }

  /** Collects Data-In and the final status for one command. */
  async result(
    timeoutMs = 3000,
  ): Promise<{ status: number; data: Buffer; sense?: Buffer; flags: number; residual: number; pdus: FramedPdu[] } | undefined> {
    const parts: Buffer[] = [];
    const pdus: FramedPdu[] = [];
    for (;;) {
      const p = await this.recv(timeoutMs);
      if (!p) return undefined;
      pdus.push(p);
      const op = p.bhs[0]! & 0x3f;
      if (op === Op.DATA_IN) {
        parts.push(Buffer.from(p.data));
        if (p.bhs[1]! & 0x01) return { status: p.bhs[3]!, data: Buffer.concat(parts), flags: p.bhs[1]!, residual: p.bhs.readUInt32BE(44), pdus };
      } else if (op === Op.SCSI_RSP) {
        const sense = p.data.length >= 2 ? p.data.subarray(2, 2 + p.data.readUInt16BE(0)) : undefined;
        return { status: p.bhs[3]!, data: Buffer.concat(parts), sense, flags: p.bhs[1]!, residual: p.bhs.readUInt32BE(44), pdus };
      } else {
        return { status: -1, data: Buffer.alloc(0), flags: 0, residual: 0, pdus };
      }
    }
  }

  dataOut(itt: number, ttt: number, dataSn: number, offset: number, data: Buffer, final: boolean): void {
    const b = Buffer.alloc(48);
    b[0] = Op.DATA_OUT;
    b[1] = final ? FINAL_BIT : 0;
    b.writeUInt32BE(itt, 16);
    b.writeUInt32BE(ttt, 20);
    b.writeUInt32BE(this.expStatSn, 28);
    b.writeUInt32BE(dataSn, 36);
    b.writeUInt32BE(offset, 40);
    this.send(b, data);
  }

  nop(data?: Buffer, opts: { itt?: number; cmdSn?: number; immediate?: boolean } = {}): number {
    const b = Buffer.alloc(48);
    b[0] = (opts.immediate === false ? 0 : 0x40) | Op.NOP_OUT;
    b[1] = FINAL_BIT;
    const itt = opts.itt ?? this.itt++;
    b.writeUInt32BE(itt, 16);
    b.writeUInt32BE(0xffffffff, 20);
    b.writeUInt32BE(opts.cmdSn ?? this.cmdSn, 24);
    b.writeUInt32BE(this.expStatSn, 28);
    this.send(b, data);
    return itt;
  }

  text(pairs: TextPairs): void {
    const b = Buffer.alloc(48);
    b[0] = 0x40 | Op.TEXT_REQ;
    b[1] = FINAL_BIT;
    b.writeUInt32BE(this.itt++, 16);
    b.writeUInt32BE(0xffffffff, 20);
    b.writeUInt32BE(this.cmdSn, 24);
    b.writeUInt32BE(this.expStatSn, 28);
    this.send(b, encodeText(pairs));
  }

  logout(): void {
    const b = Buffer.alloc(48);
    b[0] = 0x40 | Op.LOGOUT_REQ;
    b[1] = FINAL_BIT;
    b.writeUInt32BE(this.itt++, 16);
    b.writeUInt32BE(this.cmdSn, 24);
    b.writeUInt32BE(this.expStatSn, 28);
    this.send(b);
  }

  close(): void {
    this.socket.destroy();
  }
}
