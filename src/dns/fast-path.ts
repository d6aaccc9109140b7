import type { CacheEntry, DnsCache } from './cache.ts';
import { encodeMessage, type DnsRecord } from './codec.ts';
import type { DnsConfig } from './config.ts';
import { CLASSIC_UDP_BYTES, HEADER_BYTES, MAX_LABEL_OCTETS, MAX_NAME_OCTETS, RRClass, RRType, rcodeName, typeName } from './constants.ts';
import type { LocalAnswers } from './local.ts';
import type { QueryCounts } from './metrics.ts';
import type { DnsQueryEvent, QueryContext } from './resolver.ts';
import { recordText } from './text.ts';

/**
 * An encoded cached reply: the bytes as sent to the first client that hit it, with where its TTLs sit. A hit
 * copies them, patches the ID, flags and question (the client's own bytes: its case, 0x20) and rewrites the TTLs
 * when the whole seconds elapsed since the answer was stored have changed.
 */
interface WireTemplate {
  bytes: Buffer;
  /** offsets of the TTL fields of every RR but OPT, and their values when stored */
  ttlAt: number[];
  ttl0: number[];
  /** the elapsed seconds the TTLs in `bytes` are written for */
  elapsed: number;
}

export interface FastPathDeps {
  config: Readonly<DnsConfig>;
  cache: DnsCache;
  counts: QueryCounts;
  clock: () => number;
  localAnswers?: LocalAnswers;
  onQuery?: (event: DnsQueryEvent) => void;
  onHookError: (e: unknown) => void;
}

/** Offset just past a name in bytes we encoded ourselves (trusted: labels, or a pointer ending it). */
function skipName(b: Buffer, pos: number): number {
  for (;;) {
    const len = b[pos]!;
    if (len === 0) return pos + 1;
    if ((len & 0xc0) === 0xc0) return pos + 2;
    pos += 1 + len;
  }
}

/**
 * The cache-hit path for the common query, straight from the datagram: one question in plain labels (no
 * pointer, only bytes that need no escaping), class IN, no records but at most one OPT (version 0), opcode
 * QUERY, QR=0. It answers exactly what DnsResolver's full path would (same bytes but for the case of owner names
 * compressed against the question, which follow the client's spelling) or returns undefined, and then the full
 * path decides: a miss, an expired entry, a name the LocalAnswers port now owns, an answer too big for the
 * client's UDP size (TC), anything unusual. No object is built per query but the reply and two short strings.
 */
export class FastPath {
  /** the question name folded to lower case, with dots (presentation form: no escapes are possible here) */
  private readonly scratch = Buffer.alloc(MAX_NAME_OCTETS + 1);
  private readonly suffixes = new Map<number, string>();
  private readonly maxUdp: number;

  constructor(private readonly deps: FastPathDeps) {
    this.maxUdp = deps.config.maxUdpPayloadBytes;
  }

