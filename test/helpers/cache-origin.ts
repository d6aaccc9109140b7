/** A loopback origin for the edge cache's tests: one deterministic object, single-Range support, every request counted. */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** `n` bytes from a xorshift32 stream seeded by `seed`: the same bytes every run. */
export function deterministicBytes(n: number, seed = 0x9e3779b9): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

export interface OriginOptions {
  /** answer every request 200 with the whole body (an origin that ignores Range) */
  ignoreRange?: boolean;
  etag?: string;
  lastModified?: string;
  cacheControl?: string;
  /** send Content-MD5 of the part; `corrupt` sends a wrong one */
  md5?: 'right' | 'corrupt';
  /** body written in pieces of this size with a pause between them (so fetches overlap) */
  chunkBytes?: number;
  chunkDelayMs?: number;
  /** answer every request with this status and no body */
  status?: number;
  /** send the head and then nothing (a stalled origin) */
  stall?: boolean;
  /** extra response fields */
  headers?: Record<string, string>;
}

export interface RecordedRequest {
  path: string;
  range: string | undefined;
  headers: IncomingMessage['headers'];
}

export class TestOrigin {
  readonly requests: RecordedRequest[] = [];
  bytesSent = 0;
  private server: Server | undefined;
  port = 0;

  constructor(
    public body: Buffer,
    public opts: OriginOptions = {},
  ) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const range = req.headers.range;
    this.requests.push({ path: req.url ?? '', range, headers: req.headers });
    const o = this.opts;
    const total = this.body.length;
    if (o.status !== undefined) {
      res.writeHead(o.status, { 'content-length': '0' }).end();
      return;
    }
    if (o.etag !== undefined && req.headers['if-none-match'] === o.etag) {
      res.writeHead(304, { etag: o.etag, ...(o.cacheControl ? { 'cache-control': o.cacheControl } : {}) }).end();
      return;
    }
    let first = 0;
    let last = total - 1;
    let status = 200;
    const m = /^bytes=(\d+)-(\d*)$/.exec(range ?? '');
    if (m && !o.ignoreRange) {
      first = Number(m[1]);
      last = m[2] === '' ? total - 1 : Math.min(Number(m[2]), total - 1);
      if (first >= total) {
        res.writeHead(416, { 'content-range': `bytes */${total}` }).end();
        return;
      }
      status = 206;
    }
    const part = this.body.subarray(first, last + 1);
    const h: Record<string, string> = { 'content-type': 'application/octet-stream', 'content-length': String(part.length), ...o.headers };
    if (status === 206) h['content-range'] = `bytes ${first}-${last}/${total}`;
    if (o.etag) h['etag'] = o.etag;
    if (o.lastModified) h['last-modified'] = o.lastModified;
    if (o.cacheControl) h['cache-control'] = o.cacheControl;
    if (o.md5)
      h['content-md5'] = createHash('md5')
        .update(o.md5 === 'right' ? part : Buffer.from('x'))
        .digest('base64');
    res.writeHead(status, h);
    if (o.stall) {
      res.flushHeaders();
      return;
    }
    const step = o.chunkBytes ?? part.length;
    for (let off = 0; off < part.length; off += step) {
      const piece = part.subarray(off, off + step);
      this.bytesSent += piece.length;
      if (!res.write(piece)) await new Promise((r) => res.once('drain', r));
      if (o.chunkDelayMs) await new Promise((r) => setTimeout(r, o.chunkDelayMs));
    }
    res.end();
  }
}
