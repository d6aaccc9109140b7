/**
 * HTTP/1.1 message heads (RFC 9112 §2–§5), as the logging proxy reads them from untrusted seats and from
 * arbitrary origin servers: pure functions over a Buffer, no sockets. A head is the start line and the header
 * section, up to and including the empty line.
 *
 * Deliberately strict where leniency is what request smuggling feeds on: CRLF line ends only, no whitespace
 * between a field name and its colon (§5.1: MUST reject), no obsolete line folding (§5.2: rejected), no bare CR,
 * LF or NUL inside a line, HTTP/1.0 and HTTP/1.1 only. Violations throw DecodeError with the offset of the line.
 */
import { DecodeError } from '../../wire/decode-error.ts';

export const HTTP1 = 'http1';

/** Heads larger than this are refused (nginx's large_client_header_buffers default is 4 × 8 KiB). */
export const MAX_HEAD_BYTES = 64 * 1024;
/** More fields than this are refused. */
export const MAX_HEADER_FIELDS = 200;
/** Empty lines skipped before a request line (a client's stray CRLF after a body is one). */
export const MAX_EMPTY_LINES = 8;

export interface RequestHead {
  method: string;
  /** request-target as sent (§3.2: origin-, absolute-, authority- or asterisk-form) */
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1 */
  minor: number;
  /** fields as a flat list: name, value, name, value … (names as sent, values without surrounding whitespace) */
  fields: string[];
  /** bytes the head took, blank line included */
  length: number;
}

export interface ResponseHead {
  status: number;
  reason: string;
  minor: number;
  fields: string[];
  length: number;
}

/** request-target: visible ASCII only (§3.2; no whitespace or controls) */
const TARGET = /^[\x21-\x7e]+$/;
const CRLFCRLF = Buffer.from('\r\n\r\n');

/**
 * Where the head starting at `start` ends (the index just past its blank line), or -1 when it is not complete
 * yet. `scanned` is how far an earlier call already looked, so a head arriving in many pieces is not rescanned.
 * Throws when the head would exceed MAX_HEAD_BYTES.
 */
export function headEnd(buf: Buffer, start: number, scanned = start): number {
  const i = buf.indexOf(CRLFCRLF, Math.max(start, scanned - 3));
  if (i >= 0) {
    if (i + 4 - start > MAX_HEAD_BYTES) throw new DecodeError(HTTP1, start, 'head_too_large', `head over ${MAX_HEAD_BYTES} bytes`);
    return i + 4;
  }
  if (buf.length - start > MAX_HEAD_BYTES) throw new DecodeError(HTTP1, start, 'head_too_large', `head over ${MAX_HEAD_BYTES} bytes`);
  return -1;
}

/**
 * line[from..to] without OWS (RFC 9110 §5.6.3: SP / HTAB) at either end. Not String#trim, which also strips CR, LF,
 * VT, FF and NBSP (so "chunked\v" would read as "chunked" here and as something else downstream); a loop, as
 * /[ \t]+$/ backtracks quadratically.
 */
export function withoutOws(line: string, from = 0, to = line.length): string {
  let a = from;
  let b = to;
  while (a < b && (line.charCodeAt(a) === 0x20 || line.charCodeAt(a) === 0x09)) a++;
  while (b > a && (line.charCodeAt(b - 1) === 0x20 || line.charCodeAt(b - 1) === 0x09)) b--;
  return line.slice(a, b);
}

/**
 * RFC 9110 §5.6.2 tchar, by character code (runs for every field name of every message the proxy relays, so a table
 * rather than a regular expression).
 */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;

function isToken(s: string, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || TCHAR[c] === 0) return false;
  }
  return true;
}

/**
 * Any control but HTAB in a field value. RFC 9110 §5.5 allows only VCHAR, obs-text, SP and HTAB: CR, LF and NUL
 * MUST be rejected, and the other controls are invalid too — a recipient "MAY" keep them only where no downstream
 * HTTP parser sees them, and a proxy's next hop is one. A request with one is refused (400) rather than relayed to
 * a server that may read the field differently; a response with one is refused (502), since the seat's client may
 * not parse it (llhttp does not) while its record would say it was delivered — as with a control in a reason phrase.
 */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

/**
 * The field lines of a head (`text`: the head as latin1 without its final blank line, its start line ending at
 * `firstEnd`) as the flat field list (§5). `offset` is the head's in the buffer. The lines are the CRLF-separated
 * pieces of `text` (as `split('\r\n')` makes them), walked by index so no array of lines is built.
 */
function parseFields(text: string, firstEnd: number, offset: number): string[] {
  const fields: string[] = [];
  if (firstEnd === text.length) return fields;
  let lines = 0;
  for (let i = text.indexOf('\r\n', firstEnd + 2); i >= 0; i = text.indexOf('\r\n', i + 2)) lines++;
  // (field lines = CRLFs after the start line's + 1)
  if (lines + 1 > MAX_HEADER_FIELDS) throw new DecodeError(HTTP1, offset, 'too_many_fields', `more than ${MAX_HEADER_FIELDS} header fields`);
  for (let a = firstEnd + 2; a <= text.length;) {
    let b = text.indexOf('\r\n', a);
    if (b < 0) b = text.length;
    const at = offset + a;
    const first = text.charCodeAt(a);
    // §5.2: obs-fold (a line starting with SP or HTAB continues the previous field): rejected
    if (first === 0x20 || first === 0x09) throw new DecodeError(HTTP1, at, 'obs_fold', 'folded header line');
    const colon = text.indexOf(':', a);
    if (colon <= a || colon >= b) throw new DecodeError(HTTP1, at, 'bad_field', 'header line without a field name and colon');
    // §5.1: no whitespace between the name and the colon; names are tokens
    if (!isToken(text, a, colon)) throw new DecodeError(HTTP1, at, 'bad_field_name', 'field name is not a token');
    // §5: OWS is SP and HTAB only. String#trim would also strip CR, LF, VT, FF and NBSP, so a value ending in a
    // bare LF or CR ("X: a\n\r\n") would pass the check below with the byte silently dropped
    const value = withoutOws(text, colon + 1, b);
    if (hasControl(value)) throw new DecodeError(HTTP1, at, 'bad_field_value', 'a control character (other than HTAB) in a field value');
    fields.push(text.slice(a, colon), value);
    a = b + 2;
  }
  return fields;
}

