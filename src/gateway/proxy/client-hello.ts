/**
 * TLS ClientHello reader: finds the server name (SNI) and ALPN so a connection can be spliced through to
 * <sni>:443 without decrypting it. Bytes come from an untrusted seat: every length is checked by BufferReader,
 * and any violation is a DecodeError('tls', offset, code).
 *
 * Layout (RFC 8446 §5.1 records, §4 handshake, §4.1.2 ClientHello; RFC 5246 §7.4.1.2 for TLS 1.2;
 * RFC 6066 §3 server_name; RFC 7301 §3.1 ALPN):
 *   TLSPlaintext { u8 type=22 handshake; u16 legacy_record_version; u16 length (≤ 2^14); fragment }
 *   Handshake    { u8 msg_type=1 client_hello; u24 length; body }   — may span several records (§5.1)
 *   ClientHello  { u16 legacy_version; 32 random; <0..32> session_id (u8 len); <2..2^16-2> cipher_suites
 *                  (u16 len, even); <1..2^8-1> compression (u8 len); [<8..2^16-1> extensions (u16 len)] }
 *   Extension    { u16 type; u16 len; data }
 */
import { BufferReader } from '../../wire/buffer-reader.ts';
import { DecodeError } from '../../wire/decode-error.ts';

const PROTOCOL = 'tls';
export const CONTENT_HANDSHAKE = 22; // RFC 8446 §5.1 ContentType.handshake
export const HANDSHAKE_CLIENT_HELLO = 1; // RFC 8446 §4 HandshakeType.client_hello
export const EXT_SERVER_NAME = 0; // RFC 6066 §3
export const EXT_ALPN = 16; // RFC 7301 §3.1
export const NAME_TYPE_HOST = 0; // RFC 6066 §3 NameType.host_name
export const MAX_RECORD_FRAGMENT = 1 << 14; // RFC 8446 §5.1: length MUST NOT exceed 2^14
/** We stop waiting for a ClientHello bigger than this (real ones are < 2 KiB, post-quantum ones < 4 KiB). */
export const MAX_CLIENT_HELLO_BYTES = 64 * 1024;

export interface ClientHello {
  legacyVersion: number;
  /** lower-case host name from server_name, absent when the client sent none */
  serverName?: string;
  alpn: string[];
}

/** host_name is an ASCII DNS name without a trailing dot (RFC 6066 §3). */
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** Decodes one ClientHello handshake body (after the 4-byte handshake header). */
export function parseClientHelloBody(body: Buffer, baseOffset = 0): ClientHello {
  const r = new BufferReader(body, PROTOCOL);
  const legacyVersion = r.u16('legacy_version');
  r.skip(32, 'random');
  const sidLen = r.u8('session_id length');
  if (sidLen > 32) r.fail('BAD_SESSION_ID', `session_id of ${sidLen} bytes > 32`, r.offset - 1 + baseOffset);
  r.skip(sidLen, 'session_id');
  const csLen = r.u16('cipher_suites length');
  if (csLen < 2 || csLen % 2 !== 0) r.fail('BAD_CIPHER_SUITES', `cipher_suites length ${csLen}`, r.offset - 2 + baseOffset);
  r.skip(csLen, 'cipher_suites');
  const compLen = r.u8('compression_methods length');
  if (compLen < 1) r.fail('BAD_COMPRESSION', 'no compression methods', r.offset - 1 + baseOffset);
  r.skip(compLen, 'compression_methods');
  const hello: ClientHello = { legacyVersion, alpn: [] };
  if (r.remaining === 0) return hello; // TLS 1.2 allows a ClientHello without extensions
  const extLen = r.u16('extensions length');
  if (extLen !== r.remaining) r.fail('BAD_EXTENSIONS_LENGTH', `extensions say ${extLen}, ${r.remaining} left`);
  const seen = new Set<number>();
  while (r.remaining > 0) {
    const type = r.u16('extension type');
    const len = r.u16('extension length');
    const at = r.offset;
    r.need(len, 'extension data');
    // RFC 8446 §4.2: there MUST NOT be more than one extension of the same type.
    if (seen.has(type)) r.fail('DUPLICATE_EXTENSION', `extension ${type} twice`, at - 4);
    seen.add(type);
    const ext = new BufferReader(body, PROTOCOL, at, at + len);
    r.skip(len, 'extension data');
    if (type === EXT_SERVER_NAME) hello.serverName = parseServerName(ext);
    else if (type === EXT_ALPN) hello.alpn = parseAlpn(ext);
  }
  return hello;
}

