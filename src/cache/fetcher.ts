/**
 * Slices from the store or from the origin, with request coalescing: at most one origin fetch per slice is in
 * flight, however many readers want it; readers that come while it is in flight join it (fill.ts) and get the bytes
 * as they arrive. A fill leaves the in-flight table only after its slice was stored (or failed to be), so a reader
 * always finds a slice in one of the two.
 *
 * The origin is asked with `Range: bytes=<slice>` (RFC 9110 §14.2) and `Accept-Encoding: identity` (one
 * representation per key). A 206 must carry exactly the slice in Content-Range (§14.4). An origin that ignores
 * Range answers 200 with the whole body: then that one response fills every slice of the object not already stored
 * or in flight, in order, and the bytes of the others are skipped.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { BootgateError } from '../errors.ts';
import type { CacheConfig } from './config.ts';
import { SliceFill } from './fill.ts';
import type { CacheKey } from './key.ts';
import type { CacheMetrics } from './metrics.ts';
import type { CacheStats } from './stats.ts';
import { keptHeaders, type ObjectMeta } from './object-meta.ts';
import type { Origin, OriginRequest, OriginResponse } from './origin.ts';
import { expiresAt, responseVerdict, type Headers } from './policy.ts';
import { readAt, type SliceStore } from './store.ts';

export interface CacheClock {
  now(): number;
  timers: { set(fn: () => void, ms: number): unknown; clear(h: unknown): void };
}

/** Where a request's object lives upstream, and the request fields the fetcher forwards. */
export interface OriginTarget {
  key: CacheKey;
  host: string;
  port: number;
  target: string;
  /** forwarded to the origin (user-agent; authorization when allowed) */
  headers: Record<string, string>;
}

export type SliceSource = 'store' | 'origin' | 'coalesced';

/**
 * Bytes [offset, offset+length) of a verified slice file, left in the page cache for the proxy to send with
 * sendfile(2). The descriptor is held until the iterator that yielded it is resumed (or returned): send the part
 * before asking for the next one.
 */
export interface FilePart {
  fd: number;
  offset: number;
  length: number;
}

/** A piece of a response body: bytes in memory (from the origin, or a slice hashed now) or a part of a slice file. */
export type BodyPart = Buffer | FilePart;

/** The part's bytes in memory (a file part is read). */
export async function partBytes(p: BodyPart): Promise<Buffer> {
  if (Buffer.isBuffer(p)) return p;
  const buf = await readAt(p.fd, p.offset, p.length);
  if (buf.length !== p.length) throw new BootgateError('CACHE_STORE', 'cache slice file shorter than its journal entry');
  return buf;
}

export interface SliceRead {
  meta: ObjectMeta;
  source: SliceSource;
  chunks: Iterable<BodyPart> | AsyncIterable<BodyPart>;
  /** frees what the read holds (a slice file's reference) when its chunks will not be read to the end */
  release(): void;
}

/** A slice file as one part; its reference is released once the part was taken, the reader stopped, or release(). */
function fileRead(meta: ObjectMeta, source: SliceSource, fd: number, bytes: number, release: () => void): SliceRead {
  async function* chunks(): AsyncGenerator<FilePart> {
    try {
      yield { fd, offset: 0, length: bytes };
    } finally {
      release();
    }
  }
  return { meta, source, chunks: chunks(), release };
}

const nothing = (): void => {};

export interface SliceFetcherDeps {
  config: Pick<CacheConfig, 'sliceBytes' | 'heuristicFreshSeconds' | 'heuristicMaxSeconds' | 'originTimeoutMs'>;
  store: SliceStore;
  origin: Origin;
  clock: CacheClock;
  metrics: CacheMetrics;
  log: Logger;
  /** per-service counters for the API (origin bytes as they arrive) */
  stats?: CacheStats;
}

/** finished slices of one origin response that may wait for the disk before reading from the origin pauses */
const MAX_PENDING_WRITES = 4;

const fillKey = (id: string, index: number): string => `${id}.${index}`;

/** Content-Range: bytes first-last/complete (RFC 9110 §14.4) */
function contentRange(v: string | undefined): { first: number; last: number; total: number } | undefined {
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+)\s*$/i.exec(v ?? '');
  return m ? { first: Number(m[1]), last: Number(m[2]), total: Number(m[3]) } : undefined;
}

