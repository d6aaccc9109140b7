/**
 * The edge cache as the proxy sees it (docs/cache.md): `classify(request)` says whether a request may be answered
 * from the cache (a cache domain or configured origin, and RFC 9111 allows sharing it), and `serve(request,
 * decision)` answers it — status, fields and a body assembled from slices, each from the store, joined to a fetch
 * in flight, or fetched (fetcher.ts). A CACHE_* BootgateError from `serve` before any byte means "pass this request
 * through uncached"; an error thrown by the body iterator means the response was cut and the connection must be.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { BootgateError } from '../errors.ts';
import { BUILTIN_CACHE_DOMAINS, DomainMatcher, loadCacheDomainsJson, loadDomainFile, type ServiceDomains } from './cache-domains.ts';
import type { CacheConfig } from './config.ts';
import { partBytes, SliceFetcher, type BodyPart, type CacheClock, type OriginTarget, type SliceRead, type SliceSource } from './fetcher.ts';
import { cacheKey, type CacheKey } from './key.ts';
import type { CacheMetrics } from './metrics.ts';
import type { ObjectMeta } from './object-meta.ts';
import type { Origin } from './origin.ts';
import { ifRangeHolds, parseRange, requestVerdict, type Headers } from './policy.ts';
import { Prefiller } from './prefill.ts';
import { CacheStats } from './stats.ts';
import { SliceStore } from './store.ts';

/** A request as the proxy parsed it. */
export interface CacheRequest {
  method: string;
  /** the origin's host name, without port */
  host: string;
  port: number;
  /** origin-form target, `/path?query` */
  target: string;
  /** lower-case field names */
  headers: Headers;
}

export type CacheDecision = { cache: false; reason: string } | { cache: true; key: CacheKey };

export interface CacheResponse {
  status: 200 | 206 | 416;
  headers: Record<string, string>;
  /** buffers, and parts of stored slice files (send each before asking for the next: the file closes then) */
  body: AsyncIterable<BodyPart>;
  /** body bytes yielded so far, by where they came from (store; origin = fetched for this request or joined to a fetch) */
  served: { store: number; origin: number };
}

export interface EdgeCacheDeps {
  /** the `cache:` slice as parsed */
  config: CacheConfig;
  /** the store's directory (the config's `directory`, else `<dataDir>/cache`) */
  directory: string;
  origin: Origin;
  clock: CacheClock;
  metrics: CacheMetrics;
  log: Logger;
  /** domain lists instead of reading the configured files (tests) */
  domains?: readonly ServiceDomains[];
}

/**
 * Slices a reader asks for ahead of the one it sends: their files opened and checked, or their origin fetches started,
 * so neither the origin's latency per slice (a request each) nor the disk stands between two slices of a response.
 */
const READ_AHEAD = 4;

export function defaultCacheDirectory(dataDir: string, config: CacheConfig): string {
  return config.directory ?? join(dataDir, 'cache');
}

export class EdgeCache {
  private readonly log: Logger;
  private readonly matcher: DomainMatcher;
  private readonly origins: Set<string>;
  readonly store: SliceStore;
  readonly fetcher: SliceFetcher;
  /** per service and per terminal counters (API, CLI) */
  readonly stats: CacheStats;
  /** URLs fetched ahead of the room under a bandwidth cap (prefill.ts) */
  readonly prefill: Prefiller;
  /** key id → until (ms): responses that were not storable, passed through without asking the origin for a slice */
  private readonly bypass = new Map<string, number>();

  constructor(private readonly deps: EdgeCacheDeps) {
    const c = deps.config;
    this.stats = new CacheStats(deps.metrics);
    this.log = deps.log.child({ module: 'cache' });
    const sources = deps.domains ?? [...(c.builtinDomains ? loadCacheDomainsJson(BUILTIN_CACHE_DOMAINS) : []), ...c.domains.map(loadDomainFile)];
    this.matcher = new DomainMatcher(sources);
    this.origins = new Set(c.origins.map((h) => h.toLowerCase()));
    this.store = new SliceStore({
      directory: deps.directory,
      maxBytes: c.maxBytes,
      verifyOnRead: c.verifyOnRead,
      log: this.log,
      metrics: deps.metrics,
    });
    this.prefill = new Prefiller(this, deps.clock);
    this.fetcher = new SliceFetcher({
      config: c,
      store: this.store,
      origin: deps.origin,
      clock: deps.clock,
      metrics: deps.metrics,
      log: this.log,
      stats: this.stats,
    });
  }

  async start(): Promise<void> {
    await this.store.open();
    this.log.info({ names: this.matcher.size, origins: this.origins.size }, 'edge cache started');
  }

  async stop(): Promise<void> {
    await this.store.close();
  }

