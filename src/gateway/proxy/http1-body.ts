/**
 * HTTP/1.1 message body framing (RFC 9112 §6 and §7.1): how long a body is, and where it ends in a byte stream,
 * so the proxy can relay bodies verbatim without buffering them, know when a response is complete (the moment its
 * audit record must be committed) and reuse the connection for the next message. Pure: bytes in, positions out.
 */
import { DecodeError } from '../../wire/decode-error.ts';
import { HTTP1, MAX_HEAD_BYTES, fieldValues, listTokens, withoutOws, type RequestHead, type ResponseHead } from './http1-head.ts';

export type Framing =
  | { type: 'none' }
  /** Content-Length */
  | { type: 'length'; length: number }
  /** Transfer-Encoding ending in chunked */
  | { type: 'chunked' }
  /** a response delimited by the server closing the connection (§6.3 rule 8) */
  | { type: 'close' };

/** A request whose framing the proxy refuses, with the status to answer (§6.3). */
export class FramingError extends Error {
  constructor(
    readonly status: 400 | 501 | 502,
    readonly code: string,
    detail: string,
  ) {
    super(detail);
    this.name = 'FramingError';
  }
}

/** RFC 9110 §8.6: Content-Length values, all identical decimal numbers (a list of repeats is allowed); undefined if none. */
export function contentLength(values: readonly string[]): number | undefined | 'invalid' {
  if (values.length === 0) return undefined;
  let n: number | undefined;
  for (const v of values) {
    for (const part of v.split(',')) {
      const s = withoutOws(part);
      if (!/^\d{1,15}$/.test(s)) return 'invalid';
      const x = Number(s);
      if (n !== undefined && x !== n) return 'invalid';
      n = x;
    }
  }
  return n;
}

/**
 * §6.3 for a request: Transfer-Encoding wins over Content-Length, but a request carrying both is refused here
 * (§6.1: a server MAY reject it, and it is the classic smuggling vector); only the `chunked` coding is relayed
 * (§6.1: an unknown transfer coding SHOULD get 501); HTTP/1.0 with Transfer-Encoding is faulty framing (§6.1).
 */
export function requestFraming(h: RequestHead): Framing {
  const te = fieldValues(h.fields, 'transfer-encoding');
  const cl = contentLength(fieldValues(h.fields, 'content-length'));
  if (te.length) {
    if (h.minor === 0) throw new FramingError(400, 'te_in_http10', 'Transfer-Encoding in an HTTP/1.0 request');
    if (cl !== undefined) throw new FramingError(400, 'te_and_cl', 'both Transfer-Encoding and Content-Length');
    const codings = listTokens(te);
    if (codings.length !== 1 || codings[0] !== 'chunked')
      throw new FramingError(codings.at(-1) === 'chunked' ? 501 : 400, 'transfer_coding', `transfer coding "${te.join(', ')}"`);
    return { type: 'chunked' };
  }
  if (cl === 'invalid') throw new FramingError(400, 'bad_content_length', 'invalid Content-Length');
  if (cl === undefined || cl === 0) return { type: 'none' };
  return { type: 'length', length: cl };
}

/**
 * §6.3 for a response to `method`: HEAD responses and 1xx/204/304 have no body (rule 1); chunked as the final
 * coding frames it (rule 4), any other Transfer-Encoding means read until close; an invalid Content-Length is an
 * unrecoverable error, answered with 502 by a proxy (rule 5); neither field: read until close (rule 8).
 */
export function responseFraming(h: ResponseHead, method: string): Framing {
  if (method === 'HEAD' || h.status < 200 || h.status === 204 || h.status === 304) return { type: 'none' };
  const te = fieldValues(h.fields, 'transfer-encoding');
  if (te.length) return listTokens(te).at(-1) === 'chunked' ? { type: 'chunked' } : { type: 'close' };
  const cl = contentLength(fieldValues(h.fields, 'content-length'));
  if (cl === 'invalid') throw new FramingError(502, 'bad_content_length', 'invalid Content-Length from upstream');
  if (cl === undefined) return { type: 'close' };
  return cl === 0 ? { type: 'none' } : { type: 'length', length: cl };
}

