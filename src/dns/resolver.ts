import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import { DecodeError } from '../wire/decode-error.ts';
import { DnsCache, cacheKey, type CachedReply } from './cache.ts';
import { decodeHeader, decodeMessage, encodeMessage, type DnsHeader, type DnsMessage, type DnsQuestion } from './codec.ts';
import type { DnsConfig } from './config.ts';
import { CLASSIC_UDP_BYTES, Opcode, Rcode, RRClass, RRType, rcodeName, typeLabel, typeName } from './constants.ts';
import { FastPath } from './fast-path.ts';
import { Forwarder } from './forwarder.ts';
import { LocalData, type LocalAnswers } from './local.ts';
import type { DnsMetrics } from './metrics.ts';
import { recordText } from './text.ts';
import { socketTransport, type UpstreamTransport } from './upstream.ts';

export type Transport = 'udp' | 'tcp';

export interface QueryContext {
  /** the client's address (IPv4-mapped IPv6 already as IPv4) */
  clientIp: string;
  transport: Transport;
}

/** Where an answer came from. */
export type AnswerSource = 'local' | 'cache' | 'forwarded' | 'error';

/** What the onQuery hook is told about each answered query (the appliance turns seated terminals' into audit records). */
export interface DnsQueryEvent {
  clientIp: string;
  transport: Transport;
  /** the question name as the client wrote it, without the final dot */
  name: string;
  /** "A", "AAAA", … or TYPEnnn */
  type: string;
  /** "NOERROR", "NXDOMAIN", "SERVFAIL", … */
  rcode: string;
  /** the answer section as short text, e.g. ["CNAME a.example", "A 192.0.2.1"] */
  answers: string[];
  source: AnswerSource;
}

export interface DnsResolverDeps {
  config: Readonly<DnsConfig>;
  logger: Logger;
  metrics: DnsMetrics;
  clock?: () => number;
  localAnswers?: LocalAnswers;
  onQuery?: (event: DnsQueryEvent) => void;
  /** upstream sockets; tests give a fake */
  transport?: UpstreamTransport;
  /** random 16-bit query IDs; defaults to crypto.randomInt */
  randomId?: () => number;
}

type Answer = CachedReply & { aa: boolean; source: AnswerSource; result: string };

/**
 * The socket-free query handler: bytes in, bytes (or nothing) out. Order: local data, cache, upstreams (identical
 * questions in flight share one upstream query). It never throws: malformed input is dropped and counted, or
 * answered FORMERR when the header could be read.
 */
export class DnsResolver {
  readonly cache: DnsCache;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly local: LocalData;
  private readonly forwarder: Forwarder;
  private readonly fast: FastPath;
  private readonly inflight = new Map<string, Promise<CachedReply | undefined>>();

  constructor(private readonly deps: DnsResolverDeps) {
    const c = deps.config;
    this.log = deps.logger;
    this.clock = deps.clock ?? Date.now;
    this.cache = new DnsCache(
      { maxEntries: c.cacheEntries, minTtlSeconds: c.minTtlSeconds, maxTtlSeconds: c.maxTtlSeconds, maxNegativeTtlSeconds: c.maxNegativeTtlSeconds },
      this.clock,
    );
    this.local = new LocalData(c, deps.localAnswers);
    this.forwarder = new Forwarder({
      config: c,
      transport: deps.transport ?? socketTransport,
      metrics: deps.metrics,
      log: this.log,
      clock: this.clock,
      randomId: deps.randomId ?? (() => randomInt(0, 0x10000)),
    });
    this.fast = new FastPath({
      config: c,
      cache: this.cache,
      counts: deps.metrics.counts,
      clock: this.clock,
      ...(deps.localAnswers ? { localAnswers: deps.localAnswers } : {}),
      ...(deps.onQuery ? { onQuery: (e: DnsQueryEvent) => this.deps.onQuery?.(e) } : {}),
      onHookError: (e) => this.log.error({ err: e }, 'dns onQuery hook failed'),
    });
  }

