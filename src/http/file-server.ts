import { read, type Stats } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname } from 'node:path';
import { resolveBootPath, type PathRefusal } from './boot-path.ts';
import { parseRange } from './range.ts';
import { sendFileTo } from '../net/sendfile.ts';

/**
 * Content types that select the image type for UEFI HTTP boot (PROTOCOLS.md §2 P11, UEFI 2.10 §24.7.3);
 * `.ipxe` scripts as text. Everything else is opaque.
 */
const CONTENT_TYPES: Record<string, string> = {
  '.efi': 'application/efi',
  '.iso': 'application/vnd.efi-iso',
  '.img': 'application/vnd.efi-img',
  '.ipxe': 'text/plain; charset=utf-8',
};
export function contentTypeFor(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

export interface FileServerOptions {
  /** the boot root (normally the TFTP root) */
  root: string;
  /** read size for streamed files */
  readChunkBytes: number;
  /** buffers per streamed transfer (reads run ahead of the socket by up to this many chunks) */
  readBuffers: number;
  /** large files with sendfile(2) (the addon), falling back to `pump` when the socket cannot take it */
  sendfile?: boolean;
  /** files up to this size are kept in memory (0 disables the cache) */
  smallFileBytes: number;
  /** total memory for cached small files */
  cacheBytes: number;
  /** how long a cached file is served before it is checked again (path, size, mtime, inode) */
  revalidateMs: number;
}

export interface FileOutcome {
  status: number;
  bytes: number;
  /** the request path relative to the root, when it named a file */
  path?: string;
  /** a refused request's reason (metric label) */
  refused?: PathRefusal | 'method';
  /** true when the body was sent to the end (not aborted, not HEAD/304/416) */
  completed: boolean;
}

interface Meta {
  size: number;
  etag: string;
  lastModified: string;
  mtimeMs: number;
  type: string;
}

interface CacheEntry {
  realPath: string;
  relPath: string;
  meta: Meta;
  ino: number;
  data: Buffer;
  checkedAt: number;
}

function metaOf(st: Stats, path: string): Meta {
  const mtimeMs = Math.floor(st.mtimeMs / 1000) * 1000; // HTTP dates have 1 s resolution
  return {
    size: st.size,
    // strong validator from size + mtime (as nginx); a rewrite in place changes mtime
    etag: `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}-${st.ino.toString(16)}"`,
    lastModified: new Date(mtimeMs).toUTCString(),
    mtimeMs,
    type: contentTypeFor(path),
  };
}

export function plain(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  const body = text + '\n';
  res.writeHead(status, { ...extra, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)) }).end(body);
}

/** RFC 9110 §13.1.2: If-None-Match uses the weak comparison; `*` matches any current representation. */
function noneMatch(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === bare);
}

/** RFC 9110 §13.1.5: If-Range needs a strong match on the ETag, or an exact Last-Modified date. */
function ifRangeHolds(header: string, m: Meta): boolean {
  const h = header.trim();
  if (h.startsWith('"') || h.startsWith('W/')) return h === m.etag;
  const t = Date.parse(h);
  return !Number.isNaN(t) && t === m.mtimeMs;
}

/**
 * Copies bytes [start, end] of `fh` to `res` through a few reusable buffers per transfer: one read at a time
 * in libuv's pool while earlier chunks drain to the socket, and a buffer is reused only once the socket has
 * taken it (the write callback). Reusing the memory avoids fs.ReadStream's fresh allocation per chunk, which
 * page-faults every byte of a 1 GiB image. Resolves with the bytes handed to the socket; stops early when the
 * client goes away. A short read (file truncated under us) destroys the response: the client sees a short body.
 */
