/**
 * What a shared cache may store and for how long (RFC 9111), and the client's Range (RFC 9110 §14). Pure: the
 * edge cache asks these with header maps and the clock's time.
 */
import type { CacheConfig } from './config.ts';

/** lower-case header name → value (repeated fields joined with ", ", as node:http does) */
export type Headers = Readonly<Record<string, string | undefined>>;

export type Verdict = { ok: true } | { ok: false; reason: string };
const no = (reason: string): Verdict => ({ ok: false, reason });
const YES: Verdict = { ok: true };

/** Cache-Control directives, names lower-cased; a directive without a value maps to ''. */
export function cacheControl(value: string | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of (value ?? '').split(',')) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name === '') continue;
    const v =
      eq === -1
        ? ''
        : part
            .slice(eq + 1)
            .trim()
            .replace(/^"(.*)"$/, '$1');
    if (!m.has(name)) m.set(name, v); // RFC 9111 §4.2.1: the first of duplicated directives counts
  }
  return m;
}

/** May this request be answered from (and fill) the shared cache? */
export function requestVerdict(method: string, h: Headers, cfg: Pick<CacheConfig, 'allowAuthorization'>): Verdict {
  // only GET is stored (RFC 9111 §3: a method the cache understands as cacheable); a HEAD is answered from what a
  // GET stored (RFC 9110 §9.3.2: the same fields without the content), never fetched for
  if (method !== 'GET' && method !== 'HEAD') return no('method');
  if (h['cookie'] !== undefined) return no('cookie'); // the issue: Cookie-carrying HTTP is not shared between seats
  if (h['authorization'] !== undefined && !cfg.allowAuthorization) return no('authorization'); // RFC 9111 §3.5
  const cc = cacheControl(h['cache-control']);
  if (cc.has('no-store')) return no('request-no-store'); // RFC 9111 §5.2.1.5
  // RFC 9111 §5.2.1.4 no-cache / §5.4 Pragma: a stored response needs validation; this cache does not revalidate yet
  if (cc.has('no-cache') || (h['cache-control'] === undefined && /(^|,)\s*no-cache\s*(,|$)/i.test(h['pragma'] ?? ''))) return no('request-no-cache');
  return YES;
}

/** May this response (to a GET the request verdict allowed) be stored in a shared cache? RFC 9111 §3. */
export function responseVerdict(status: number, h: Headers, requestHadAuthorization: boolean): Verdict {
  if (status !== 200 && status !== 206) return no('status'); // we store only what our own Range fetches return
  const cc = cacheControl(h['cache-control']);
  if (cc.has('no-store')) return no('no-store'); // §5.2.2.5
  if (cc.has('private')) return no('private'); // §5.2.2.7: a shared cache MUST NOT store it
  if (cc.has('no-cache')) return no('no-cache'); // §5.2.2.4: storable, but every use needs validation (not done yet)
  if (requestHadAuthorization && !cc.has('public') && !cc.has('s-maxage') && !cc.has('must-revalidate')) return no('authorization'); // §3.5
  if (h['set-cookie'] !== undefined) return no('set-cookie'); // one seat's cookie is never handed to another
  const vary = (h['vary'] ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '' && s !== 'accept-encoding'); // we always ask for identity, so Accept-Encoding does not vary
  if (vary.length > 0) return no('vary'); // §4.1: one variant per key in this cache
  if (h['content-range'] !== undefined && status === 200) return no('content-range');
  return YES;
}

function seconds(v: string | undefined): number | undefined {
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

function date(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
}

/**
 * When a response stored at `now` (ms) stops being fresh: RFC 9111 §4.2.1 freshness lifetime (s-maxage, max-age,
 * Expires − Date, else the §4.2.2 heuristic: 10 % of Date − Last-Modified, capped; else the configured default)
 * minus the §4.2.3 initial age (max of the Age field and now − Date).
 */
export function expiresAt(h: Headers, now: number, cfg: Pick<CacheConfig, 'heuristicFreshSeconds' | 'heuristicMaxSeconds'>): number {
  const cc = cacheControl(h['cache-control']);
  const dateValue = date(h['date']) ?? now;
  let lifetime = seconds(cc.get('s-maxage')) ?? seconds(cc.get('max-age'));
  if (lifetime === undefined && h['expires'] !== undefined) {
    const exp = date(h['expires']);
    lifetime = exp === undefined ? 0 : Math.max(0, (exp - dateValue) / 1000); // §5.3: an invalid Expires is in the past
  }
  if (lifetime === undefined) {
    const lm = date(h['last-modified']);
    lifetime = lm !== undefined && lm < dateValue ? Math.min(cfg.heuristicMaxSeconds, (dateValue - lm) / 10_000) : cfg.heuristicFreshSeconds;
  }
  const age = Math.max(seconds(h['age']) ?? 0, Math.max(0, (now - dateValue) / 1000));
  return now + Math.max(0, lifetime - age) * 1000;
}

/** A client's byte range resolved against the object's length: [first, last] inclusive. */
export type RangeAnswer = { kind: 'full' } | { kind: 'partial'; first: number; last: number } | { kind: 'unsatisfiable' };

/**
 * The one range of a `Range: bytes=…` field (RFC 9110 §14.1.2, §14.2). Multiple ranges are answered with the whole
 * object (a 200; RFC 9110 §14.2 lets a server ignore Range), and so is anything not `bytes=`.
 */
export function parseRange(value: string | undefined, total: number): RangeAnswer {
  if (value === undefined) return { kind: 'full' };
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(value);
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'full' };
  if (m[1] === '') {
    const n = Number(m[2]); // suffix range: the last n bytes
    if (n === 0 || total === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', first: Math.max(0, total - n), last: total - 1 };
  }
  const first = Number(m[1]);
  const last = m[2] === '' ? total - 1 : Math.min(Number(m[2]), total - 1);
  if (m[2] !== '' && Number(m[2]) < first) return { kind: 'full' }; // §14.1.1: invalid range → the field is ignored
  if (first >= total) return { kind: 'unsatisfiable' };
  return { kind: 'partial', first, last };
}

/** RFC 9110 §13.1.5 If-Range: the range applies only if the validator is the stored one (strong ETag or exact date). */
export function ifRangeHolds(value: string | undefined, etag: string | undefined, lastModified: string | undefined): boolean {
  if (value === undefined) return true;
  const v = value.trim();
  if (v.startsWith('"') || v.startsWith('W/')) return etag !== undefined && !v.startsWith('W/') && v === etag;
  return lastModified !== undefined && date(v) !== undefined && date(v) === date(lastModified);
}
