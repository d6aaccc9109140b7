import type { Headers } from './policy.ts';

/** What the store keeps about one object (one key): enough to answer any range of it without the origin. */
export interface ObjectMeta {
  /** hex SHA-256 of the key text */
  id: string;
  /** the key text (service + normalised URI), for purge by URL and for the operator */
  key: string;
  service: string;
  /** the representation's full length (Content-Range's complete-length, or a 200's Content-Length) */
  totalBytes: number;
  /** the response fields replayed to clients (content-type, etag, last-modified, cache-control, expires, …) */
  headers: Record<string, string>;
  /** validators: each slice fetched later must carry the same, else the object changed (RFC 9110 §8.8) */
  etag?: string;
  lastModified?: string;
  /** ms since the epoch (the injected clock) */
  storedAt: number;
  expiresAt: number;
}

/** The response fields an object keeps and replays; hop-by-hop and per-response fields are not among them. */
export const KEPT_HEADERS = [
  'content-type',
  'etag',
  'last-modified',
  'cache-control',
  'expires',
  'content-encoding',
  'content-language',
  'content-disposition',
];

export function keptHeaders(h: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of KEPT_HEADERS) if (h[k] !== undefined) out[k] = h[k]!;
  return out;
}
