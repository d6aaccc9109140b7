/**
 * The cache key (as LanCache's `$cacheidentifier$uri$slice_range`): for a request to a service's domain the key is
 * service + normalised path, the host dropped, so the same chunk from any CDN host of the service is one entry; the
 * query is dropped too, as LanCache keys on `$uri` (CDN tokens in the query would otherwise split entries). For an
 * arbitrary configured origin the key keeps the host and the query: nothing says two hosts or two queries are one object.
 * A stored object is named by the SHA-256 of its key; its slice `i` covers bytes [i·S, (i+1)·S).
 */
import { createHash } from 'node:crypto';

export interface CacheKey {
  /** the service, or `origin:<host>` for a configured origin */
  service: string;
  /** `service` + ' ' + normalised URI: the text that is hashed */
  text: string;
  /** hex SHA-256 of `text`: the object's id on disk */
  id: string;
}

const UNRESERVED = /%([0-9A-Fa-f]{2})/g;

/**
 * RFC 3986 §6.2.2: percent-encodings of unreserved characters decoded, the others' hex upper-cased; dot segments
 * removed (§5.2.4); an empty path is `/`. The fragment never reaches a server and is dropped.
 */
export function normalisePath(path: string): string {
  let p = path.replace(UNRESERVED, (m, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return /[A-Za-z0-9\-._~]/.test(c) ? c : m.toUpperCase();
  });
  if (p === '') p = '/';
  const out: string[] = [];
  const segs = p.split('/');
  segs.forEach((s, i) => {
    if (s === '.') {
      if (i === segs.length - 1) out.push('');
    } else if (s === '..') {
      if (out.length > 1) out.pop();
      if (i === segs.length - 1) out.push('');
    } else out.push(s);
  });
  const r = out.join('/');
  return r.startsWith('/') ? r : `/${r}`;
}

/** The key of an origin-form target (`/path?query`) on a host, for a service or a configured origin. */
export function cacheKey(target: string, host: string, service: string | undefined): CacheKey {
  const hash = target.indexOf('#');
  const t = hash === -1 ? target : target.slice(0, hash);
  const q = t.indexOf('?');
  const path = normalisePath(q === -1 ? t : t.slice(0, q));
  const svc = service ?? `origin:${host.toLowerCase().replace(/\.$/, '').replace(/:80$/, '')}`;
  const uri = service !== undefined || q === -1 ? path : `${path}${t.slice(q)}`;
  const text = `${svc} ${uri}`;
  return { service: svc, text, id: createHash('sha256').update(text).digest('hex') };
}

/** The slices a byte range [first, last] (inclusive) covers. */
export function slicesOf(first: number, last: number, sliceBytes: number): { from: number; to: number } {
  return { from: Math.floor(first / sliceBytes), to: Math.floor(last / sliceBytes) };
}