/** The digest the origin sent for this response's content, if one we check: Content-MD5 (RFC 1864) or Content-Digest (RFC 9530). */
export function contentDigest(h: Headers): { algorithm: 'md5' | 'sha256' | 'sha512'; base64: string } | undefined {
  const cd = /(?:^|,)\s*(sha-256|sha-512)\s*=\s*:([A-Za-z0-9+/=]+):/i.exec(h['content-digest'] ?? '');
  if (cd) return { algorithm: cd[1]!.toLowerCase() === 'sha-256' ? 'sha256' : 'sha512', base64: cd[2]! };
  const md5 = h['content-md5']?.trim();
  return md5 ? { algorithm: 'md5', base64: md5 } : undefined;
}

export class SliceFetcher {
  private readonly inflight = new Map<string, SliceFill>();

  constructor(private readonly deps: SliceFetcherDeps) {}

  /** slice fetches in flight (tests, stats) */
  get fetching(): number {
    return this.inflight.size;
  }

  /**
   * Slice `index` of the object: from the store, joined to a fetch in flight, or fetched. `meta` is what the caller
   * knows of the object (undefined: learn it from the origin). Rejects with CACHE_BYPASS / CACHE_ORIGIN /
   * CACHE_ORIGIN_CHANGED before any byte when the slice cannot come from the cache; the chunks may throw later
   * (CACHE_DIGEST, CACHE_ORIGIN: cut mid-slice).
   */
  async slice(t: OriginTarget, index: number, meta: ObjectMeta | undefined): Promise<SliceRead> {
    const { store, metrics } = this.deps;
    const svc = t.key.service;
    if (meta && store.has(t.key.id, index)) {
      const got = await store.openSlice(t.key.id, index);
      if (got) {
        metrics.hits.inc({ service: svc });
        return 'data' in got
          ? { meta, source: 'store', chunks: [got.data], release: nothing }
          : fileRead(meta, 'store', got.fd, got.bytes, got.release);
      }
    }
    const joined = this.inflight.get(fillKey(t.key.id, index));
    if (joined) {
      // a slice that had arrived whole before this reader came is in the cache already (its write to disk pending):
      // a hit from the store's point of view, not a reader joined to a fetch
      const source: SliceSource = joined.finished ? 'store' : 'coalesced';
      joined.readers++;
      (source === 'store' ? metrics.hits : metrics.coalesced).inc({ service: svc });
      // nginx's proxy_cache_lock, without its polling: a reader that joins waits for the whole slice in its file
      // (written, not yet durable) and sends it from the page cache; the reader that started the fetch streams it as
      // it arrives, and so do joiners when the store could not take it
      const meta = await joined.ready;
      await joined.written;
      const release = joined.file?.acquire();
      if (release) return fileRead(meta, source, joined.file!.fd, joined.bytes, release);
      return { meta, source, chunks: joined.read(), release: nothing };
    }
    metrics.misses.inc({ service: svc });
    const fill = this.register(t.key.id, index);
    fill.readers++;
    void this.fetch(t, fill, meta);
    return { meta: await fill.ready, source: 'origin', chunks: fill.read(), release: nothing };
  }

  private readonly revalidating = new Map<string, Promise<ObjectMeta | undefined>>();

  /**
   * A stale object's validation (RFC 9111 §4.3): one conditional `GET` (If-None-Match / If-Modified-Since, with
   * `Range: bytes=0-0` so a changed object costs one byte) per object however many readers ask. A 304 refreshes
   * the stored metadata's expiry (§4.3.4) and the slices are used as they are; anything else returns undefined and
   * the caller purges the object. Objects without validators cannot be validated (undefined).
   */
  revalidate(t: OriginTarget, meta: ObjectMeta): Promise<ObjectMeta | undefined> {
    if (meta.etag === undefined && meta.lastModified === undefined) return Promise.resolve(undefined);
    const running = this.revalidating.get(meta.id);
    if (running) return running;
    const p = this.conditional(t, meta).finally(() => this.revalidating.delete(meta.id));
    this.revalidating.set(meta.id, p);
    return p;
  }

  private async conditional(t: OriginTarget, meta: ObjectMeta): Promise<ObjectMeta | undefined> {
    const { origin, metrics, clock, config } = this.deps;
    const headers: Record<string, string> = { ...t.headers, range: 'bytes=0-0', 'accept-encoding': 'identity' };
    if (meta.etag !== undefined) headers['if-none-match'] = meta.etag;
    if (meta.lastModified !== undefined) headers['if-modified-since'] = meta.lastModified;
    const abort = new AbortController();
    const timer = clock.timers.set(() => abort.abort(), config.originTimeoutMs);
    metrics.originRequests.inc({ service: t.key.service });
    try {
      const res = await origin.fetch({ host: t.host, port: t.port, target: t.target, headers }, abort.signal);
      res.abort(); // the body (if any) is not used
      if (res.status !== 304) return undefined;
      const etag = res.headers['etag'];
      if (etag !== undefined && etag !== meta.etag) return undefined;
      const now = clock.now();
      // §4.3.4: the stored fields are updated from the 304's
      const merged = {
        ...meta.headers,
        ...Object.fromEntries(['cache-control', 'expires'].flatMap((k) => (res.headers[k] !== undefined ? [[k, res.headers[k]!]] : []))),
      };
      const fresh: ObjectMeta = {
        ...meta,
        headers: merged,
        storedAt: now,
        expiresAt: expiresAt({ ...merged, date: res.headers['date'], age: res.headers['age'] }, now, config),
      };
      await this.deps.store.putObject(fresh);
      return fresh;
    } catch {
      metrics.originFailures.inc({ reason: 'revalidate' });
      return undefined;
    } finally {
      clock.timers.clear(timer);
    }
  }

