import { encodeData, encodeError, encodeTftp } from './codec.ts';
import { Op, TftpErrorCode } from './constants.ts';
import type { ByteSource } from './source.ts';

/** The per-transfer UDP socket (its port is the server's TID for this transfer, RFC 1350 §4). */
export interface TransferSocket {
  readonly port: number;
  send(buf: Buffer, address: string, port: number): void;
  close(): void;
}

export type TransferEnd =
  { ok: true; confirmed: boolean } | { ok: false; reason: 'timeout' | 'client_error' | 'read_error' | 'stopped'; detail?: string };

export interface TransferParams {
  clientAddress: string;
  clientPort: number;
  socket: TransferSocket;
  source: ByteSource;
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  retries: number;
  /** OACK to send first (RFC 2347); undefined → DATA 1 straight away (check 16) */
  oack: Map<string, string> | undefined;
  now: () => number;
  onEnd: (t: Transfer, end: TransferEnd) => void;
  /** counts DATA bytes handed to the socket, and timed resends */
  onSent: (bytes: number, retransmit: boolean) => void;
  /** a packet from another address/port (answered with ERROR 5) or one that makes no sense now */
  onStray: (reason: string) => void;
}

/**
 * One read transfer: a lock-step (RFC 1350) or windowed (RFC 7440) sender.
 * Block numbers are kept absolute (1, 2, … past 65535) and go on the wire modulo 2^16, so the wrap 65535 → 0 (T4)
 * needs no special case. Data is sent only when a *new* ACK arrives or the retransmission timer fires — never
 * because of a duplicate ACK (T2, the Sorcerer's Apprentice bug).
 */
export class Transfer {
  /** the last block the client acknowledged (0: the OACK or nothing yet) */
  acked = 0;
  /** the highest block sent */
  sent = 0;
  readonly lastBlock: number;
  private awaitingOack: boolean;
  private lastSendAt = 0;
  private tries = 0;
  private ioPending = false;
  private ended = false;
  private oackBuf: Buffer | undefined;

  constructor(readonly p: TransferParams) {
    // the final block is short, possibly empty: size 1024 at blksize 512 needs blocks 1, 2 and an empty 3
    this.lastBlock = Math.floor(p.source.size / p.blksize) + 1;
    this.awaitingOack = p.oack !== undefined;
    if (p.oack) this.oackBuf = encodeTftp({ op: Op.OACK, options: p.oack });
  }

  get done(): boolean {
    return this.ended;
  }

  start(): void {
    if (this.oackBuf) {
      this.p.socket.send(this.oackBuf, this.p.clientAddress, this.p.clientPort);
      this.lastSendAt = this.p.now();
    } else this.sendFrom(1);
  }

  /** A datagram on this transfer's port. */
  receive(buf: Buffer, address: string, port: number): void {
    if (this.ended) return;
    if (address !== this.p.clientAddress || port !== this.p.clientPort) {
      // RFC 1350 §4: a packet from a foreign TID gets ERROR 5 and the transfer goes on (check 23)
      this.p.socket.send(encodeError(TftpErrorCode.UNKNOWN_TID, 'Unknown transfer ID'), address, port);
      return this.p.onStray('foreign_tid');
    }
    if (buf.length < 4) return this.p.onStray('short_packet');
    const op = buf.readUInt16BE(0);
    if (op === Op.ERROR) {
      // the client gives up (e.g. EDK2's tsize probe: OACK then ERROR 8, T6): end at once, send nothing more
      const code = buf.readUInt16BE(2);
      return this.finish({ ok: false, reason: 'client_error', detail: `error ${code}` });
    }
    if (op !== Op.ACK) return this.p.onStray('unexpected_opcode');
    this.onAck(buf.readUInt16BE(2));
  }

  private onAck(wire: number): void {
    if (this.awaitingOack) {
      if (wire !== 0) return this.p.onStray('ack_before_oack');
      this.awaitingOack = false; // RFC 2347: ACK 0 confirms the OACK
      this.tries = 0;
      return this.sendFrom(1);
    }
    // map the 16-bit number to the absolute block in (acked, sent]; anything else is old or bogus
    const delta = (wire - (this.acked & 0xffff)) & 0xffff;
    if (delta === 0) return this.p.onStray('duplicate_ack'); // T2: ignored, the timer alone resends
    const block = this.acked + delta;
    if (block > this.sent) return this.p.onStray('ack_ahead');
    this.acked = block;
    this.tries = 0;
    if (this.acked === this.lastBlock) return this.finish({ ok: true, confirmed: true });
    // a whole window acknowledged → the next one; a partial ACK (RFC 7440 §4: the client saw a gap) → go back to it
    this.sendFrom(this.acked + 1);
  }

  /** Sends blocks first..(acked + windowsize), reading them first if the source needs I/O. */
  private sendFrom(first: number, retransmit = false): void {
    const last = Math.min(this.acked + this.p.windowsize, this.lastBlock);
    if (first > last) return;
    const { blksize } = this.p;
    const io = this.p.source.prepare((first - 1) * blksize, (last - first + 1) * blksize);
    if (io) {
      this.ioPending = true;
      const ackedAtRead = this.acked;
      io.then(
        () => {
          this.ioPending = false;
          if (!this.ended && this.acked === ackedAtRead) this.sendFrom(first, retransmit);
        },
        (e: Error) => {
          this.ioPending = false;
          this.p.socket.send(encodeError(TftpErrorCode.NOT_DEFINED, 'read error'), this.p.clientAddress, this.p.clientPort);
          this.finish({ ok: false, reason: 'read_error', detail: e.message });
        },
      );
      return;
    }
    const { socket, clientAddress, clientPort } = this.p;
    let bytes = 0;
    for (let b = first; b <= last; b++) {
      const data = this.p.source.view((b - 1) * blksize, blksize);
      socket.send(encodeData(b, data), clientAddress, clientPort);
      bytes += data.length;
    }
    if (last > this.sent) this.sent = last;
    this.lastSendAt = this.p.now();
    this.p.onSent(bytes, retransmit);
  }

  /** Called by the server's timer wheel: resend the OACK or the window from the last ACK (RFC 7440 §4). */
  tick(now: number): void {
    if (this.ended || this.ioPending || now - this.lastSendAt < this.p.timeoutMs) return;
    if (++this.tries > this.p.retries) {
      // every block but the last is confirmed and only the last one's ACK is missing: the client most likely has
      // the file (dnsmasq tolerates this, T5). With an unacknowledged window of several blocks it may not: timeout.
      if (!this.awaitingOack && this.sent === this.lastBlock && this.acked === this.lastBlock - 1) return this.finish({ ok: true, confirmed: false });
      return this.finish({ ok: false, reason: 'timeout' });
    }
    if (this.awaitingOack) {
      this.p.socket.send(this.oackBuf!, this.p.clientAddress, this.p.clientPort);
      this.lastSendAt = now;
      this.p.onSent(0, true);
      return;
    }
    this.sendFrom(this.acked + 1, true);
  }

  /** Ends the transfer (server stop); nothing more is sent. */
  abort(): void {
    this.finish({ ok: false, reason: 'stopped' });
  }

  private finish(end: TransferEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.p.onEnd(this, end);
  }
}
