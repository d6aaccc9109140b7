/**
 * One terminal's connection to the proxy: request heads read off its socket (RFC 9112 §2–5, http1-head.ts), one
 * exchange at a time (pipelined requests wait), keep-alive (RFC 9112 §9.3), and the pages of refused or broken
 * requests. A CONNECT hands the socket to a tunnel (tunnel.ts); an exchange that switched protocols, to its
 * spliced connection.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { DecodeError } from '../../wire/decode-error.ts';
import { appendBytes } from './append-bytes.ts';
import type { Deadlines, ProxyContext } from './context.ts';
import { Exchange, type ExchangeClient } from './exchange.ts';
import { refusalPage } from './headers.ts';
import { FramingError, requestFraming, type Framing } from './http1-body.ts';
import { MAX_HEAD_BYTES, fieldValues, headEnd, listTokens, parseRequestHead, skipEmptyLines, type RequestHead } from './http1-head.ts';
import type { Dialled } from './original-destination.ts';
import type { SeatSession } from '../seats-and-audit.ts';
import { BAD_REQUEST, BAD_TARGET, MISDIRECTED, NO_SESSION, pageHeaders, reset, type Page } from './refusals.ts';
import { requestTarget, type Target } from './target.ts';
import { connectTunnel, type UpgradedConnection } from './tunnel.ts';

/** The part of an exchange's life the client connection is in. */
const enum Phase {
  /** waiting for (more of) a request head */
  Head,
  /** a request is being relayed */
  Exchange,
  /** handed to a CONNECT tunnel */
  Tunnel,
  /** the exchange switched protocols (101): bytes go both ways through it unparsed */
  Upgraded,
  /** a final response is written or being written; nothing more is read */
  Closing,
}

/**
 * One client connection: reads request heads, runs one exchange at a time (pipelined requests wait in `buf`),
 * and goes back to reading heads when a response is complete and kept alive.
 */
export class ClientConnection implements ExchangeClient {
  private phase = Phase.Head;
  /** client bytes not consumed yet (a partial head, or pipelined requests) */
  buf: Buffer | undefined;
  private scanned = 0;
  /** tick of the last client activity, and of the first byte of the head being read */
  private seen: number;
  private headSince = -1;
  private ex: Exchange | undefined;
  /** the exchange switched protocols (101): the spliced connection */
  private tunnel: UpgradedConnection | undefined;
  /** the client half-closed: no more requests; close once the current response is out */
  clientEnded = false;

  constructor(
    private readonly ctx: ProxyContext,
    readonly sock: Socket,
    readonly ip: string,
    /** transparent mode: where the client's connection was going (null: nowhere known); explicit: undefined */
    readonly dialled: Dialled | null | undefined,
  ) {
    this.seen = ctx.clock.tick;
    sock.on('data', (c: Buffer) => this.onData(c));
    sock.on('end', () => this.onEnd());
    sock.on('error', () => sock.destroy());
    sock.on('close', () => (this.tunnel ?? this.ex)?.clientClosed());
  }

  checkDeadlines(now: number, d: Deadlines): void {
    if (this.tunnel) return this.tunnel.checkDeadlines(now, d);
    if (this.ex) return this.ex.checkDeadlines(now, d);
    if (this.phase !== Phase.Head) return;
    if (this.buf ? now - this.headSince > d.headers : now - this.seen > d.keepAlive) this.sock.destroy();
  }

  private onData(chunk: Buffer): void {
    this.seen = this.ctx.clock.tick;
    if (this.phase === Phase.Upgraded) return this.tunnel!.fromClient(chunk);
    if (this.phase === Phase.Exchange && this.ex!.wantsBody()) {
      const used = this.ex!.requestBody(chunk);
      if (used === chunk.length) return;
      chunk = chunk.subarray(used);
    }
    if (this.phase === Phase.Closing || this.phase === Phase.Tunnel) return;
    if (this.buf === undefined) {
      this.buf = chunk;
      this.headSince = this.seen;
    } else this.buf = appendBytes(this.buf, chunk);
    if (this.phase === Phase.Head) this.nextRequest();
    else if (this.buf.length > MAX_HEAD_BYTES) this.sock.pause(); // pipelined: wait for the current exchange
  }