export function pump(fh: FileHandle, res: ServerResponse, start: number, end: number, chunkBytes: number, nBuffers: number): Promise<number> {
  const fd = fh.fd;
  return new Promise((resolve) => {
    const free: Buffer[] = [];
    for (let i = 0; i < Math.max(1, nBuffers); i++) free.push(Buffer.allocUnsafeSlow(chunkBytes));
    let pos = start;
    let sent = 0;
    let reading = false;
    let done = false;
    let inFlight = 0;
    const finish = (): void => {
      if (done) return;
      done = true;
      res.off('close', onClose);
      resolve(sent);
    };
    const onClose = (): void => finish();
    res.on('close', onClose);
    const next = (): void => {
      if (done || reading) return;
      if (pos > end) {
        if (inFlight === 0 && !res.writableEnded) res.end(() => finish());
        return;
      }
      const buf = free.pop();
      if (!buf) return; // every buffer is queued on the socket; a write callback calls next()
      reading = true;
      const want = Math.min(buf.length, end - pos + 1);
      read(fd, buf, 0, want, pos, (err, n) => {
        reading = false;
        if (done) return;
        if (err || n === 0) {
          res.destroy();
          return finish();
        }
        pos += n;
        sent += n;
        inFlight++;
        res.write(n === buf.length ? buf : buf.subarray(0, n), () => {
          inFlight--;
          free.push(buf);
          next();
        });
        next();
      });
    };
    next();
  });
}

/**
 * Sends bytes [start, end] of `fh` with sendfile(2) (net/sendfile.ts): page cache to socket, no user-space copy.
 * Only when the response's socket is a plain TCP socket with nothing queued in Node (headers flushed and written):
 * otherwise undefined, and the caller uses `pump`. Resolves with the bytes sent; a client that goes away ends it early.
 */
export function sendfileBody(fh: FileHandle, res: ServerResponse, start: number, end: number): Promise<number> | undefined {
  const socket = res.socket;
  if (!socket) return undefined;
  res.flushHeaders();
  const sending = sendFileTo(socket, fh.fd, start, end - start + 1);
  return sending?.then(
    ({ errno, sent }) =>
      new Promise((resolve) => {
        if (errno !== 0) {
          res.destroy();
          return resolve(sent);
        }
        // the body is on the wire; end() completes the response in Node's bookkeeping (keep-alive, 'finish')
        res.end(() => resolve(sent));
      }),
  );
}

/**
 * Serves boot files under one root: GET and HEAD, single byte ranges (206/416), ETag/If-None-Match and
 * If-Modified-Since (304), If-Range. Large files are streamed from an fd opened once per request (the
 * size and validators come from fstat on that fd, so a file swapped mid-request cannot skew them);
 * small hot files (the 4 KiB case) come from memory and are re-checked every `revalidateMs`.
 */
export class BootFileServer {
  private rootReal: string | undefined;
  private readonly cache = new Map<string, CacheEntry>();
  private cachedBytes = 0;

  constructor(private readonly opts: FileServerOptions) {}

  /** Resolves the root; a root that does not exist yet is not an error (it is looked up again per request). */
  async init(): Promise<void> {
    try {
      this.rootReal = await realpath(this.opts.root);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      this.rootReal = undefined;
    }
  }

  clearCache(): void {
    this.cache.clear();
    this.cachedBytes = 0;
  }

  /** `urlPath` is the raw (percent-encoded) path without the query string. */
  async serve(req: IncomingMessage, res: ServerResponse, urlPath: string, now: number): Promise<FileOutcome> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      plain(res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
      return { status: 405, bytes: 0, refused: 'method', completed: false };
    }
    const hit = this.cache.get(urlPath);
    if (hit && now - hit.checkedAt < this.opts.revalidateMs) return this.send(req, res, hit.relPath, hit.meta, hit.data, undefined);

    if (this.rootReal === undefined) await this.init();
    if (this.rootReal === undefined) {
      plain(res, 404, 'not found');
      return { status: 404, bytes: 0, completed: false };
    }
    const r = await resolveBootPath(this.rootReal, urlPath);
    if (!r.ok) {
      plain(res, r.status, r.status === 404 ? 'not found' : r.status === 403 ? 'forbidden' : 'bad request');
      const out: FileOutcome = { status: r.status, bytes: 0, completed: false };
      if (r.reason !== 'not_found') out.refused = r.reason;
      return out;
    }

    let fh: FileHandle;
    try {
      fh = await open(r.realPath, 'r');
    } catch {
      plain(res, 404, 'not found');
      return { status: 404, bytes: 0, completed: false };
    }
    let st: Stats;
    try {
      st = await fh.stat();
    } catch {
      await fh.close();
      plain(res, 404, 'not found');
      return { status: 404, bytes: 0, completed: false };
    }
    if (!st.isFile()) {
      await fh.close();
      plain(res, 404, 'not found');
      return { status: 404, bytes: 0, completed: false };
    }
    const meta = metaOf(st, r.relPath);