  /**
   * Purge by URL (`http://host[:port]/path`): the object that URL is keyed to (for a cache domain the host only
   * picks the service). False when the URL is not one the cache would store or nothing was stored under it.
   */
  async purgeUrl(url: string): Promise<boolean> {
    const r = requestOf(url);
    const host = r.host.toLowerCase().replace(/\.$/, '');
    const service = this.matcher.match(host);
    if (service === undefined && !this.origins.has(host)) return false;
    const key = cacheKey(r.target, r.port === 80 ? host : `${host}:${r.port}`, service);
    const had = this.store.object(key.id) !== undefined;
    await this.store.purgeObject(key.id);
    this.bypass.delete(key.id);
    return had;
  }

  /**
   * A GET of `url` as a terminal without fields would send it (prefill.ts): the response, or a rejection before any
   * byte — VALIDATION (not an http:// URL), CACHE_BYPASS (not a cache domain or origin, or not storable), CACHE_ORIGIN.
   */
  async fetchUrl(url: string): Promise<CacheResponse> {
    const r = requestOf(url);
    const d = this.classify(r);
    if (!d.cache) throw new BootgateError('CACHE_BYPASS', `not cached: ${d.reason}`);
    // nothing read ahead: the job's cap (prefill.ts) is measured on the slices it takes, one at a time
    return this.serve(r, d, 1);
  }

  /** Purge every object of a service; returns how many objects. */
  purgeService(service: string): Promise<number> {
    return this.store.purgeService(service);
  }

  /** Counters per service and terminal, and the store's size (GET /api/v1/cache/stats). */
  statsSnapshot() {
    return { ...this.stats.snapshot(), store: { bytes: this.store.bytes, slices: this.store.entries().length, maxBytes: this.deps.config.maxBytes } };
  }

  /** The service of a host, for DNS answers and stats; undefined when it is not a cache domain. */
  serviceOf(host: string): string | undefined {
    return this.matcher.match(host);
  }

  /** A cache domain or a configured origin: the names the resolver points at the cache's listener (cache.dnsListener). */
  handles(host: string): boolean {
    const h = host.toLowerCase().replace(/\.$/, '');
    return this.matcher.match(h) !== undefined || this.origins.has(h);
  }

  /** Is this request answered from the cache? Pure apart from the bypass memory; cheap enough for every request. */
  classify(req: CacheRequest): CacheDecision {
    const host = req.host.toLowerCase().replace(/\.$/, '');
    const service = this.matcher.match(host);
    if (service === undefined && !this.origins.has(host)) return { cache: false, reason: 'not-a-cache-domain' };
    const v = requestVerdict(req.method, req.headers, this.deps.config);
    if (!v.ok) return this.bypassed(v.reason);
    const key = cacheKey(req.target, req.port === 80 ? host : `${host}:${req.port}`, service);
    const until = this.bypass.get(key.id);
    if (until !== undefined) {
      if (this.deps.clock.now() < until) return this.bypassed('not-storable');
      this.bypass.delete(key.id);
    }
    return { cache: true, key };
  }

  private bypassed(reason: string): CacheDecision {
    this.deps.metrics.bypassed.inc({ reason });
    return { cache: false, reason };
  }

  /**
   * The response to a request `classify` accepted. Rejects with a CACHE_* BootgateError before any byte when the
   * request must pass through instead (the response was not storable, the origin failed or changed the object).
   * A single Range is answered 206 from the slices it crosses; several ranges, a Range that is not `bytes=`, and
   * an If-Range that does not hold are answered with the whole object (200; RFC 9110 §14.2 allows ignoring Range).
   */
  async serve(req: CacheRequest, d: Extract<CacheDecision, { cache: true }>, readAhead = READ_AHEAD): Promise<CacheResponse> {
    const S = this.deps.config.sliceBytes;
    const t: OriginTarget = { key: d.key, host: req.host, port: req.port, target: req.target, headers: forwarded(req.headers) };
    let meta: ObjectMeta | undefined = this.store.object(d.key.id);
    // RFC 9110 §9.3.2: a HEAD gets the fields a GET would, from an object the cache holds fresh; else it is relayed
    if (req.method === 'HEAD' && (!meta || this.deps.clock.now() >= meta.expiresAt)) {
      this.deps.metrics.bypassed.inc({ reason: 'head-not-stored' });
      throw new BootgateError('CACHE_BYPASS', 'HEAD of an object the cache does not hold fresh');
    }
    if (meta && this.deps.clock.now() >= meta.expiresAt) {
      const fresh = await this.fetcher.revalidate(t, meta);
      if (!fresh) await this.store.purgeObject(d.key.id); // changed, or cannot be validated: fetched again
      meta = fresh;
    }
    let first: SliceRead | undefined;
    let firstIndex = -1;
    if (!meta) {
      const m = /^\s*bytes\s*=\s*(\d+)\s*-[^,]*$/i.exec(req.headers['range'] ?? '');
      firstIndex = m ? Math.floor(Number(m[1]) / S) : 0;
      try {
        first = await this.fetcher.slice(t, firstIndex, undefined);
      } catch (e) {
        if (e instanceof BootgateError && e.code === 'CACHE_BYPASS') this.noteBypass(d.key, e.message);
        throw e;
      }
      meta = first.meta;
    }
    const total = meta.totalBytes;
    const rangeHeader = ifRangeHolds(req.headers['if-range'], meta.etag, meta.lastModified) ? req.headers['range'] : undefined;
    const r = parseRange(rangeHeader, total);
    const now = this.deps.clock.now();
    const headers: Record<string, string> = {
      ...meta.headers,
      'accept-ranges': 'bytes',
      // RFC 9111 §5.1: a response from a cache carries its age — seconds since it was fetched or last validated
      age: String(Math.max(0, Math.floor((now - meta.storedAt) / 1000))),
      // RFC 9110 §6.6.1: the message's own date (the origin's Date is not kept; Age says how old the content is)
      date: new Date(now).toUTCString(),
    };
    if (r.kind === 'unsatisfiable') {
      headers['content-range'] = `bytes */${total}`; // RFC 9110 §15.5.17
      headers['content-length'] = '0';
      return { status: 416, headers, body: empty(), served: { store: 0, origin: 0 } };
    }
    const [from, to] = r.kind === 'partial' ? [r.first, r.last] : [0, total - 1];
    headers['content-length'] = String(to - from + 1);
    if (r.kind === 'partial') headers['content-range'] = `bytes ${from}-${to}/${total}`;
    if (req.method === 'HEAD') return { status: r.kind === 'partial' ? 206 : 200, headers, body: empty(), served: { store: 0, origin: 0 } };
    const known = meta;
    const pre = first && firstIndex === Math.floor(from / S) ? first : undefined;
    if (first && !pre) first.release();
    const served = { store: 0, origin: 0 };
    return { status: r.kind === 'partial' ? 206 : 200, headers, body: this.body(t, known, from, to, pre, served, readAhead), served };
  }