  private onEnd(): void {
    this.clientEnded = true;
    if (this.phase === Phase.Upgraded) return this.tunnel!.clientEnd();
    // the client's FIN in the middle of its request body: the body can never be complete, so the exchange fails
    // now (400, error record) instead of waiting for the idle deadline with a half-sent request upstream
    if (this.phase === Phase.Exchange && this.ex!.wantsBody()) return this.ex!.bodyCutByClient();
    if (this.phase === Phase.Head && !this.ex) this.sock.end();
  }

  /** Parses the next request head in `buf`, if it is complete, and starts its exchange. */
  private nextRequest(): void {
    const buf = this.buf;
    if (!buf) return;
    const start = skipEmptyLines(buf, 0);
    let head: RequestHead;
    let end: number;
    try {
      end = headEnd(buf, start, this.scanned);
      if (end < 0) {
        this.scanned = buf.length;
        return;
      }
      head = parseRequestHead(buf, start, end);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      this.ctx.metrics.drops.inc({ reason: 'bad_request' });
      this.ctx.log.debug({ ip: this.ip, code: e.code, offset: e.offset }, 'bad request');
      return this.refuse(
        e.code === 'head_too_large' ? refusalPage(431, 'Request header fields too large', 'The request head is too large.') : BAD_REQUEST,
      );
    }
    this.scanned = 0;
    this.buf = end < buf.length ? buf.subarray(end) : undefined;
    if (this.buf) this.headSince = this.ctx.clock.tick;
    if (head.method === 'CONNECT' && this.ctx.reverse) return this.refuse(BAD_TARGET);
    if (head.method === 'CONNECT') {
      this.phase = Phase.Tunnel;
      const rest = this.buf;
      this.buf = undefined;
      this.sock.removeAllListeners('data'); // the tunnel pipes the socket from here on
      this.sock.removeAllListeners('end');
      this.sock.pause();
      return connectTunnel(this.ctx, this, head, rest);
    }
    this.request(head);
  }

  /** The seat and the target of a request: from the reverse router, else an open session and the request-target. */
  private route(head: RequestHead): { session: SeatSession | undefined; target: Target } | undefined {
    const ctx = this.ctx;
    if (ctx.reverse) {
      const r = ctx.reverse(this.ip, head);
      if ('page' in r) {
        this.refuse(r.page);
        return undefined;
      }
      return r;
    }
    const session = ctx.seats.lookupByIp(this.ip);
    if (!session) {
      ctx.metrics.drops.inc({ reason: 'no_session' });
      ctx.log.debug({ ip: this.ip, url: head.target }, 'refused: no open session');
      this.refuse(NO_SESSION);
      return undefined;
    }
    const target = requestTarget(head, ctx.options.mode);
    if (!target) {
      ctx.metrics.drops.inc({ reason: 'bad_target' });
      this.refuse(BAD_TARGET);
      return undefined;
    }
    if (ctx.options.mode === 'cache' && !ctx.cache?.handles(target.host)) {
      ctx.metrics.drops.inc({ reason: 'not_a_cache_domain' });
      this.refuse(MISDIRECTED);
      return undefined;
    }
    return { session, target };
  }

