/**
 * How the cache reaches an origin: one narrow interface, so the proxy can hand it its own dialler (the destination
 * policy applied to the address actually dialled) and tests a loopback server. `HttpOrigin` is the plain node:http
 * implementation; `dial` decides the address, the request keeps the origin's Host.
 */
import { request, type IncomingHttpHeaders } from 'node:http';
import type { Headers } from './policy.ts';

export interface OriginRequest {
  /** the origin's host name (the Host field) and port */
  host: string;
  port: number;
  /** origin-form request target, `/path?query` */
  target: string;
  /** request fields, lower-case names (Range and Accept-Encoding set by the fetcher) */
  headers: Record<string, string>;
}

export interface OriginResponse {
  status: number;
  headers: Headers;
  body: AsyncIterable<Buffer>;
  /** stop receiving (the connection is destroyed) */
  abort(): void;
}

export interface Origin {
  /** `signal` aborts the request, before or after the head arrived */
  fetch(req: OriginRequest, signal: AbortSignal): Promise<OriginResponse>;
}

export type Dial = (host: string, port: number) => Promise<{ address: string; port: number }>;

export function flattenHeaders(h: IncomingHttpHeaders): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(h)) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** An origin reached over HTTP/1.1 with node:http; `dial` maps the host to the address to connect to. */
export class HttpOrigin implements Origin {
  constructor(private readonly dial: Dial) {}

  async fetch(req: OriginRequest, signal: AbortSignal): Promise<OriginResponse> {
    const to = await this.dial(req.host, req.port);
    return new Promise((resolve, reject) => {
      const r = request({
        host: to.address,
        port: to.port,
        method: 'GET',
        path: req.target,
        headers: { ...req.headers, host: req.port === 80 ? req.host : `${req.host}:${req.port}` },
        agent: false,
        signal,
      });
      r.on('response', (res) => resolve({ status: res.statusCode ?? 0, headers: flattenHeaders(res.headers), body: res, abort: () => r.destroy() }));
      r.on('error', reject);
      r.end();
    });
  }
}