  answer(buf: Buffer, ctx: QueryContext): Buffer | undefined {
    const len = buf.length;
    // header (RFC 1035 §4.1.1): QR=0 and OPCODE=QUERY; QDCOUNT=1, ANCOUNT=NSCOUNT=0, ARCOUNT 0 or 1
    if (len < HEADER_BYTES + 5 || (buf[2]! & 0xf8) !== 0) return undefined;
    if (buf[4] !== 0 || buf[5] !== 1 || buf[6] !== 0 || buf[7] !== 0 || buf[8] !== 0 || buf[9] !== 0 || buf[10] !== 0) return undefined;
    const arcount = buf[11]!;
    if (arcount > 1) return undefined;
    // the question name: labels only, each byte printable and not '.' or '\' (RFC 1035 §5.1 needs no escape)
    const s = this.scratch;
    let pos = HEADER_BYTES;
    let n = 0;
    for (;;) {
      if (pos >= len) return undefined;
      const l = buf[pos]!;
      if (l === 0) break;
      // wire octets so far are pos + 1 - HEADER_BYTES with the root byte; RFC 1035 §2.3.4 caps them at 255
      if (l > MAX_LABEL_OCTETS || pos + 1 + l >= len || pos + 2 + l - HEADER_BYTES > MAX_NAME_OCTETS) return undefined;
      if (n > 0) s[n++] = 0x2e;
      for (let i = pos + 1, end = pos + 1 + l; i < end; i++) {
        const c = buf[i]!;
        if (c <= 0x20 || c >= 0x7f || c === 0x2e || c === 0x5c) return undefined;
        s[n++] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
      }
      pos += 1 + l;
    }
    if (n === 0) return undefined; // the root: rare, the full path
    const qend = pos + 5;
    if (qend > len) return undefined;
    const type = (buf[pos + 1]! << 8) | buf[pos + 2]!;
    if (buf[pos + 3] !== 0 || buf[pos + 4] !== RRClass.IN) return undefined;
    if (type === RRType.OPT || type === RRType.AXFR || type === RRType.IXFR) return undefined;
    // the OPT RR (RFC 6891 §6.1.2): root owner, TYPE 41, CLASS = UDP size, TTL = ext-rcode|version|flags, RDATA
    let limit = ctx.transport === 'udp' ? CLASSIC_UDP_BYTES : 0xffff;
    const edns = arcount === 1 ? 1 : 0;
    if (edns) {
      if (qend + 11 > len || buf[qend] !== 0 || buf[qend + 1] !== 0 || buf[qend + 2] !== RRType.OPT) return undefined;
      if (buf[qend + 6] !== 0) return undefined; // version > 0 is BADVERS: the full path
      if (qend + 11 + ((buf[qend + 9]! << 8) | buf[qend + 10]!) > len) return undefined;
      if (ctx.transport === 'udp') limit = Math.min(this.maxUdp, Math.max(CLASSIC_UDP_BYTES, (buf[qend + 3]! << 8) | buf[qend + 4]!));
    }
    const name = s.toString('latin1', 0, n);
    const { localAnswers, cache, clock } = this.deps;
    // local data first, as the full path does: hosts and the local domain never reach the cache, but the
    // LocalAnswers port may own a name now that it did not own when the answer was cached
    if (localAnswers && localAnswers.lookup(name, ctx.clientIp) !== undefined) return undefined;
    const now = clock();
    const entry = cache.entry(name + this.suffix(type), now);
    if (entry === undefined) return undefined;
    const t = (entry.wire[edns] as WireTemplate | undefined) ?? (entry.wire[edns] = this.template(entry, buf, pos + 5, type, edns === 1));
    if (t.bytes.length > limit) return undefined; // TC=1: the full path
    const elapsed = Math.floor((now - entry.storedAt) / 1000);
    if (elapsed !== t.elapsed) {
      for (let i = 0; i < t.ttlAt.length; i++) t.bytes.writeUInt32BE(Math.max(0, t.ttl0[i]! - elapsed), t.ttlAt[i]!);
      t.elapsed = elapsed;
    }
    const out = Buffer.allocUnsafe(t.bytes.length);
    t.bytes.copy(out);
    // the client's ID and question bytes (its case); QR, RD kept, RA; CD kept, the cached RCODE
    buf.copy(out, 0, 0, 2);
    buf.copy(out, HEADER_BYTES, HEADER_BYTES, pos + 5);
    out[2] = 0x80 | (buf[2]! & 0x01);
    out[3] = 0x80 | (buf[3]! & 0x10) | (entry.rcode & 0x0f);
    this.deps.counts.cacheHit(ctx.transport, type);
    if (this.deps.onQuery) this.tell(buf, pos, type, entry, ctx);
    return out;
  }

  private suffix(type: number): string {
    let s = this.suffixes.get(type);
    if (s === undefined) {
      s = `|${type}|${RRClass.IN}`;
      if (this.suffixes.size < 1024) this.suffixes.set(type, s);
    }
    return s;
  }

  /** Encodes the entry once (as the full path would, TTLs as stored) and finds its TTL fields. */
  private template(e: CacheEntry, buf: Buffer, qend: number, type: number, edns: boolean): WireTemplate {
    const name = this.clientName(buf, qend - 5);
    const bytes = encodeMessage({
      id: 0,
      flags: { qr: true, opcode: 0, aa: false, tc: false, rd: false, ra: true, ad: false, cd: false },
      rcode: e.rcode & 0xf,
      questions: [{ name, type, class: RRClass.IN }],
      answers: e.answers,
      authority: e.authority,
      additional: e.additional,
      ...(edns ? { edns: { udpSize: this.maxUdp, extendedRcode: e.rcode >> 4, version: 0, dnssecOk: false, options: Buffer.alloc(0) } } : {}),
    });
    const ttlAt: number[] = [];
    const ttl0: number[] = [];
    const rrs: DnsRecord[] = [...e.answers, ...e.authority, ...e.additional];
    let pos = qend;
    for (const rr of rrs) {
      pos = skipName(bytes, pos);
      ttlAt.push(pos + 4);
      ttl0.push(rr.ttl);
      pos += 10 + bytes.readUInt16BE(pos + 8);
    }
    return { bytes, ttlAt, ttl0, elapsed: 0 };
  }

  /** The question name as the client wrote it (presentation form; the fast path admits no byte needing escape). */
  private clientName(buf: Buffer, qnameEnd: number): string {
    const s = this.scratch;
    let n = 0;
    for (let pos = HEADER_BYTES; pos < qnameEnd;) {
      const l = buf[pos]!;
      if (n > 0) s[n++] = 0x2e;
      buf.copy(s, n, pos + 1, pos + 1 + l);
      n += l;
      pos += 1 + l;
    }
    return s.toString('latin1', 0, n);
  }

  private tell(buf: Buffer, qnameEnd: number, type: number, e: CacheEntry, ctx: QueryContext): void {
    e.answerText ??= e.answers.map(recordText);
    try {
      this.deps.onQuery!({
        clientIp: ctx.clientIp,
        transport: ctx.transport,
        name: this.clientName(buf, qnameEnd),
        type: typeName(type),
        rcode: rcodeName(e.rcode),
        answers: e.answerText.slice(),
        source: 'cache',
      });
    } catch (err) {
      this.deps.onHookError(err);
    }
  }
}