function parseServerName(r: BufferReader): string | undefined {
  const listLen = r.u16('server_name_list length');
  if (listLen !== r.remaining || listLen < 3) r.fail('BAD_SNI_LIST', `server_name_list length ${listLen}, ${r.remaining} left`);
  let host: string | undefined;
  while (r.remaining > 0) {
    const nameType = r.u8('name_type');
    const nameLen = r.u16('host_name length');
    const at = r.offset;
    const name = r.bytes(nameLen, 'host_name');
    if (nameType !== NAME_TYPE_HOST) continue; // unknown name types are skipped (RFC 6066 §3)
    // RFC 6066 §3: the list MUST NOT contain more than one name of the same name_type.
    if (host !== undefined) r.fail('DUPLICATE_SNI', 'two host_name entries', at - 3);
    const s = name.toString('latin1').toLowerCase();
    if (!HOSTNAME.test(s)) r.fail('BAD_SNI_HOSTNAME', `host_name is not a DNS name (${nameLen} bytes)`, at);
    host = s;
  }
  return host;
}

function parseAlpn(r: BufferReader): string[] {
  const listLen = r.u16('protocol_name_list length');
  if (listLen !== r.remaining || listLen < 2) r.fail('BAD_ALPN_LIST', `protocol_name_list length ${listLen}`);
  const out: string[] = [];
  while (r.remaining > 0) {
    const n = r.u8('protocol name length');
    if (n === 0) r.fail('BAD_ALPN_NAME', 'empty protocol name');
    out.push(r.bytes(n, 'protocol name').toString('latin1'));
  }
  return out;
}

export type HelloScan = { done: false } | { done: true; hello: ClientHello };

/**
 * Looks at the bytes a client has sent so far: `done: false` when more are needed, the ClientHello when the
 * handshake message is complete, DecodeError when it can never become one. Reassembles a ClientHello split
 * across several handshake records (RFC 8446 §5.1) and across any number of TCP reads.
 */
export function scanClientHello(buf: Buffer): HelloScan {
  if (buf.length > 0 && buf[0] !== CONTENT_HANDSHAKE) throw new DecodeError(PROTOCOL, 0, 'NOT_TLS_HANDSHAKE', `record type ${buf[0]}`);
  const fragments: Buffer[] = [];
  let handshakeBytes = 0;
  let pos = 0;
  const offsets: number[] = []; // where each fragment starts in buf, to report offsets in the client's bytes
  while (pos + 5 <= buf.length) {
    const type = buf[pos]!;
    if (type !== CONTENT_HANDSHAKE) throw new DecodeError(PROTOCOL, pos, 'NOT_TLS_HANDSHAKE', `record type ${type} before the ClientHello ended`);
    const major = buf[pos + 1]!;
    if (major !== 3) throw new DecodeError(PROTOCOL, pos + 1, 'BAD_RECORD_VERSION', `record version ${major}.${buf[pos + 2]}`);
    const len = buf.readUInt16BE(pos + 3);
    if (len === 0 || len > MAX_RECORD_FRAGMENT) throw new DecodeError(PROTOCOL, pos + 3, 'BAD_RECORD_LENGTH', `record length ${len}`);
    if (pos + 5 + len > buf.length) break; // record not complete yet
    fragments.push(buf.subarray(pos + 5, pos + 5 + len));
    offsets.push(pos + 5);
    handshakeBytes += len;
    pos += 5 + len;
    if (handshakeBytes >= 4) {
      const hs = Buffer.concat(fragments);
      if (hs[0] !== HANDSHAKE_CLIENT_HELLO) throw new DecodeError(PROTOCOL, offsets[0]!, 'NOT_CLIENT_HELLO', `handshake type ${hs[0]}`);
      const bodyLen = hs.readUIntBE(1, 3);
      if (bodyLen + 4 > MAX_CLIENT_HELLO_BYTES) throw new DecodeError(PROTOCOL, offsets[0]! + 1, 'CLIENT_HELLO_TOO_LARGE', `${bodyLen} bytes`);
      if (hs.length >= bodyLen + 4) return { done: true, hello: parseClientHelloBody(hs.subarray(4, 4 + bodyLen), offsets[0]! + 4) };
    }
  }
  if (buf.length > MAX_CLIENT_HELLO_BYTES + 5 * 8)
    throw new DecodeError(PROTOCOL, 0, 'CLIENT_HELLO_TOO_LARGE', `${buf.length} bytes without a ClientHello`);
  return { done: false };
}
