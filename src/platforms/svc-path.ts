import { PLATFORM_CLASS } from './config.ts';

/** `/svc/<class>/<rest>?<query>` split, still percent-encoded as received; undefined when it is not that form. */
export interface SvcPath {
  cls: string;
  rest: string;
  query: string;
}

/** Parses a request-target under `/svc/` (origin-form, RFC 9112 §3.2.1). */
export function parseSvcPath(target: string): SvcPath | undefined {
  if (!target.startsWith('/svc/')) return undefined;
  const q = target.indexOf('?');
  const path = q < 0 ? target.slice(4) : target.slice(4, q);
  const query = q < 0 ? '' : target.slice(q + 1);
  // "/<class>" or "/<class>/<rest>" (runs on every /svc request: a slice and one test, no schema)
  const slash = path.indexOf('/', 1);
  const cls = slash < 0 ? path.slice(1) : path.slice(1, slash);
  if (!PLATFORM_CLASS.test(cls)) return undefined;
  return { cls, rest: slash < 0 ? '' : path.slice(slash + 1), query };
}

/** Where the chosen instance serves the rest of the path: its base URL (path prefix kept) + the path + the query. */
export function svcLocation(base: string, p: SvcPath): string {
  return `${base.replace(/\/+$/, '')}/${p.rest}${p.query ? `?${p.query}` : ''}`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** 503 with Retry-After (RFC 9110 §10.2.3, §15.6.4) and a page that says which service is down. */
export function unavailablePage(d: { class: string; message: string; retryAfterSeconds: number }): {
  status: number;
  body: string;
  headers: Record<string, string>;
} {
  const name = escapeHtml(d.class);
  return {
    status: 503,
    body: `<!doctype html><meta charset="utf-8"><title>${name} unavailable</title><h1>The ${name} service is not available</h1><p>${escapeHtml(d.message)}</p><p>Try again in ${d.retryAfterSeconds} s.</p>\n`,
    headers: { 'retry-after': String(d.retryAfterSeconds), 'cache-control': 'no-store', 'content-type': 'text/html; charset=utf-8' },
  };
}