  private register(id: string, index: number): SliceFill {
    const f = new SliceFill(id, index);
    this.inflight.set(fillKey(id, index), f);
    this.deps.metrics.inflight.set(this.inflight.size);
    return f;
  }

  private unregister(f: SliceFill): void {
    if (this.inflight.get(fillKey(f.id, f.index)) === f) this.inflight.delete(fillKey(f.id, f.index));
    this.deps.metrics.inflight.set(this.inflight.size);
  }

  private async fetch(t: OriginTarget, fill: SliceFill, known: ObjectMeta | undefined): Promise<void> {
    const { config, origin, metrics, log } = this.deps;
    const S = config.sliceBytes;
    const first = fill.index * S;
    const req: OriginRequest = {
      host: t.host,
      port: t.port,
      target: t.target,
      headers: { ...t.headers, range: `bytes=${first}-${first + S - 1}`, 'accept-encoding': 'identity' },
    };
    metrics.originRequests.inc({ service: t.key.service });
    let res: OriginResponse | undefined;
    let fills: (SliceFill | undefined)[] = [fill];
    let idle: unknown;
    const abort = new AbortController();
    const fail = (e: Error): void => {
      for (const f of fills) f?.fail(e);
      for (const f of fills) if (f?.failed) this.unregister(f); // a finished one leaves the table when it is stored
    };
    const arm = (): void => {
      this.deps.clock.timers.clear(idle);
      idle = this.deps.clock.timers.set(() => {
        abort.abort();
        res?.abort();
        metrics.originFailures.inc({ reason: 'timeout' });
        fail(new BootgateError('CACHE_ORIGIN', `origin ${t.host} sent nothing for ${config.originTimeoutMs} ms`));
      }, config.originTimeoutMs);
    };
    try {
      arm();
      res = await origin.fetch(req, abort.signal);
      const meta = await this.accept(t, fill.index, res, known);
      // a 200 is the whole object: it fills every slice not already stored or in flight
      let base = first;
      if (res.status === 200) {
        const n = Math.ceil(meta.totalBytes / S);
        fills = [];
        for (let i = 0; i < n; i++) {
          if (i === fill.index) fills.push(fill);
          else if (this.deps.store.has(t.key.id, i) || this.inflight.has(fillKey(t.key.id, i))) fills.push(undefined);
          else fills.push(this.register(t.key.id, i));
        }
        base = 0;
      }
      for (const f of fills) f?.accept(meta);
      const digest = contentDigest(res.headers);
      const checkDigest = digest !== undefined && (res.status === 206 || fills.length === 1);
      const expectedEnd = res.status === 206 ? Math.min(first + S, meta.totalBytes) : meta.totalBytes;
      const pending: Promise<void>[] = [];
      let pos = base; // object offset of the next byte received
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        arm();
        metrics.originBytes.inc({ service: t.key.service }, chunk.length);
        this.deps.stats?.origin(t.key.service, chunk.length);
        if (pos + chunk.length > expectedEnd)
          throw new BootgateError('CACHE_ORIGIN', `origin ${t.host} sent more than ${res.status === 206 ? 'the slice' : 'its Content-Length'}`);
        let off = 0;
        while (off < chunk.length) {
          const i = Math.floor(pos / S);
          const end = Math.min((i + 1) * S, meta.totalBytes);
          const take = Math.min(chunk.length - off, end - pos);
          const f = fills[res.status === 206 ? 0 : i];
          f?.push(chunk.subarray(off, off + take));
          off += take;
          pos += take;
          if (pos === end && f) {
            pending.push(this.complete(t, f, i, checkDigest ? digest : undefined));
            // a whole-body 200 of a large object must not outrun the disk: at most a few finished slices wait in memory
            if (pending.length > MAX_PENDING_WRITES) await pending.shift();
          }
        }
      }
      if (pos !== expectedEnd) throw new BootgateError('CACHE_ORIGIN', `origin ${t.host} ended the body at ${pos} of ${expectedEnd}`);
    } catch (e) {
      res?.abort();
      const err = e instanceof BootgateError ? e : new BootgateError('CACHE_ORIGIN', `origin ${t.host}: ${(e as Error).message}`, { cause: e });
      if (err.code !== 'CACHE_BYPASS') metrics.originFailures.inc({ reason: err.code });
      log.debug({ host: t.host, target: t.target, slice: fill.index, code: err.code }, err.message);
      fail(err);
    } finally {
      this.deps.clock.timers.clear(idle);
    }
  }

  /** The origin's head: checked, and turned into the object's metadata (recorded when new). */
  private async accept(t: OriginTarget, index: number, res: OriginResponse, known: ObjectMeta | undefined): Promise<ObjectMeta> {
    const S = this.deps.config.sliceBytes;
    const h = res.headers;
    if (res.status !== 200 && res.status !== 206) {
      if (res.status >= 500) throw new BootgateError('CACHE_ORIGIN', `origin ${t.host} answered ${res.status}`);
      throw new BootgateError('CACHE_BYPASS', `origin answered ${res.status}`); // 3xx, 4xx, a 416 of an empty object: relayed by the proxy
    }
    const verdict = responseVerdict(res.status, h, t.headers['authorization'] !== undefined);
    if (!verdict.ok) throw new BootgateError('CACHE_BYPASS', `response not storable: ${verdict.reason}`);
    let total: number;
    if (res.status === 206) {
      const cr = contentRange(h['content-range']);
      if (!cr || cr.first !== index * S || cr.last !== Math.min((index + 1) * S, cr.total) - 1)
        throw new BootgateError('CACHE_ORIGIN', `origin ${t.host} answered the slice with Content-Range ${h['content-range'] ?? '(none)'}`);
      total = cr.total;
    } else {
      const cl = h['content-length'];
      if (cl === undefined || !/^\d+$/.test(cl)) throw new BootgateError('CACHE_BYPASS', 'a 200 without Content-Length cannot be sliced');
      total = Number(cl);
      if (index * S >= total && total > 0) throw new BootgateError('CACHE_ORIGIN', `slice ${index} is past the end (${total} bytes)`);
    }
    if (total === 0) throw new BootgateError('CACHE_BYPASS', 'empty object');
    const etag = h['etag'];
    const lastModified = h['last-modified'];
    if (known) {
      // RFC 9110 §8.8: a slice of another version would splice two objects; nginx's slice module checks the same
      if (known.totalBytes !== total || (known.etag ?? '') !== (etag ?? '') || (known.lastModified ?? '') !== (lastModified ?? '')) {
        await this.deps.store.purgeObject(t.key.id);
        throw new BootgateError('CACHE_ORIGIN_CHANGED', `${t.key.text} changed at the origin (slice ${index})`);
      }
      return known;
    }
    const now = this.deps.clock.now();
    const cfg = this.deps.config;
    const meta: ObjectMeta = {
      id: t.key.id,
      key: t.key.text,
      service: t.key.service,
      totalBytes: total,
      headers: keptHeaders(h),
      ...(etag !== undefined ? { etag } : {}),
      ...(lastModified !== undefined ? { lastModified } : {}),
      storedAt: now,
      expiresAt: expiresAt(h, now, cfg),
    };
    const current = this.deps.store.object(t.key.id);
    if (current && current.totalBytes === meta.totalBytes && current.etag === meta.etag && current.lastModified === meta.lastModified) return current;
    if (current) await this.deps.store.purgeObject(t.key.id);
    await this.deps.store.putObject(meta);
    return meta;
  }

  /** A slice arrived whole: check the digest, end it for its readers, then store it in the background and leave the in-flight table. */
  private complete(t: OriginTarget, f: SliceFill, index: number, digest: ReturnType<typeof contentDigest>): Promise<void> {
    const body = f.body();
    if (digest) {
      const got = createHash(digest.algorithm).update(body).digest('base64');
      if (got !== digest.base64) {
        this.deps.metrics.digestMismatches.inc();
        throw new BootgateError('CACHE_DIGEST', `slice ${index} of ${t.key.text} does not match the origin's ${digest.algorithm}`);
      }
    }
    f.finish();
    const sha = createHash('sha256').update(body).digest('hex');
    return this.deps.store
      .write(t.key.id, index, body, sha, (file) => f.settle(file))
      .catch(() => false)
      .then(() => {
        f.settle(undefined);
        this.unregister(f);
      });
  }
}
