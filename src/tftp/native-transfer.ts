import { nativeAddon } from '../net/iface-socket.ts';
import type { TransferEnd } from './transfer.ts';

/** What the server needs from a transfer in progress, whichever data path runs it. */
export interface ActiveTransfer {
  /** the server's 50 ms tick: the JS path resends on timeout here; the native one reports progress */
  tick(now: number): void;
  /** ends the transfer now (server stop); onEnd follows with reason "stopped" */
  abort(): void;
}

export interface NativeTransferParams {
  localAddress: string;
  clientAddress: string;
  clientPort: number;
  /** the whole file (netascii already translated): the native path serves cached files only */
  data: Buffer;
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  retries: number;
  /** encoded OACK packet to send first, or undefined → DATA 1 straight away */
  oack: Buffer | undefined;
  /** DATA bytes handed to the kernel since the last report, and timed resends */
  onSent: (bytes: number, retransmits: number) => void;
  onStray: (reason: string, count: number) => void;
  onEnd: (end: TransferEnd, ackedBlocks: number) => void;
}

interface NativeResult {
  reason: 'ok' | 'unconfirmed' | 'timeout' | 'client_error' | 'stopped';
  acked: number;
  bytesSent: number;
  retransmits: number;
  errorCode?: number;
  strays: Record<string, number>;
}

interface TftpEngine {
  tftpSend(o: Omit<NativeTransferParams, 'onSent' | 'onStray' | 'onEnd'>, onEnd: (r: NativeResult) => void): { port: number; handle: object };
  tftpAbort(handle: object): void;
  tftpProgress(handle: object): { bytesSent: number; retransmits: number } | undefined;
}

/**
 * A transfer run by the addon's C data path (src/native/tftp_engine.c) on Node's event loop: the same protocol
 * rules as `Transfer`, without a JS call per datagram. JS hears from it on the server tick (progress) and once
 * at the end.
 */
export class NativeTransfer implements ActiveTransfer {
  readonly port: number;
  private readonly handle: object;
  private readonly engine = nativeAddon() as unknown as TftpEngine;
  private reported = 0;
  private reportedRetransmits = 0;
  private ended = false;

  constructor(private readonly p: NativeTransferParams) {
    const { onSent: _s, onStray: _t, onEnd: _e, ...options } = p;
    const started = this.engine.tftpSend(options, (r) => this.finished(r));
    this.port = started.port;
    this.handle = started.handle;
  }

  tick(): void {
    if (this.ended) return;
    const progress = this.engine.tftpProgress(this.handle);
    if (!progress) return;
    const bytes = progress.bytesSent - this.reported;
    const retransmits = progress.retransmits - this.reportedRetransmits;
    if (bytes > 0 || retransmits > 0) this.p.onSent(bytes, retransmits);
    this.reported = progress.bytesSent;
    this.reportedRetransmits = progress.retransmits;
  }

  abort(): void {
    if (!this.ended) this.engine.tftpAbort(this.handle);
  }

  private finished(r: NativeResult): void {
    this.ended = true;
    this.p.onSent(r.bytesSent - this.reported, r.retransmits - this.reportedRetransmits);
    this.reported = r.bytesSent;
    this.reportedRetransmits = r.retransmits;
    for (const [reason, count] of Object.entries(r.strays)) this.p.onStray(reason, count);
    const end: TransferEnd =
      r.reason === 'ok' || r.reason === 'unconfirmed'
        ? { ok: true, confirmed: r.reason === 'ok' }
        : r.reason === 'client_error'
          ? { ok: false, reason: 'client_error', detail: `error ${r.errorCode ?? 0}` }
          : { ok: false, reason: r.reason };
    this.p.onEnd(end, r.acked);
  }
}
