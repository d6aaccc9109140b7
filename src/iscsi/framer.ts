import { DecodeError } from '../wire/decode-error.ts';
import { BHS_LENGTH } from './constants.ts';
import { crc32c } from './crc32c.ts';
import { bhsLengths, padLength, type Pdu } from './pdu.ts';

/**
 * The receive state machine for one TCP connection (RFC 7143 §11.2: BHS, AHS, header digest, data segment,
 * padding, data digest). Transport-free: feed it chunks, it calls `onPdu` per complete PDU. Like iPXE's
 * iscsi_rx (src/net/tcp/iscsi.c), each state knows how many bytes it still needs; bytes that arrive split
 * across chunks are gathered, bytes within one chunk are passed on as views without copying.
 */
export type FramerState = 'bhs' | 'ahs' | 'header-digest' | 'data' | 'padding' | 'data-digest';

export interface FramedPdu extends Pdu {
  /** the data digest did not match (the header was fine); RFC 7143 §7.8: the receiver rejects the PDU */
  dataDigestError: boolean;
}

export interface FramerOptions {
  /** largest data segment accepted (our MaxRecvDataSegmentLength); more is a protocol error */
  maxDataBytes: number;
  headerDigest?: boolean;
  dataDigest?: boolean;
}

const EMPTY = Buffer.alloc(0);

export class PduFramer {
  private state: FramerState = 'bhs';
  /** bytes still wanted in the current state */
  private want = BHS_LENGTH;
  /** gather buffer for the current field when it spans chunks */
  private parts: Buffer[] = [];
  private have = 0;
  private bhs: Buffer = EMPTY;
  private ahs: Buffer = EMPTY;
  private data: Buffer = EMPTY;
  private pad: Buffer = EMPTY;
  private dataBytes = 0;
  private stopped = false;
  headerDigest: boolean;
  dataDigest: boolean;
  maxDataBytes: number;

  constructor(
    opts: FramerOptions,
    private readonly onPdu: (pdu: FramedPdu) => void,
  ) {
    this.headerDigest = opts.headerDigest ?? false;
    this.dataDigest = opts.dataDigest ?? false;
    this.maxDataBytes = opts.maxDataBytes;
  }

  get currentState(): FramerState {
    return this.state;
  }

  /** After a protocol error the connection is dropped; the framer ignores anything after it. */
  stop(): void {
    this.stopped = true;
  }

  /** Consumes one chunk. Throws DecodeError on a framing error (the caller closes the connection). */
  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.stopped) {
      const take = Math.min(this.want - this.have, chunk.length - off);
      let field: Buffer | undefined;
      if (this.have === 0 && take === this.want) {
        field = chunk.subarray(off, off + take); // whole field inside this chunk: a view, no copy
      } else {
        this.parts.push(chunk.subarray(off, off + take));
        this.have += take;
        if (this.have === this.want) {
          field = Buffer.concat(this.parts, this.want);
          this.parts = [];
          this.have = 0;
        }
      }
      off += take;
      if (field) this.complete(field);
    }
  }

  private enter(state: FramerState, bytes: number): void {
    this.state = state;
    this.want = bytes;
  }

  /** One field is complete: decide the next state (skipping empty ones). */
  private complete(field: Buffer): void {
    switch (this.state) {
      case 'bhs': {
        this.bhs = field;
        const { ahsBytes, dataBytes } = bhsLengths(field);
        if (dataBytes > this.maxDataBytes) {
          throw new DecodeError('iscsi', 5, 'DATA_SEGMENT_TOO_LONG', `DataSegmentLength ${dataBytes} > ${this.maxDataBytes}`);
        }
        this.dataBytes = dataBytes;
        this.ahs = EMPTY;
        this.data = EMPTY;
        this.pad = EMPTY;
        return this.afterBhs(ahsBytes);
      }
      case 'ahs':
        this.ahs = field;
        return this.afterAhs();
      case 'header-digest': {
        let c = crc32c(this.bhs);
        if (this.ahs.length) c = crc32c(this.ahs, c);
        if (field.readUInt32LE(0) !== c) {
          // RFC 7143 §7.8: with ERL 0 a header digest error is a connection failure.
          throw new DecodeError('iscsi', 48 + this.ahs.length, 'HEADER_DIGEST', 'header digest mismatch');
        }
        return this.afterHeader();
      }
      case 'data':
        this.data = field;
        return this.afterData();
      case 'padding':
        this.pad = field;
        return this.afterPadding();
      case 'data-digest': {
        // RFC 7143 §11.2.3: the data digest covers the data segment and its padding
        const c = crc32c(this.pad, crc32c(this.data));
        return this.emit(field.readUInt32LE(0) !== c);
      }
    }
  }

  private afterBhs(ahsBytes: number): void {
    if (ahsBytes > 0) return this.enter('ahs', ahsBytes);
    this.afterAhs();
  }
  private afterAhs(): void {
    if (this.headerDigest) return this.enter('header-digest', 4);
    this.afterHeader();
  }
  private afterHeader(): void {
    if (this.dataBytes > 0) return this.enter('data', this.dataBytes);
    this.emit(false);
  }
  private afterData(): void {
    const pad = padLength(this.dataBytes);
    if (pad > 0) return this.enter('padding', pad);
    this.afterPadding();
  }
  private afterPadding(): void {
    if (this.dataDigest) return this.enter('data-digest', 4);
    this.emit(false);
  }

  private emit(dataDigestError: boolean): void {
    const pdu: FramedPdu = { bhs: this.bhs, ahs: this.ahs, data: this.data, dataDigestError };
    this.bhs = this.ahs = this.data = EMPTY;
    this.enter('bhs', BHS_LENGTH);
    this.onPdu(pdu);
  }
}

/**
 * Serialises a PDU for sending: BHS (+AHS) [+header digest] data [+pad] [+data digest]. Returns the pieces
 * (no concatenation of the data segment: the socket writes them with writev).
 */
export function framePdu(bhs: Buffer, data: Buffer | undefined, headerDigest: boolean, dataDigest: boolean): Buffer[] {
  const out: Buffer[] = [bhs];
  if (headerDigest) {
    const d = Buffer.allocUnsafe(4);
    d.writeUInt32LE(crc32c(bhs), 0);
    out.push(d);
  }
  if (data && data.length) {
    out.push(data);
    const pad = padLength(data.length);
    if (pad) out.push(PADS[pad]!);
    if (dataDigest) {
      let c = crc32c(data);
      if (pad) c = crc32c(PADS[pad]!, c);
      const d = Buffer.allocUnsafe(4);
      d.writeUInt32LE(c, 0);
      out.push(d);
    }
  }
  return out;
}

const PADS = [EMPTY, Buffer.alloc(1), Buffer.alloc(2), Buffer.alloc(3)];