const enum Chunk {
  Size,
  /** BWS after the chunk size: only ";" (an extension) or CR may follow */
  ExtBws,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  Trailer,
  TrailerLf,
  EndLf,
}

/** 12 hex digits: chunks up to 256 TiB, well inside a double's exact integers */
const MAX_SIZE_DIGITS = 12;
/** chunk-ext (§7.1.1) is skipped but bounded: bytes between the chunk size and its CR */
const MAX_EXT_BYTES = 4096;

/**
 * Follows one message body through the stream. `feed` returns where this message's bytes end within the slice
 * given; anything after belongs to the next message. `payload` counts body bytes without chunk framing (what the
 * audit record reports); `onPayload`, when given, receives those byte ranges (to de-chunk for an HTTP/1.0 client).
 *
 * The proxy relays chunked bytes as they arrived, so the next hop parses them again: wherever the two parsers
 * could disagree on where the body ends (a bare LF, junk after a size) this reader refuses instead. Every error
 * offset is the position of the offending byte in the stream, the same however the stream was split.
 */
export class BodyReader {
  payload = 0;
  done: boolean;
  /** bytes of the stream fed so far (offset base for DecodeError) */
  private pos = 0;
  private remaining: number;
  private state = Chunk.Size;
  private digits = 0;
  private size = 0;
  private lineBytes = 0;
  private trailerBytes = 0;

  constructor(
    private readonly framing: Framing,
    private readonly onPayload?: (buf: Buffer, start: number, end: number) => void,
  ) {
    this.remaining = framing.type === 'length' ? framing.length : 0;
    this.done = framing.type === 'none' || (framing.type === 'length' && framing.length === 0);
  }

  /** The body ends only when the server closes the connection. */
  get delimitedByClose(): boolean {
    return this.framing.type === 'close';
  }

  /** A close-delimited body ends when the stream does. */
  end(): void {
    if (this.framing.type === 'close') this.done = true;
  }

  feed(buf: Buffer, start: number, end: number): number {
    if (this.done) return start;
    const t = this.framing.type;
    if (t === 'length') {
      const n = Math.min(this.remaining, end - start);
      this.remaining -= n;
      this.payload += n;
      if (n) this.onPayload?.(buf, start, start + n);
      this.pos += n;
      if (this.remaining === 0) this.done = true;
      return start + n;
    }
    if (t === 'close') {
      this.payload += end - start;
      if (end > start) this.onPayload?.(buf, start, end);
      this.pos += end - start;
      return end;
    }
    const stop = this.chunked(buf, start, end);
    this.pos += stop - start;
    return stop;
  }

  private fail(at: number, code: string, detail: string): never {
    throw new DecodeError(HTTP1, this.pos + at, code, detail);
  }

