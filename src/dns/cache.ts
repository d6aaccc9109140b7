import type { DnsRecord } from './codec.ts';
import { Rcode, RRType } from './constants.ts';
import { canonicalName } from './name.ts';

/** The sections of an upstream reply that are kept (the question is the key; OPT is per hop and never cached). */
export interface CachedReply {
  rcode: number;
  answers: DnsRecord[];
  authority: DnsRecord[];
  additional: DnsRecord[];
}

export interface CacheHit extends CachedReply {
  /** NXDOMAIN or NODATA (RFC 2308 §2) */
  negative: boolean;
}

export interface DnsCacheOptions {
  maxEntries: number;
  minTtlSeconds: number;
  maxTtlSeconds: number;
  maxNegativeTtlSeconds: number;
}

/** A stored answer as the fast path sees it (fast-path.ts keeps its encoded replies on it). */
export interface CacheEntry extends CachedReply {
  negative: boolean;
  storedAt: number;
  expiresAt: number;
  /** position in the recency order (see `touch`) */
  seq: number;
  /** encoded reply templates, [without EDNS, with EDNS], built on the first fast-path hit */
  wire: [unknown, unknown];
  /** the answer section as onQuery text, built on first use */
  answerText?: string[];
}

/** Cache key: owner name folded to lower case (RFC 4343), type and class. */
export function cacheKey(name: string, type: number, cls: number): string {
  return `${canonicalName(name)}|${type}|${cls}`;
}

/**
 * A TTL-honouring answer cache with negative caching (RFC 2308) and LRU eviction beyond `maxEntries`. Time comes
 * from the injected clock (milliseconds). TTLs in a hit are the stored TTLs minus the whole seconds elapsed
 * (RFC 1035 §4.1.3: the TTL is how long the RR may still be cached), never below zero.
 *
 * Recency is tracked in the Map's insertion order; a hit re-inserts its entry only when more than an eighth of
 * `maxEntries` other entries were touched since (so a busy name costs no Map writes), which keeps the eviction
 * order within maxEntries/8 positions of exact LRU (exact for caches under 8 entries).
 */
export class DnsCache {
  private readonly entries = new Map<string, CacheEntry>();
  private seq = 0;

  constructor(
    private readonly opts: DnsCacheOptions,
    private readonly clock: () => number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }

  private clamp(ttl: number): number {
    return Math.min(this.opts.maxTtlSeconds, Math.max(this.opts.minTtlSeconds, ttl));
  }

  /**
   * How long a reply to a `type` question may be cached, in seconds, and whether it is negative; undefined for
   * replies that are not cached (SERVFAIL, REFUSED, …, a negative reply without an SOA, a TTL of zero).
   */
  lifetime(type: number, reply: CachedReply): { ttl: number; negative: boolean } | undefined {
    if (reply.rcode !== Rcode.NOERROR && reply.rcode !== Rcode.NXDOMAIN) return undefined;
    const answerTtl = Math.min(...reply.answers.map((rr) => rr.ttl));
    // data of the type asked for (at the end of any CNAME chain): a positive answer, cached for its smallest TTL
    if (reply.rcode === Rcode.NOERROR && reply.answers.some((rr) => rr.type === type || type === RRType.ANY)) {
      const ttl = this.clamp(answerTtl);
      return ttl > 0 ? { ttl, negative: false } : undefined;
    }
    // NXDOMAIN, or NODATA (RFC 2308 §2.2). RFC 2308 §5: the negative TTL is the minimum of the SOA's own TTL and
    // its MINIMUM field; a negative answer without an SOA in the authority section SHOULD NOT be cached
    const soa = reply.authority.find((rr) => rr.type === RRType.SOA);
    if (!soa || soa.data.kind !== 'soa') return undefined;
    const ttl = Math.min(this.opts.maxNegativeTtlSeconds, Math.max(this.opts.minTtlSeconds, Math.min(soa.ttl, soa.data.minimum, answerTtl)));
    return ttl > 0 ? { ttl, negative: true } : undefined;
  }

  /** Stores a reply for (name, type, class); returns whether it was cached. */
  put(name: string, type: number, cls: number, reply: CachedReply): boolean {
    const life = this.lifetime(type, reply);
    if (!life || this.opts.maxEntries === 0) return false;
    const now = this.clock();
    const cap = (rrs: DnsRecord[]): DnsRecord[] =>
      rrs.map((rr) => ({ ...rr, ttl: Math.min(life.negative ? life.ttl : this.clamp(rr.ttl), life.ttl) }));
    const key = cacheKey(name, type, cls);
    this.entries.delete(key);
    this.entries.set(key, {
      rcode: reply.rcode,
      answers: cap(reply.answers),
      authority: cap(reply.authority),
      additional: cap(reply.additional),
      negative: life.negative,
      storedAt: now,
      expiresAt: now + life.ttl * 1000,
      seq: ++this.seq,
      wire: [undefined, undefined],
    });
    while (this.entries.size > this.opts.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return true;
  }

  /** The live entry under `key` (a cacheKey), marked as used; undefined when absent or expired (then removed). */
  entry(key: string, now: number): CacheEntry | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (now >= e.expiresAt) {
      this.entries.delete(key);
      return undefined;
    }
    // least recently used goes first: a hit moves the entry to the end of the insertion order
    if (this.seq - e.seq > this.opts.maxEntries >> 3) {
      e.seq = ++this.seq;
      this.entries.delete(key);
      this.entries.set(key, e);
    }
    return e;
  }

  get(name: string, type: number, cls: number): CacheHit | undefined {
    const now = this.clock();
    const e = this.entry(cacheKey(name, type, cls), now);
    if (!e) return undefined;
    const elapsed = Math.floor((now - e.storedAt) / 1000);
    const age = (rrs: DnsRecord[]): DnsRecord[] => rrs.map((rr) => ({ ...rr, ttl: Math.max(0, rr.ttl - elapsed) }));
    return { rcode: e.rcode, answers: age(e.answers), authority: age(e.authority), additional: age(e.additional), negative: e.negative };
  }
}
