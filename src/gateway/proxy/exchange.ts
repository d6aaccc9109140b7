/**
 * One request and its response, relayed between a client connection and an upstream connection: the destination
 * decision (transparent: the address dialled, its Host checked against it), the upstream from the pool or a new
 * connection, the request body upstream and the response back with backpressure, and the exchange's audit record.
 *
 * Durability: a response the client sees complete has its audit record committed. The bytes that complete a
 * response (for a small response: all of it, head included) are held back until the group commit holding the
 * record has resolved; if the commit fails the client connection is reset instead, so it never sees a complete
 * response that is missing from the trail.
 */
import { DecodeError } from '../../wire/decode-error.ts';
import { formatIp } from '../../wire/ip-address.ts';
import { endpointText, type Decision, type RefusalReason } from '../destination/policy.ts';
import type { SeatSession } from '../seats-and-audit.ts';
import { dstDetail, refusalDetail, type Activity } from './audit.ts';
import { countRefusal, type Deadlines, type ProxyContext } from './context.ts';
import { forwardedHead, refusalPage } from './headers.ts';
import { BodyReader, FramingError, contentLength, responseFraming, type Framing } from './http1-body.ts';
import { fieldValues, headEnd, listTokens, parseResponseHead, type RequestHead, type ResponseHead } from './http1-head.ts';
import { appendBytes } from './append-bytes.ts';
import type { Dialled } from './original-destination.ts';
import { BAD_REQUEST, HOST_MISMATCH, NOT_REDIRECTED, destinationRefusalPage, reset, type Page } from './refusals.ts';
import type { Target } from './target.ts';
import { pauseUntilDrained, UpgradedConnection, type UpgradedClient } from './tunnel.ts';
import type { Upstream, UpstreamUser } from './upstream-pool.ts';
import type { CacheRequest, CacheResponse } from '../../cache/edge-cache.ts';
import { partBytes } from '../../cache/fetcher.ts';
import { cacheHeaders, cachedHead, HELD_BYTES, passThrough, sendStored, writable, writeOut } from './cache-delivery.ts';

/** The client connection as an exchange sees it (client-connection.ts). */
export interface ExchangeClient extends UpgradedClient {
  /** transparent mode: where the client's connection was going (null: nowhere known); explicit: undefined */
  readonly dialled: Dialled | null | undefined;
  /** the exchange failed: this page (if none of the response was sent yet), else the connection is cut */
  exchangeFailed(page: Page | undefined): void;
  /** the exchange is over and its response written */
  exchangeDone(keepAlive: boolean): void;
  /** the exchange switched protocols: the client's bytes go to `tunnel` from here */
  upgraded(tunnel: UpgradedConnection): void;
}

/** a body slice up to this size is copied into one write with the head; larger ones are written corked */
const SMALL_BODY = 16 * 1024;

/** Where a response stands, as the exchange reads it from upstream. */
const enum Reading {
  Head,
  Body,
  Done,
}