  drop(reason: string, ctx: QueryContext, detail?: object): undefined {
    this.deps.metrics.drops.inc({ reason });
    if (this.log.isLevelEnabled('debug')) this.log.debug({ reason, peer: ctx.clientIp, transport: ctx.transport, ...detail }, 'dns packet dropped');
    return undefined;
  }

  /**
   * Answers one query. A cache or local hit answers synchronously (no promise); a forwarded one returns a promise.
   * `undefined` = dropped (nothing to send; a TCP peer is disconnected).
   */
  handle(buf: Buffer, ctx: QueryContext): Buffer | undefined | Promise<Buffer | undefined> {
    // the common cached answer straight from the bytes (fast-path.ts); anything else takes the full path below
    try {
      const hit = this.fast.answer(buf, ctx);
      if (hit !== undefined) return hit;
    } catch (e) {
      this.log.error({ err: e, peer: ctx.clientIp }, 'dns fast path failed');
    }
    let header: DnsHeader;
    try {
      header = decodeHeader(buf);
    } catch {
      return this.drop('short_header', ctx, { bytes: buf.length });
    }
    // never answer a response: two resolvers pointed at each other would loop (RFC 1035 §4.1.1 QR)
    if (header.flags.qr) return this.drop('not_a_query', ctx);
    try {
      let msg: DnsMessage;
      try {
        msg = decodeMessage(buf);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
        // the header is readable: tell the client it sent a malformed query (RFC 1035 §4.1.1 FORMERR)
        if (this.log.isLevelEnabled('debug')) this.log.debug({ peer: ctx.clientIp, code: e.code, offset: e.offset }, 'dns malformed query');
        return this.error(header, undefined, Rcode.FORMERR, ctx, 'formerr', false);
      }
      return this.query(msg, header, ctx);
    } catch (e) {
      this.log.error({ err: e, peer: ctx.clientIp }, 'dns handler failed');
      return this.drop('internal_error', ctx);
    }
  }

  private query(msg: DnsMessage, header: DnsHeader, ctx: QueryContext): Buffer | undefined | Promise<Buffer | undefined> {
    const q = msg.questions[0];
    if (header.flags.opcode !== Opcode.QUERY) return this.error(header, msg, Rcode.NOTIMP, ctx, 'notimp');
    if (msg.questions.length !== 1) return this.error(header, msg, Rcode.FORMERR, ctx, 'formerr');
    // RFC 6891 §6.1.3: a version we do not implement gets BADVERS, with our OPT
    if (msg.edns && msg.edns.version > 0) return this.error(header, msg, Rcode.BADVERS, ctx, 'badvers');
    if (q!.type === RRType.OPT) return this.error(header, msg, Rcode.FORMERR, ctx, 'formerr');
    if (q!.class !== RRClass.IN || q!.type === RRType.AXFR || q!.type === RRType.IXFR) return this.error(header, msg, Rcode.REFUSED, ctx, 'refused');

    const local = this.local.answer(q!, ctx.clientIp);
    if (local) return this.respond(msg, { ...local, aa: true, source: 'local', result: 'local' }, ctx);
    const hit = this.cache.get(q!.name, q!.type, q!.class);
    if (hit) return this.respond(msg, { ...hit, aa: false, source: 'cache', result: 'cache_hit' }, ctx);
    return this.forward(msg, q!, ctx);
  }

  private async forward(msg: DnsMessage, q: DnsQuestion, ctx: QueryContext): Promise<Buffer | undefined> {
    const key = cacheKey(q.name, q.type, q.class);
    let pending = this.inflight.get(key);
    if (pending) this.deps.metrics.coalesced.inc();
    else {
      if (this.inflight.size >= this.deps.config.maxInflight) return this.servfail(msg, ctx);
      pending = this.forwarder.forward(q).then((reply) => {
        if (reply && this.cache.put(q.name, q.type, q.class, reply)) this.deps.metrics.cacheEntries.set(this.cache.size);
        return reply;
      });
      this.inflight.set(key, pending);
      void pending.finally(() => this.inflight.delete(key)).catch(() => undefined);
    }
    try {
      const reply = await pending;
      if (!reply) return this.servfail(msg, ctx);
      return this.respond(msg, { ...reply, aa: false, source: 'forwarded', result: 'forwarded' }, ctx);
    } catch (e) {
      this.log.error({ err: e, peer: ctx.clientIp }, 'dns forwarding failed');
      return this.servfail(msg, ctx);
    }
  }