/** Where the start line of `text` ends (its CRLF, or the end of the head). */
function startLineEnd(text: string): number {
  const i = text.indexOf('\r\n');
  return i < 0 ? text.length : i;
}

/** The version field of a start line: HTTP/1.0 → 0, HTTP/1.1 → 1, anything else undefined. */
function minorOf(v: string): number | undefined {
  if (v === 'HTTP/1.1') return 1;
  if (v === 'HTTP/1.0') return 0;
  return undefined;
}

/**
 * Decodes the request head at buf[start, end) (`end` from headEnd). §2.2: a server SHOULD ignore at least one
 * empty line before the request line — callers skip leading CRLFs with skipEmptyLines first.
 */
export function parseRequestHead(buf: Buffer, start: number, end: number): RequestHead {
  const text = buf.toString('latin1', start, end - 4);
  const firstEnd = startLineEnd(text);
  const line = text.slice(0, firstEnd);
  // §3: request-line = method SP request-target SP HTTP-version, single spaces
  const sp1 = line.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : line.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || line.indexOf(' ', sp2 + 1) >= 0)
    throw new DecodeError(HTTP1, start, 'bad_request_line', 'request line is not "method target version"');
  const method = line.slice(0, sp1);
  const target = line.slice(sp1 + 1, sp2);
  const minor = minorOf(line.slice(sp2 + 1));
  if (!isToken(method, 0, method.length)) throw new DecodeError(HTTP1, start, 'bad_method', 'method is not a token');
  if (!TARGET.test(target)) throw new DecodeError(HTTP1, start + sp1 + 1, 'bad_target', 'request target has whitespace or control characters');
  if (minor === undefined) throw new DecodeError(HTTP1, start + sp2 + 1, 'bad_version', 'not HTTP/1.0 or HTTP/1.1');
  return { method, target, minor, fields: parseFields(text, firstEnd, start), length: end - start };
}

/** Decodes the response head at buf[start, end). §4: status-line = HTTP-version SP status-code SP [reason-phrase]. */
export function parseResponseHead(buf: Buffer, start: number, end: number): ResponseHead {
  const text = buf.toString('latin1', start, end - 4);
  const firstEnd = startLineEnd(text);
  const line = text.slice(0, firstEnd);
  const minor = minorOf(line.slice(0, 8));
  if (minor === undefined || line.charCodeAt(8) !== 0x20)
    throw new DecodeError(HTTP1, start, 'bad_status_line', 'status line does not start with HTTP/1.x');
  const code = line.slice(9, 12);
  // RFC 9110 §15: values outside 100..599 are invalid (a gateway answers them with 502, never relays them)
  if (!/^[1-5]\d\d$/.test(code) || (line.length > 12 && line.charCodeAt(12) !== 0x20))
    throw new DecodeError(HTTP1, start + 9, 'bad_status', 'status code is not three digits from 100 to 599');
  const reason = line.slice(13);
  if (hasControl(reason)) throw new DecodeError(HTTP1, start + 13, 'bad_reason', 'control characters in the reason phrase');
  return { status: Number(code), reason, minor, fields: parseFields(text, firstEnd, start), length: end - start };
}

/**
 * Index of the first byte after the empty lines (CRLF) at `start` (§2.2: a server SHOULD ignore at least one before a
 * request line), at most MAX_EMPTY_LINES of them: the bytes skipped count toward no head, so without a bound a peer
 * sending nothing but CRLFs would be buffered without limit. Past the bound the next CRLF is the head's first line
 * and parseRequestHead refuses it (bad_request_line).
 */
export function skipEmptyLines(buf: Buffer, start: number): number {
  let i = start;
  const stop = start + 2 * MAX_EMPTY_LINES;
  while (i < stop && i + 1 < buf.length && buf[i] === 0x0d && buf[i + 1] === 0x0a) i += 2;
  return i;
}

/** The value of the first field named `lower` (lower-case), or undefined. */
export function field(fields: readonly string[], lower: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) {
    const k = fields[i]!;
    if (k.length === lower.length && k.toLowerCase() === lower) return fields[i + 1];
  }
  return undefined;
}

/** Every value of the fields named `lower`, in order. */
export function fieldValues(fields: readonly string[], lower: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < fields.length; i += 2) {
    const k = fields[i]!;
    if (k.length === lower.length && k.toLowerCase() === lower) out.push(fields[i + 1]!);
  }
  return out;
}

/** The comma-separated tokens of a list-valued field (§5.6.1), lower-cased, empty elements dropped. */
export function listTokens(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    for (const t of v.split(',')) {
      const s = withoutOws(t).toLowerCase();
      if (s) out.push(s);
    }
  }
  return out;
}