/** One request and its response, relayed between a client connection and an upstream connection. */
export class Exchange implements UpstreamUser {
  private readonly act: Activity;
  private up: Upstream | undefined;
  private reused = false;
  private retried = false;
  /** a 1xx went to the client: the exchange has begun there and is not retried */
  private interimSent = false;
  private readonly requestBodyReader: BodyReader | undefined;
  /** response bytes from upstream not yet consumed (a partial head) */
  private rbuf: Buffer | undefined;
  private scanned = 0;
  private reading = Reading.Head;
  private responseBody: BodyReader | undefined;
  /** response status line and forwarded fields, not yet written to the client */
  private clientHeadStart: string | undefined;
  /** response bytes held back (close-delimited bodies: the latest slice) */
  private held: Buffer[] = [];
  /** the client connection stays open after this response */
  private keepAlive: boolean;
  /** the upstream connection can carry another request after this response */
  private upstreamReusable = true;
  /** de-chunk the body for an HTTP/1.0 client */
  private dechunk = false;
  private headWritten = false;
  private finished = false;
  private startTick: number;
  private seen: number;
  private readonly head: string;
  /** no upstream yet: the Host check or the destination decision (a name lookup) is under way */
  private resolving = false;
  /** request body bytes that arrived while resolving, written once the upstream connection exists */
  private pendingBody: Buffer[] | undefined;
  /** the pool key: the name and port as the client gave them (explicit), or the address dialled (transparent) */
  private readonly key: string;
  /** where the upstream connection goes once decided (an allowed IP literal), and its port */
  private dst: { address: string; port: number } | undefined;
  private hostMismatch = false;
  /** the edge cache was asked (once per exchange) */
  private cacheTried = false;
  /** the cache is answering: no upstream, no connect or idle deadline (the cache has its own origin timeout) */
  private caching = false;
  /** a request to a cache domain passed through uncached: its service and why (record detail, stats) */
  private cacheBypass: { service: string; reason: string } | undefined;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly conn: ExchangeClient,
    /** the seat recorded against; undefined in reverse mode for a terminal without a session (no record) */
    private readonly session: SeatSession | undefined,
    private readonly request: RequestHead,
    private readonly target: Target,
    framing: Framing,
    keepAlive: boolean,
    /** the protocols the client asks to upgrade to (lower case), none if it does not */
    private readonly upgrade: readonly string[],
  ) {
    this.keepAlive = keepAlive;
    const dialled = conn.dialled;
    const port = dialled ? dialled.port : target.port;
    this.key = dialled ? `${dialled.ip.value}:${port}` : `${target.host}:${port}`;
    this.act = {
      kind: 'http',
      method: request.method,
      host: target.host,
      port,
      url: target.url,
      bytesUp: 0,
      bytesDown: 0,
      startedAt: Date.now(),
      verdict: 'allowed',
    };
    this.requestBodyReader = framing.type === 'none' ? undefined : new BodyReader(framing);
    this.startTick = this.seen = ctx.clock.tick;
    const authority = target.port === 80 ? target.host : `${target.host}:${target.port}`;
    // RFC 9110 §6.2: an intermediary sends its own version; RFC 9112 §3.2.2: Host is the target's authority
    // The body is relayed as it arrived, so its framing goes with it: Transfer-Encoding for a chunked body, and
    // for a sized one a single Content-Length (RFC 9110 §8.6: a proxy may fold "5, 5" or repeated fields to one)
    const fields = forwardedHead(request.fields, { dropHost: true, keepTransferEncoding: framing.type === 'chunked', dropContentLength: true });
    const length = framing.type === 'length' ? `Content-Length: ${framing.length}\r\n` : '';
    const upgrading = upgrade.length ? `Connection: upgrade\r\nUpgrade: ${fieldValues(request.fields, 'upgrade').join(', ')}\r\n` : '';
    this.head = `${request.method} ${target.path} HTTP/1.1\r\nHost: ${authority}\r\n${fields}${length}${upgrading}Via: 1.${request.minor} bootgate\r\n\r\n`;
  }

  /**
   * Finds the upstream: (transparent) the Host field is checked against the address dialled; an idle connection
   * under this exchange's key is reused; else the destination policy decides (a name is resolved, once) and a
   * connection opens to the address it allowed. Any step may wait for a lookup; the connect deadline covers that.
   */
  begin(): void {
    this.resolving = true;
    const dialled = this.conn.dialled;
    if (dialled === null) return this.refuseDestination('not_redirected', undefined);
    if (!dialled) return this.findUpstream();
    const same = this.ctx.destinations.names(this.target.host, dialled.ip);
    if (typeof same === 'boolean') return this.afterHostCheck(same);
    same.then(
      (v) => this.afterHostCheck(v),
      () => this.afterHostCheck(false),
    );
  }

  private afterHostCheck(same: boolean): void {
    if (this.finished) return;
    if (!same) {
      this.hostMismatch = true;
      this.ctx.metrics.hostMismatches.inc({ path: 'transparent' });
      if (this.ctx.options.hostMismatch === 'refuse') return this.refuseDestination('host_mismatch', this.dialledText());
    }
    this.findUpstream();
  }

  private dialledText(): string | undefined {
    const d = this.conn.dialled;
    return d ? endpointText(formatIp(d.ip), d.port) : undefined;
  }

  private findUpstream(): void {
    if (!this.cacheTried) {
      this.cacheTried = true;
      if (this.tryCache()) return;
    }
    const pooled = this.ctx.pool.acquire(this.key, this);
    if (pooled) return this.send(pooled, true);
    const dialled = this.conn.dialled;
    const fixed = this.target.address;
    if (fixed !== undefined) return this.afterDecision({ allowed: true, address: fixed, family: fixed.includes(':') ? 6 : 4 });
    const decided = dialled ? this.ctx.destinations.checkAddress(dialled.ip) : this.ctx.destinations.decide(this.target.host);
    if (decided instanceof Promise) void decided.then((d) => this.afterDecision(d));
    else this.afterDecision(decided);
  }

  private afterDecision(d: Decision): void {
    if (this.finished) return;
    if (!d.allowed && d.reason === 'unresolved') return this.fail(502, 'name not resolved');
    const port = this.act.port;
    if (!d.allowed) return this.refuseDestination(d.reason, endpointText(d.address, port));
    this.send(this.ctx.pool.connect(this.key, d.address, port, this), false);
  }

  /**
   * A body-less request that reached a cache domain (docs/cache.md) is answered by the edge cache; whatever the cache
   * turns away before the first byte (not storable, Cookie/Authorization, the origin failed or refused by the
   * destination policy) is relayed uncached exactly as without a cache. Not for a Host that names another place
   * than the address dialled (transparent): the cache would fetch from where the Host points.
   */
  private tryCache(): boolean {
    const cache = this.ctx.cache;
    if (!cache || this.requestBodyReader || this.upgrade.length || this.hostMismatch || this.target.address !== undefined) return false;
    const req: CacheRequest = {
      method: this.request.method,
      host: this.target.host,
      port: this.act.port,
      target: this.target.path,
      headers: cacheHeaders(this.request),
    };
    const d = cache.classify(req);
    if (!d.cache) {
      if (d.reason !== 'not-a-cache-domain') this.cacheBypass = { service: cache.serviceOf(req.host) ?? `origin:${req.host}`, reason: d.reason };
      return false;
    }
    this.caching = true;
    cache.serve(req, d).then(
      (res) => void this.deliverCached(res, d.key.service),
      (e: unknown) => {
        this.caching = false;
        if (this.finished) return;
        if (passThrough(e)) {
          this.cacheBypass = { service: d.key.service, reason: e.code };
          return this.findUpstream();
        }
        this.ctx.log.warn({ err: e, url: this.target.url }, 'edge cache failed');
        this.fail(502, 'edge cache failed');
      },
    );
    return true;
  }

  /**
   * Streams a cached response; its last bytes leave once the record is committed (as complete() does). Parts of
   * stored slice files go with sendfile(2) once Node's queue is empty (cache-delivery.ts); buffers are written with
   * the client's backpressure, each held until the next arrives so the completing bytes are never out before the
   * record. The last file part is sent but for its last HELD_BYTES, read into memory and held the same way.
   */
  private async deliverCached(res: CacheResponse, service: string): Promise<void> {
    const it = res.body[Symbol.asyncIterator]();
    const sock = this.conn.sock;
    const act = this.act;
    let outcome: 'hit' | 'miss' | undefined;
    const mark = (): void => {
      const now = res.served.origin > 0 ? 'miss' : 'hit';
      if (now === outcome) return;
      outcome = now;
      act.detail = `{"cache":"${now}"}`;
    };
    const report = (): void =>
      this.ctx.cache!.stats.delivered({
        service,
        terminal: this.session?.seat ?? this.conn.ip,
        outcome: outcome ?? 'hit',
        fromStore: res.served.store,
        fromOrigin: res.served.origin,
      });
    this.resolving = false;
    act.status = res.status;
    mark();
    const length = Number(res.headers['content-length'] ?? '0');
    let taken = 0; // body bytes the iterator gave so far
    let pending: Buffer | string | undefined = cachedHead(res, this.keepAlive);
    try {
      for (;;) {
        if (this.finished) break; // the client went away (clientClosed recorded it)
        const next = await it.next();
        if (next.done) break;
        this.seen = this.ctx.clock.tick;
        act.bytesDown = res.served.store + res.served.origin;
        mark();
        if (this.finished) break;
        const part = next.value;
        taken += part.length;
        if (Buffer.isBuffer(part)) {
          const ok = pending === undefined || writeOut(sock, pending);
          this.headWritten ||= pending !== undefined;
          pending = part;
          if (!ok && !(await writable(sock))) break;
          continue;
        }
        const held = taken === length ? Math.min(HELD_BYTES, part.length) : 0;
        const sent = await sendStored(sock, pending, { ...part, length: part.length - held });
        this.headWritten = true;
        if (!sent) {
          sock.destroy();
          this.clientClosed();
          break;
        }
        pending = held ? await partBytes({ ...part, offset: part.offset + part.length - held, length: held }) : undefined;
      }
    } catch (e) {
      // mid-body: a digest mismatch, the origin failed or changed, a slice file cut short; the client's response is cut
      this.caching = false;
      this.ctx.log.debug({ url: this.target.url, err: e }, 'cached response cut');
      report();
      return this.fail(502, (e as Error).message);
    }
    this.caching = false;
    if (this.finished) {
      void it.return?.();
      return report();
    }
    this.finished = true;
    this.reading = Reading.Done;
    report();
    const committed = await this.ctx.emitter.emit(this.conn.ip, this.session, act);
    if (!committed) return reset(sock);
    if (sock.destroyed) return;
    if (pending !== undefined) writeOut(sock, pending);
    this.headWritten = true;
    this.conn.exchangeDone(this.keepAlive);
  }

  /** The upstream is there: the request head goes, then any body bytes that came meanwhile. */
  private send(up: Upstream, reused: boolean): void {
    this.resolving = false;
    this.up = up;
    this.reused = reused;
    this.dst = { address: up.address, port: up.port };
    const b = this.cacheBypass;
    this.act.detail = dstDetail(
      endpointText(up.address, up.port),
      this.hostMismatch,
      b ? `"cache":"bypass","cacheReason":"${b.reason}"` : this.target.detail,
    );
    up.sock.write(this.head, 'latin1');
    const pending = this.pendingBody;
    if (!pending) return;
    this.pendingBody = undefined;
    let ok = true;
    for (const b of pending) ok = up.sock.write(b);
    if (ok && this.conn.sock.isPaused()) this.conn.sock.resume();
  }

  /** The destination is refused: a 403 page, a `refused` record with the reason, and the client connection closes. */
  private refuseDestination(reason: RefusalReason | 'host_mismatch' | 'not_redirected', dst: string | undefined): void {
    if (!this.abandon()) return;
    countRefusal(this.ctx, this.ctx.options.mode, reason);
    this.act.status = 403;
    this.act.verdict = 'refused';
    this.act.detail = refusalDetail(reason, dst);
    this.conn.exchangeFailed(
      reason === 'host_mismatch' ? HOST_MISMATCH : reason === 'not_redirected' ? NOT_REDIRECTED : destinationRefusalPage(reason),
    );
    void this.ctx.emitter.emit(this.conn.ip, this.session, this.act);
  }

  checkDeadlines(now: number, d: Deadlines): void {
    if (this.finished || this.caching) return;
    if (this.resolving) {
      if (now - this.startTick > d.connect) this.fail(502, 'destination lookup timeout');
      return;
    }
    if (!this.up) return;
    if (this.up.connecting) {
      if (now - this.startTick > d.connect) this.up.destroy(new Error('upstream connect timeout'));
    } else if (now - this.seen > d.idle) this.up.destroy(new Error('upstream timeout'));
  }

  wantsBody(): boolean {
    return this.requestBodyReader !== undefined && !this.requestBodyReader.done && !this.finished;
  }

  /** Relays request body bytes upstream; returns how many of `chunk` belong to this body. */
  requestBody(chunk: Buffer): number {
    const r = this.requestBodyReader!;
    let used: number;
    try {
      used = r.feed(chunk, 0, chunk.length);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      this.ctx.metrics.drops.inc({ reason: 'bad_request' });
      this.fail(400, 'bad request body');
      return chunk.length;
    }
    this.seen = this.ctx.clock.tick;
    this.act.bytesUp = r.payload;
    const bytes = used === chunk.length ? chunk : chunk.subarray(0, used);
    if (this.resolving) {
      // no upstream yet: held (one chunk at most, the client is paused until the connection exists)
      (this.pendingBody ??= []).push(bytes);
      this.conn.sock.pause();
    } else if (this.up && !this.up.sock.write(bytes)) this.conn.sock.pause();
    return used;
  }

  /** The client half-closed before the request body was complete. */
  bodyCutByClient(): void {
    this.fail(400, 'request body cut short by the client');
  }

  onUpstreamDrain(): void {
    if (this.wantsBody() && this.conn.sock.isPaused()) this.conn.sock.resume();
  }

  onUpstreamData(chunk: Buffer): void {
    this.seen = this.ctx.clock.tick;
    // (after the response, the connection is back in the pool, where a server's stray bytes close it)
    if (this.finished) return;
    let off = 0;
    if (this.reading === Reading.Head) {
      const buf = this.rbuf ? appendBytes(this.rbuf, chunk) : chunk;
      this.rbuf = undefined;
      for (;;) {
        let end: number;
        let head: ResponseHead;
        try {
          end = headEnd(buf, off, this.scanned);
          if (end < 0) {
            this.rbuf = off ? buf.subarray(off) : buf;
            this.scanned = this.rbuf.length;
            return;
          }
          head = parseResponseHead(buf, off, end);
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
          return this.badUpstream(e.code);
        }
        this.scanned = 0;
        off = end;
        if (head.status >= 100 && head.status < 200) {
          // RFC 9110 §15.2: interim responses are forwarded (not to HTTP/1.0 clients); a 101 only answers an
          // upgrade the client asked for, and ends HTTP on both connections
          if (head.status === 101) return this.switchProtocols(head, buf.subarray(end));
          this.interimSent = true;
          if (this.request.minor === 1)
            this.conn.sock.write(`HTTP/1.1 ${head.status} ${head.reason}\r\n${forwardedHead(head.fields, {})}\r\n`, 'latin1');
          continue;
        }
        let framing: Framing;
        try {
          framing = responseFraming(head, this.request.method);
        } catch (e) {
          if (!(e instanceof FramingError)) throw e;
          return this.badUpstream(e.code);
        }
        this.startBody(head, framing);
        break;
      }
      chunk = buf;
    }
    this.body(chunk, off);
  }

  /**
   * RFC 9110 §15.2.2 / §7.8: the server switched to a protocol the client asked for; the 101 goes to the client
   * with the Upgrade and Connection fields this hop needs, and from here the two connections are spliced
   * (UpgradedConnection, tunnel.ts), which writes this exchange's record when it closes. The exchange is over.
   */
  private switchProtocols(head: ResponseHead, rest: Buffer): void {
    const protocols = fieldValues(head.fields, 'upgrade');
    const chosen = listTokens(protocols);
    if (this.upgrade.length === 0 || chosen.length === 0 || !chosen.every((p) => this.upgrade.includes(p)))
      return this.badUpstream('unrequested_upgrade');
    this.act.status = 101;
    this.reading = Reading.Done;
    this.finished = true;
    const up = this.up!;
    this.up = undefined;
    const tunnel = new UpgradedConnection(this.ctx, this.conn, this.session, this.act, up);
    const sock = this.conn.sock;
    sock.cork();
    sock.write(
      `HTTP/1.1 101 ${head.reason}\r\n${forwardedHead(head.fields, {})}Connection: upgrade\r\nUpgrade: ${protocols.join(', ')}\r\nVia: 1.${head.minor} bootgate\r\n\r\n`,
      'latin1',
    );
    if (rest.length) tunnel.toClient(rest);
    sock.uncork();
    this.conn.upgraded(tunnel);
  }

  private startBody(head: ResponseHead, framing: Framing): void {
    this.act.status = head.status;
    this.reading = Reading.Body;
    // RFC 9112 §9.3: the server's connection persists unless it says close (or is HTTP/1.0 without keep-alive)
    const conn = listTokens(fieldValues(head.fields, 'connection'));
    if (conn.includes('close') || (head.minor === 0 && !conn.includes('keep-alive')) || framing.type === 'close') this.upstreamReusable = false;
    if (framing.type === 'close') this.keepAlive = false;
    const te = framing.type !== 'none' && fieldValues(head.fields, 'transfer-encoding').length > 0;
    // RFC 9112 §6.1: after a response with Transfer-Encoding and Content-Length, or Transfer-Encoding from an
    // HTTP/1.0 server, the connection is closed (its framing cannot be trusted for a next message)
    if (te && (head.minor === 0 || fieldValues(head.fields, 'content-length').length > 0)) this.upstreamReusable = false;
    this.dechunk = framing.type === 'chunked' && this.request.minor === 0;
    const out = this.dechunk ? (b: Buffer, s: number, e: number) => this.out(b.subarray(s, e)) : undefined;
    this.responseBody = new BodyReader(framing, out);
    // A sized body goes on with one Content-Length. So does a list of identical values ("0, 0", or the field
    // repeated) on a body-less response (RFC 9110 §8.6: a recipient may fold it; a sender must not send a list, and
    // llhttp refuses one); else a HEAD, 204 or 304 response keeps its Content-Length as sent (it describes a body
    // that is not there).
    const cls = te ? [] : fieldValues(head.fields, 'content-length');
    const listed = cls.length > 1 || cls[0]?.includes(',') ? contentLength(cls) : undefined;
    const folded = framing.type === 'length' ? framing.length : typeof listed === 'number' ? listed : undefined;
    const length = folded === undefined ? '' : `Content-Length: ${folded}\r\n`;
    this.clientHeadStart =
      `HTTP/1.1 ${head.status} ${head.reason}\r\n` +
      forwardedHead(head.fields, { keepTransferEncoding: te && !this.dechunk, dropContentLength: te || folded !== undefined }) +
      `${length}Via: 1.${head.minor} bootgate\r\n`;
  }

  /** The response head as the client gets it; whether the connection stays open is decided when it leaves. */
  private clientHead(): string {
    return `${this.clientHeadStart!}${this.keepAlive ? '' : 'Connection: close\r\n'}\r\n`;
  }

  /** Relays response body bytes from `chunk[off..]`; holds back what completes the response. */
  private body(chunk: Buffer, off: number): void {
    const r = this.responseBody!;
    let used: number;
    try {
      used = r.feed(chunk, off, chunk.length);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      return this.badUpstream(e.code);
    }
    if (used < chunk.length) this.upstreamReusable = false; // more than the framing said
    this.act.bytesDown = r.payload;
    if (!this.dechunk && used > off) this.out(off === 0 && used === chunk.length ? chunk : chunk.subarray(off, used));
    if (r.done) this.complete();
    else this.flushUnlessClose();
  }

  /** Bytes for the client, queued in `held` until it is known whether they complete the response. */
  private out(b: Buffer): void {
    if (b.length) this.held.push(b);
  }

  /** While the response goes on, what was queued can go (close-delimited bodies keep their latest slice). */
  private flushUnlessClose(): void {
    const keep = this.responseBody!.delimitedByClose ? 1 : 0;
    if (this.held.length <= keep && this.headWritten) return;
    const send = this.held.splice(0, this.held.length - keep);
    const sock = this.conn.sock;
    sock.cork();
    if (!this.headWritten) {
      sock.write(this.clientHead(), 'latin1');
      this.headWritten = true;
    }
    let ok = true;
    for (const b of send) ok = sock.write(b);
    sock.uncork();
    if (!ok) pauseUntilDrained(this.up, this.conn.sock);
  }

  /** The response is complete: record it, and let the client see it only once the record is committed. */
  private complete(): void {
    this.reading = Reading.Done;
    this.finished = true;
    const up = this.up;
    // a server may answer before the whole request body arrived (RFC 9112 §9.5): the rest of the body cannot be
    // told from the next request, so this client connection ends with this response
    if (this.wantsBodyUnfinished()) this.keepAlive = false;
    // the upstream connection is free as soon as the response and the request body are through
    if (up && this.upstreamReusable && !this.wantsBodyUnfinished()) {
      this.up = undefined;
      this.ctx.pool.release(up, this.ctx.clock.tick);
    } else if (up) {
      this.up = undefined;
      up.discard();
    }
    const b = this.cacheBypass;
    if (b && this.ctx.cache)
      this.ctx.cache.stats.delivered({
        service: b.service,
        terminal: this.session?.seat ?? this.conn.ip,
        outcome: 'bypass',
        fromStore: 0,
        fromOrigin: this.act.bytesDown,
      });
    const committed = this.ctx.emitter.emitNow(this.conn.ip, this.session, this.act);
    if (committed === true) this.deliver(true);
    else void committed.then((c) => this.deliver(c));
  }

  /** What was held back goes to the client once its record is committed (`committed` false: the sink failed). */
  private deliver(committed: boolean): void {
    const sock = this.conn.sock;
    if (!committed) return reset(sock); // not in the trail: the client must not see it complete (a FIN could end a close-delimited body)
    if (sock.destroyed) return;
    const held = this.held;
    this.held = [];
    if (!this.headWritten && held.length === 1 && held[0]!.length <= SMALL_BODY) {
      // the common small response: head and body in one write
      const head = this.clientHead();
      const h = Buffer.byteLength(head, 'latin1');
      const b = this.ctx.slab.take(h + held[0]!.length);
      b.write(head, 0, 'latin1');
      held[0]!.copy(b, h);
      sock.write(b);
    } else {
      sock.cork();
      if (!this.headWritten) sock.write(this.clientHead(), 'latin1');
      for (const b of held) sock.write(b);
      sock.uncork();
    }
    this.headWritten = true;
    this.conn.exchangeDone(this.keepAlive);
  }

  private wantsBodyUnfinished(): boolean {
    return this.requestBodyReader !== undefined && !this.requestBodyReader.done;
  }

  onUpstreamEnd(): void {
    if (this.reading === Reading.Body && this.responseBody!.delimitedByClose) {
      this.responseBody!.end();
      this.upstreamReusable = false;
      this.complete();
    }
    // otherwise the close that follows reports it
  }

  onUpstreamClose(err: Error | undefined): void {
    this.up = undefined;
    if (this.finished) return;
    // A kept-alive connection the server had closed before our request reached it: one retry on a new
    // connection, for a request without a body (nothing else was sent that could have had an effect).
    if (this.reused && !this.retried && !this.interimSent && this.reading === Reading.Head && !this.rbuf && this.requestBodyReader === undefined) {
      this.retried = true;
      this.reused = false;
      this.startTick = this.seen = this.ctx.clock.tick; // a new connect deadline for the new connection
      const dst = this.dst!;
      this.up = this.ctx.pool.connect(this.key, dst.address, dst.port, this);
      this.up.sock.write(this.head, 'latin1');
      return;
    }
    this.fail(502, err?.message ?? 'upstream closed');
  }

  private badUpstream(code: string): void {
    this.ctx.metrics.drops.inc({ reason: 'bad_upstream' });
    this.ctx.log.debug({ ip: this.conn.ip, url: this.target.url, code }, 'upstream broke HTTP/1.1');
    this.fail(502, code);
  }

  /**
   * The exchange failed: the client gets a 502 page if nothing of the response was sent yet, else its connection
   * is cut (it sees a truncated response, never a complete one); either way an error record.
   */
  private fail(status: number, why: string): void {
    if (!this.abandon()) return;
    const conn = this.conn;
    this.ctx.log.debug({ ip: conn.ip, url: this.target.url, why }, 'exchange failed');
    if (!this.headWritten && !conn.sock.destroyed) {
      this.act.status = status;
      conn.exchangeFailed(status === 400 ? BAD_REQUEST : refusalPage(502, 'Bad gateway', `The site ${this.target.host} could not be reached.`));
    } else conn.exchangeFailed(undefined);
    void this.ctx.emitter.emit(conn.ip, this.session, this.act);
  }

  /** The client went away mid-exchange. */
  clientClosed(): void {
    if (!this.abandon()) return;
    void this.ctx.emitter.emit(this.conn.ip, this.session, this.act);
  }

  /** Ends an unfinished exchange as an error: its upstream connection is closed. False when it had ended already. */
  private abandon(): boolean {
    if (this.finished) return false;
    this.finished = true;
    const up = this.up;
    this.up = undefined;
    up?.discard();
    this.act.verdict = 'error';
    return true;
  }
}
