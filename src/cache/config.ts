import { z } from 'zod';
import { ipv4Field, portField } from '../config/fields.ts';

/** The `cache:` config slice (the edge cache, docs/cache.md). Plug into the appliance schema as `cache: cacheConfigSchema.prefault({})`. */
export const cacheConfigSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** where slices and the journal live; absent: `<dataDir>/cache` (the composition root joins it) */
  directory: z.string().optional(),
  /** the store's size bound: slice bytes on disk; least recently used slices are evicted beyond it */
  maxBytes: z
    .int()
    .min(0)
    .default(10 * 1024 * 1024 * 1024),
  /** objects are fetched and stored in slices of this size (LanCache: `slice 1m`) */
  sliceBytes: z
    .int()
    .min(64 * 1024)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  /** use the cache-domains data set shipped in config/cache-domains/ */
  builtinDomains: z.boolean().default(true),
  /** the operator's own domain files, cache-domains format (one name or `*.name` per line); the service is the file's base name */
  domains: z.array(z.string()).default([]),
  /** arbitrary origins cached by host + URI (a platform class's content URL, a boot image origin) */
  origins: z.array(z.string().min(1)).default([]),
  /** RFC 9111 §3.5: a request with Authorization is shared only if this is on and the response allows it (public, s-maxage, must-revalidate) */
  allowAuthorization: z.boolean().default(false),
  /** freshness when the origin gives neither Cache-Control max-age nor Expires nor Last-Modified (RFC 9111 §4.2.2 heuristic) */
  heuristicFreshSeconds: z.int().min(0).default(86_400),
  /** upper bound of the Last-Modified heuristic (10 % of the age of the content) */
  heuristicMaxSeconds: z
    .int()
    .min(0)
    .default(7 * 86_400),
  /** recompute each slice's SHA-256 when it is read from disk (a corrupted slice is dropped and fetched again) */
  verifyOnRead: z.boolean().default(true),
  /** how long a key whose response was not storable is passed through without asking the store */
  bypassSeconds: z.int().min(0).default(300),
  /** an origin that sends nothing for this long fails the slice fetch */
  originTimeoutMs: z.int().min(100).default(30_000),
  /**
   * The cache reached through DNS (LanCache's way; for the gateway off): the resolver answers the cache domains and
   * origins with `address`, and a plain-HTTP listener there serves them by Host header. `address` is one of this
   * host's addresses on the terminal LAN, used for nothing else on `port` (the HTTP boot server listens elsewhere).
   */
  dnsListener: z.strictObject({ address: ipv4Field, port: portField.default(80) }).optional(),
});
export type CacheConfig = z.output<typeof cacheConfigSchema>;