  private request(head: RequestHead): void {
    const ctx = this.ctx;
    const routed = this.route(head);
    if (!routed) return;
    const { session, target } = routed;
    let framing: Framing;
    try {
      framing = requestFraming(head);
    } catch (e) {
      if (!(e instanceof FramingError)) throw e;
      ctx.metrics.drops.inc({ reason: 'bad_request' });
      return this.refuse(refusalPage(e.status, STATUS_CODES[e.status] ?? 'Bad request', e.message));
    }
    // RFC 9112 §9.3: HTTP/1.1 persists unless "close"; an HTTP/1.0 client gets its response and the close.
    const options = listTokens(fieldValues(head.fields, 'connection'));
    const keepAlive = head.minor === 1 && !options.includes('close');
    // RFC 9110 §7.8: an HTTP/1.1 client asks to switch protocols (WebSocket, RFC 6455 §4.1) with Upgrade and the
    // "upgrade" connection option; both are hop-by-hop, so the proxy asks the next hop itself. Only for a request
    // without a body: after a 101 every byte belongs to the new protocol, and a body could not be told from it.
    const upgrade = head.minor === 1 && framing.type === 'none' && options.includes('upgrade') ? listTokens(fieldValues(head.fields, 'upgrade')) : [];
    this.phase = Phase.Exchange;
    this.ex = new Exchange(this.ctx, this, session, head, target, framing, keepAlive, upgrade);
    this.ex.begin();
    // bytes after the head are the start of the body (or, for a body-less request, pipelined requests)
    if (this.buf && this.ex.wantsBody()) {
      const b = this.buf;
      this.buf = undefined;
      const used = this.ex.requestBody(b);
      if (used < b.length) this.buf = b.subarray(used);
    }
  }

  /** A refusal page, then the connection closes. */
  refuse(page: Page, reason = STATUS_CODES[page.status] ?? ''): void {
    this.phase = Phase.Closing;
    this.buf = undefined;
    this.sock.end(
      `HTTP/1.1 ${page.status} ${reason}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(page.body)}\r\n` +
        `${pageHeaders(page)}cache-control: no-store\r\nconnection: close\r\n\r\n${page.body}`,
    );
    this.closeGracefully();
  }

  /**
   * After our FIN, a client that never closes its side (or sent a body we did not read) cannot hold the socket. A
   * socket paused for backpressure or for a tunnel is resumed: what the client still sends is discarded (nothing
   * reads it any more) and its FIN is seen, so the socket closes as soon as the client has closed too.
   */
  closeGracefully(): void {
    if (this.sock.isPaused()) this.sock.resume();
    this.sock.setTimeout(this.ctx.options.keepAliveTimeoutMs ?? 5000, () => this.sock.destroy());
  }

  /**
   * The exchange failed: a refusal page if none of the response was sent, else the connection is cut — with a
   * reset, not a FIN: after a response delimited by the close (no framing from upstream, or de-chunked for an
   * HTTP/1.0 client) a FIN would make the truncated response look complete.
   */
  exchangeFailed(page: Page | undefined): void {
    this.ex = undefined;
    if (page) this.refuse(page);
    else {
      this.phase = Phase.Closing;
      reset(this.sock);
    }
  }

  /** The exchange is over and its response, if kept alive, fully written: read the next request. */
  exchangeDone(keepAlive: boolean): void {
    this.ex = undefined;
    // A client that half-closed still gets the answers to the requests it sent before its FIN (pipelined, in `buf`):
    // they were received, and dropping them would leave them without a response and without a record.
    if (!keepAlive || this.sock.destroyed || (this.clientEnded && !this.buf)) return this.endAfterResponse();
    this.phase = Phase.Head;
    this.seen = this.ctx.clock.tick;
    if (this.sock.isPaused()) this.sock.resume();
    if (this.buf) {
      this.headSince = this.ctx.clock.tick;
      this.nextRequest();
    }
    // after the client's FIN, a head that is still incomplete never will be
    if (this.clientEnded && this.phase === Phase.Head && !this.ex) this.endAfterResponse();
  }

  /** The exchange switched protocols: what the client sent after its request goes to the server as it is. */
  upgraded(tunnel: UpgradedConnection): void {
    this.ex = undefined;
    this.tunnel = tunnel;
    this.phase = Phase.Upgraded;
    const b = this.buf;
    this.buf = undefined;
    if (b) tunnel.fromClient(b);
    if (this.clientEnded) tunnel.clientEnd();
  }

  /** The upgraded connection's server side is gone: the client gets what is still queued, then the close. */
  tunnelClosed(): void {
    this.tunnel = undefined;
    this.endAfterResponse();
  }

  private endAfterResponse(): void {
    this.phase = Phase.Closing;
    this.buf = undefined;
    this.sock.end();
    this.closeGracefully();
  }
}