  private servfail(msg: DnsMessage, ctx: QueryContext): Buffer | undefined {
    return this.respond(
      msg,
      { rcode: Rcode.SERVFAIL, answers: [], authority: [], additional: [], aa: false, source: 'error', result: 'servfail' },
      ctx,
    );
  }

  /** The UDP payload this client can take: 512 without EDNS (RFC 1035 §4.2.1), else its size within [512, our cap]. */
  private udpLimit(msg: DnsMessage | undefined): number {
    if (!msg?.edns) return CLASSIC_UDP_BYTES;
    return Math.min(this.deps.config.maxUdpPayloadBytes, Math.max(CLASSIC_UDP_BYTES, msg.edns.udpSize));
  }

  private error(header: DnsHeader, msg: DnsMessage | undefined, rcode: number, ctx: QueryContext, result: string, echo = true): Buffer | undefined {
    const a: Answer = { rcode, answers: [], authority: [], additional: [], aa: false, source: 'error', result };
    return this.encode(header, echo ? msg : undefined, a, ctx);
  }

  private respond(msg: DnsMessage, a: Answer, ctx: QueryContext): Buffer | undefined {
    return this.encode(msg, msg, a, ctx);
  }

  private encode(header: { id: number; flags: DnsHeader['flags'] }, msg: DnsMessage | undefined, a: Answer, ctx: QueryContext): Buffer | undefined {
    const c = this.deps.config;
    const q = msg?.questions[0];
    const reply: DnsMessage = {
      id: header.id,
      flags: { qr: true, opcode: header.flags.opcode, aa: a.aa, tc: false, rd: header.flags.rd, ra: true, ad: false, cd: header.flags.cd },
      rcode: a.rcode & 0xf,
      // the question exactly as asked (case kept: RFC 1035 §7.3 matching, and 0x20 clients)
      questions: msg ? msg.questions.slice(0, 1) : [],
      answers: a.answers,
      authority: a.authority,
      additional: a.additional,
      // RFC 6891 §7: answer EDNS with EDNS, advertising our own payload size
      ...(msg?.edns
        ? { edns: { udpSize: c.maxUdpPayloadBytes, extendedRcode: a.rcode >> 4, version: 0, dnssecOk: false, options: Buffer.alloc(0) } }
        : {}),
    };
    if (!msg?.edns && a.rcode > 0xf) reply.rcode = Rcode.SERVFAIL;
    let out = encodeMessage(reply);
    if (ctx.transport === 'udp' && out.length > this.udpLimit(msg)) {
      // RFC 2181 §9, RFC 7766 §5: too big for the client's UDP size: TC=1 and no records, so it retries over TCP
      this.deps.metrics.truncated.inc();
      out = encodeMessage({ ...reply, flags: { ...reply.flags, tc: true }, answers: [], authority: [], additional: [] });
    }
    const type = q ? typeLabel(q.type) : 'none';
    this.deps.metrics.queries.inc({ transport: ctx.transport, type, result: a.result });
    if (this.deps.onQuery && q) {
      try {
        this.deps.onQuery({
          clientIp: ctx.clientIp,
          transport: ctx.transport,
          name: q.name,
          type: typeName(q.type),
          rcode: rcodeName(a.rcode),
          answers: a.answers.map(recordText),
          source: a.source,
        });
      } catch (e) {
        this.log.error({ err: e }, 'dns onQuery hook failed');
      }
    }
    return out;
  }
}