    // Cache only under the canonical spelling of the path, so `//a`, `/./a`, `/%61`... cannot multiply entries.
    if (st.size <= this.opts.smallFileBytes && urlPath === '/' + r.relPath && this.fits(st.size, hit)) {
      const data = Buffer.allocUnsafe(st.size);
      let got = 0;
      try {
        while (got < st.size) {
          const { bytesRead } = await fh.read(data, got, st.size - got, got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
      } finally {
        await fh.close();
      }
      if (got !== st.size) {
        res.writeHead(503, { 'Retry-After': '1', 'Content-Length': '0' }).end(); // truncated while we read it
        return { status: 503, bytes: 0, completed: false };
      }
      if (hit) this.cachedBytes -= hit.data.length;
      this.cache.set(urlPath, { realPath: r.realPath, relPath: r.relPath, meta, ino: st.ino, data, checkedAt: now });
      this.cachedBytes += data.length;
      return this.send(req, res, r.relPath, meta, data, undefined);
    }
    if (hit) {
      this.cache.delete(urlPath);
      this.cachedBytes -= hit.data.length;
    }
    return this.send(req, res, r.relPath, meta, undefined, fh);
  }

  private fits(size: number, replacing: CacheEntry | undefined): boolean {
    const free = this.opts.cacheBytes - this.cachedBytes + (replacing?.data.length ?? 0);
    return size <= free;
  }

  private send(
    req: IncomingMessage,
    res: ServerResponse,
    relPath: string,
    m: Meta,
    data: Buffer | undefined,
    fh: FileHandle | undefined,
  ): Promise<FileOutcome> {
    const release = (): void => {
      if (fh) void fh.close().catch(() => undefined);
    };
    const base = { ETag: m.etag, 'Last-Modified': m.lastModified, 'Accept-Ranges': 'bytes' };

    // Conditional requests (RFC 9110 §13.2.2 order): If-None-Match, else If-Modified-Since → 304.
    const inm = req.headers['if-none-match'];
    const ims = req.headers['if-modified-since'];
    const notModified =
      inm !== undefined ? noneMatch(inm, m.etag) : ims !== undefined && !Number.isNaN(Date.parse(ims)) && m.mtimeMs <= Date.parse(ims);
    if (notModified) {
      release();
      res.writeHead(304, base).end();
      return Promise.resolve({ status: 304, bytes: 0, path: relPath, completed: false });
    }

    const ifRangeRaw = req.headers['if-range'];
    const ifRange = Array.isArray(ifRangeRaw) ? ifRangeRaw[0] : ifRangeRaw;
    const range = ifRange !== undefined && !ifRangeHolds(ifRange, m) ? { kind: 'none' as const } : parseRange(req.headers.range, m.size);
    if (range.kind === 'unsatisfiable') {
      release();
      res.writeHead(416, { ...base, 'Content-Range': `bytes */${m.size}`, 'Content-Length': '0' }).end();
      return Promise.resolve({ status: 416, bytes: 0, path: relPath, completed: false });
    }
    const start = range.kind === 'range' ? range.start : 0;
    const end = range.kind === 'range' ? range.end : m.size - 1;
    const length = m.size === 0 ? 0 : end - start + 1;
    const status = range.kind === 'range' ? 206 : 200;
    const headers: Record<string, string> = { ...base, 'Content-Type': m.type, 'Content-Length': String(length) };
    if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${m.size}`;
    res.writeHead(status, headers);

    if (req.method === 'HEAD' || length === 0) {
      release();
      res.end();
      return Promise.resolve({ status, bytes: 0, path: relPath, completed: req.method !== 'HEAD' });
    }
    if (data) {
      res.end(start === 0 && length === data.length ? data : data.subarray(start, end + 1));
      return new Promise((resolve) => {
        const done = (): void => resolve({ status, bytes: res.writableFinished ? length : 0, path: relPath, completed: res.writableFinished });
        if (res.writableFinished) done();
        else res.once('close', done);
      });
    }
    // Stream from the fd, never the whole file in memory: sendfile(2) when possible, else pump()
    const body =
      (this.opts.sendfile && sendfileBody(fh!, res, start, end)) || pump(fh!, res, start, end, this.opts.readChunkBytes, this.opts.readBuffers);
    return body.then((sent) => {
      void fh!.close().catch(() => undefined);
      const completed = sent === length && res.writableFinished;
      return { status, bytes: sent, path: relPath, completed };
    });
  }
}