  /** RFC 9112 §7.1: chunk = chunk-size [chunk-ext] CRLF chunk-data CRLF; last-chunk, trailer-section, CRLF. */
  private chunked(buf: Buffer, start: number, end: number): number {
    let i = start;
    while (i < end) {
      switch (this.state) {
        case Chunk.Size: {
          const c = buf[i]!;
          const v = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
          if (v >= 0) {
            if (++this.digits > MAX_SIZE_DIGITS) this.fail(i - start, 'chunk_too_large', 'chunk size over 12 hex digits');
            this.size = this.size * 16 + v;
            i++;
          } else if (this.digits === 0) this.fail(i - start, 'bad_chunk_size', 'chunk size is not hexadecimal');
          else if (c === 0x0d) {
            this.state = Chunk.SizeLf;
            i++;
          } else if (c === 0x3b || c === 0x20 || c === 0x09) {
            // §7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
            this.state = c === 0x3b ? Chunk.Ext : Chunk.ExtBws;
            this.lineBytes = 1;
            i++;
          } else this.fail(i - start, 'bad_chunk_size', 'unexpected byte after the chunk size');
          break;
        }
        case Chunk.ExtBws: {
          // whitespace after the size may only lead to ";" (or the line end): "5 6" is not a size of 5 here
          // while the next hop reads it as 0x56 or refuses it
          const c = buf[i]!;
          if (++this.lineBytes > MAX_EXT_BYTES) this.fail(i - start, 'chunk_ext_too_large', 'chunk extension too long');
          if (c === 0x3b) this.state = Chunk.Ext;
          else if (c === 0x0d) this.state = Chunk.SizeLf;
          else if (c !== 0x20 && c !== 0x09) this.fail(i - start, 'bad_chunk_size', 'unexpected byte after the chunk size');
          i++;
          break;
        }
        case Chunk.Ext: {
          // skipped up to its CR, byte by byte (bounded by MAX_EXT_BYTES), so an error's offset is the byte's own
          for (; i < end; i++) {
            const c = buf[i]!;
            if (c === 0x0d) {
              this.state = Chunk.SizeLf;
              i++;
              break;
            }
            if (++this.lineBytes > MAX_EXT_BYTES) this.fail(i - start, 'chunk_ext_too_large', 'chunk extension too long');
            if (c === 0x0a || c === 0x00) this.fail(i - start, 'bad_chunk_ext', 'bare LF or NUL in a chunk extension');
          }
          break;
        }
        case Chunk.SizeLf:
          if (buf[i] !== 0x0a) this.fail(i - start, 'bad_chunk_line', 'chunk size line not ended by CRLF');
          i++;
          if (this.size === 0) {
            this.state = Chunk.TrailerStart;
          } else {
            this.state = Chunk.Data;
            this.remaining = this.size;
          }
          this.size = 0;
          this.digits = 0;
          break;
        case Chunk.Data: {
          const n = Math.min(this.remaining, end - i);
          this.onPayload?.(buf, i, i + n);
          this.payload += n;
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) this.state = Chunk.DataCr;
          break;
        }
        case Chunk.DataCr:
          if (buf[i] !== 0x0d) this.fail(i - start, 'bad_chunk_data', 'chunk data not followed by CRLF');
          this.state = Chunk.DataLf;
          i++;
          break;
        case Chunk.DataLf:
          if (buf[i] !== 0x0a) this.fail(i - start, 'bad_chunk_data', 'chunk data not followed by CRLF');
          this.state = Chunk.Size;
          i++;
          break;
        case Chunk.TrailerStart:
          if (buf[i] === 0x0d) {
            this.state = Chunk.EndLf;
            i++;
          } else {
            this.state = Chunk.Trailer;
          }
          break;
        case Chunk.Trailer: {
          // §7.1.2: trailer lines are field lines, ended by CRLF. A bare LF is refused: a next hop that takes it
          // for a line end would see the body end early and the rest as another message (request smuggling).
          for (; i < end; i++) {
            const c = buf[i]!;
            if (++this.trailerBytes > MAX_HEAD_BYTES) this.fail(i - start, 'trailer_too_large', 'trailer section too large');
            if (c === 0x0d) {
              this.state = Chunk.TrailerLf;
              i++;
              break;
            }
            if (c === 0x0a || c === 0x00) this.fail(i - start, 'bad_trailer', 'bare LF or NUL in a trailer line');
          }
          break;
        }
        case Chunk.TrailerLf:
          if (buf[i] !== 0x0a) this.fail(i - start, 'bad_trailer', 'trailer line not ended by CRLF');
          if (++this.trailerBytes > MAX_HEAD_BYTES) this.fail(i - start, 'trailer_too_large', 'trailer section too large');
          this.state = Chunk.TrailerStart;
          i++;
          break;
        case Chunk.EndLf:
          if (buf[i] !== 0x0a) this.fail(i - start, 'bad_chunk_end', 'chunked body not ended by CRLF');
          this.done = true;
          return i + 1;
      }
    }
    return i;
  }
}