  private noteBypass(key: CacheKey, why: string): void {
    this.deps.metrics.bypassed.inc({ reason: 'not-storable' });
    this.log.debug({ key: key.text, why }, 'response not storable; key passed through');
    this.bypass.set(key.id, this.deps.clock.now() + this.deps.config.bypassSeconds * 1000);
  }

  /**
   * Bytes [from, to] of the object, slice after slice. The next `readAhead` - 1 slices (within the range) are asked for
   * while one is sent, so a reader does not wait between slices; a reader that stops releases them. Stored slices
   * come as file parts (sent with sendfile by the proxy), the others as buffers.
   */
  private async *body(
    t: OriginTarget,
    meta: ObjectMeta,
    from: number,
    to: number,
    pre: SliceRead | undefined,
    served: CacheResponse['served'],
    readAhead: number,
  ): AsyncGenerator<BodyPart> {
    const S = this.deps.config.sliceBytes;
    const m = this.deps.metrics;
    const last = Math.floor(to / S);
    const ask = (i: number): Promise<SliceRead> => {
      const p = this.fetcher.slice(t, i, meta);
      p.catch(() => {}); // awaited (and its error thrown) when its turn comes
      return p;
    };
    let i = Math.floor(from / S);
    // slices i … i+readAhead-1, asked for in order; the first is the one being sent
    const window: Promise<SliceRead>[] = [pre ? Promise.resolve(pre) : ask(i)];
    try {
      for (; i <= last; i++) {
        while (window.length < readAhead && i + window.length <= last) window.push(ask(i + window.length));
        const read: SliceRead = await window.shift()!;
        const source: SliceSource = read.source;
        let pos = i * S; // object offset of the part's first byte
        for await (const part of read.chunks) {
          const a = Math.max(from, pos) - pos;
          const b = Math.min(to + 1, pos + part.length) - pos;
          pos += part.length;
          if (b <= a) continue;
          m.servedBytes.inc({ service: t.key.service, source }, b - a);
          if (source === 'store') served.store += b - a;
          else served.origin += b - a;
          if (a === 0 && b === part.length) yield part;
          else yield Buffer.isBuffer(part) ? part.subarray(a, b) : { fd: part.fd, offset: part.offset + a, length: b - a };
        }
      }
    } finally {
      for (const p of window)
        void p.then(
          (r) => r.release(),
          () => {},
        );
    }
  }
}

/** A response body's bytes in memory, part after part (tests, and writers that cannot send file parts). */
export async function* bodyBytes(body: AsyncIterable<BodyPart>): AsyncGenerator<Buffer> {
  for await (const p of body) yield await partBytes(p);
}

/** The body-less GET of an http:// URL. */
function requestOf(url: string): CacheRequest {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new BootgateError('VALIDATION', `not a URL: ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'http:') throw new BootgateError('VALIDATION', 'only http:// URLs are cached');
  return { method: 'GET', host: u.hostname, port: u.port === '' ? 80 : Number(u.port), target: `${u.pathname}${u.search}`, headers: {} };
}

/** The request fields sent to the origin with a slice fetch; everything else is the cache's own (Range, Accept-Encoding). */
function forwarded(h: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['user-agent', 'authorization', 'accept']) if (h[k] !== undefined) out[k] = h[k]!;
  return out;
}

async function* empty(): AsyncGenerator<BodyPart> {}
