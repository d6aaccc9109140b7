/**
 * A response answered by the edge cache (src/cache, docs/cache.md) instead of an upstream connection: the head built
 * from the object's kept fields, the body streamed from slices with the client's backpressure, and — as for a relayed
 * response (exchange.ts) — the bytes that complete it held back until the audit record is committed.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { CacheDecision, CacheRequest, CacheResponse } from '../../cache/edge-cache.ts';
import { partBytes, type FilePart } from '../../cache/fetcher.ts';
import { sendFileTo } from '../../net/sendfile.ts';
import type { Delivery } from '../../cache/stats.ts';
import { BootgateError } from '../../errors.ts';
import type { RequestHead } from './http1-head.ts';

/** The cache as the proxy uses it (EdgeCache). */
export interface ProxyCache {
  classify(req: CacheRequest): CacheDecision;
  serve(req: CacheRequest, d: Extract<CacheDecision, { cache: true }>): Promise<CacheResponse>;
  serviceOf(host: string): string | undefined;
  /** a cache domain or configured origin (cache mode serves only these) */
  handles(host: string): boolean;
  readonly stats: { delivered(d: Delivery): void };
}

/** Errors `serve` rejects with before any byte that mean "relay this request uncached" (docs/cache.md). */
export function passThrough(e: unknown): e is BootgateError {
  return e instanceof BootgateError && (e.code === 'CACHE_BYPASS' || e.code === 'CACHE_ORIGIN' || e.code === 'CACHE_ORIGIN_CHANGED');
}

/** The request's fields as the cache reads them: lower-case names, repeated fields joined (RFC 9110 §5.3). */
export function cacheHeaders(head: RequestHead): Record<string, string> {
  const out: Record<string, string> = {};
  const f = head.fields;
  for (let i = 0; i < f.length; i += 2) {
    const k = f[i]!.toLowerCase();
    out[k] = out[k] === undefined ? f[i + 1]! : `${out[k]}, ${f[i + 1]!}`;
  }
  return out;
}

/** The status line and fields of a cached response (without the blank line). */
export function cachedHead(res: CacheResponse, keepAlive: boolean): string {
  let h = `HTTP/1.1 ${res.status} ${STATUS_CODES[res.status] ?? ''}\r\n`;
  for (const [k, v] of Object.entries(res.headers)) h += `${k}: ${v}\r\n`;
  return `${h}Via: 1.1 bootgate\r\n${keepAlive ? '' : 'Connection: close\r\n'}\r\n`;
}

/** Resolves when `sock` can take more (drain) or is gone (close); true if it can. */
export function writable(sock: Socket): Promise<boolean> {
  if (sock.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => () => {
      sock.off('drain', onDrain);
      sock.off('close', onClose);
      resolve(ok);
    };
    const onDrain = done(true);
    const onClose = done(false);
    sock.once('drain', onDrain);
    sock.once('close', onClose);
  });
}

/** The completing bytes of a response that ends in a stored slice file: read into memory and written once the record is committed. */
export const HELD_BYTES = 16 * 1024;

/** Writes head text (latin1) or body bytes; false when the socket wants a drain first. */
export function writeOut(sock: Socket, data: Buffer | string): boolean {
  return typeof data === 'string' ? sock.write(data, 'latin1') : sock.write(data);
}

/** Writes `data` and resolves once Node has handed it (and everything before it) to the kernel; false if the socket failed. */
function flushed(sock: Socket, data: Buffer | string): Promise<boolean> {
  if (sock.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const cb = (err?: Error | null): void => resolve(!err);
    if (typeof data === 'string') sock.write(data, 'latin1', cb);
    else sock.write(data, cb);
  });
}

/**
 * `before` (the head, or the buffered bytes held so far), then a part of a stored slice file: with sendfile(2) from
 * the page cache once Node's queue is empty (net/sendfile.ts), else read and written from userland with
 * backpressure. Resolves false when the client went away (or the file was cut short under the cache).
 */
export async function sendStored(sock: Socket, before: Buffer | string | undefined, part: FilePart): Promise<boolean> {
  if (before !== undefined && !(await flushed(sock, before))) return false;
  if (part.length === 0) return !sock.destroyed;
  const sending = sendFileTo(sock, part.fd, part.offset, part.length);
  if (sending) return (await sending).errno === 0;
  return writeOut(sock, await partBytes(part)) || writable(sock);
}
