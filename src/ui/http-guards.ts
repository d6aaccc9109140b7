import type { Request, RequestHandler } from 'express';
import { UiError } from './errors.ts';
import type { UiSession } from './sessions.ts';
import type { StaffRole } from './wire.ts';

/**
 * The UI's response headers: a strict Content-Security-Policy (only this origin's files; no inline script or
 * style, no eval, no framing, no plugins, forms post only here), no MIME sniffing, no Referer sent anywhere.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export const securityHeaders: RequestHandler = (_req, res, next) => {
  res.set(SECURITY_HEADERS);
  next();
};

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const isStateChanging = (method: string): boolean => !SAFE_METHODS.has(method.toUpperCase());

/**
 * Whether a request may come from where it says (OWASP CSRF cheat sheet, "verifying origin with standard
 * headers"): an Origin header, when present, must be this server's own origin (scheme, host and port as the
 * browser addressed it), and a browser's Sec-Fetch-Site must not be cross-site. A request with neither header
 * (curl, an old browser) is left to the CSRF token.
 */
export function sameOrigin(h: {
  origin?: string | undefined;
  host?: string | undefined;
  secFetchSite?: string | undefined;
  secure: boolean;
}): boolean {
  if (h.secFetchSite !== undefined && h.secFetchSite !== 'same-origin' && h.secFetchSite !== 'none') return false;
  if (h.origin === undefined) return true;
  if (h.host === undefined) return false;
  return h.origin.toLowerCase() === `${h.secure ? 'https' : 'http'}://${h.host.toLowerCase()}`;
}

export function checkOrigin(req: Request): void {
  const ok = sameOrigin({ origin: req.get('origin'), host: req.get('host'), secFetchSite: req.get('sec-fetch-site'), secure: req.secure });
  if (!ok) throw new UiError('ORIGIN_REFUSED', `requests from ${req.get('origin') ?? req.get('sec-fetch-site') ?? 'another site'} are refused`);
}

/**
 * The language a browser asks for (RFC 9110 §12.5.4 Accept-Language, q-values honoured), among the UI's. Tags
 * compare case-insensitively (RFC 5646 §2.1.1); a supported tag matches itself and its subtags (`fr` matches
 * `fr-CA`); `aliases` maps other exact tags to a supported one (`zh` and `zh-Hans` → `zh-CN`, not `zh-TW`).
 */
export function negotiateLanguage<L extends string>(
  header: string | undefined,
  supported: readonly L[],
  fallback: L,
  aliases: Readonly<Record<string, L>> = {},
): L {
  if (!header) return fallback;
  const ranked = header
    .split(',')
    .map((part, i) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
      return { tag: tag.trim().toLowerCase(), q: q === undefined ? 1 : Number(q), i };
    })
    .filter((r) => r.tag && r.q > 0 && !Number.isNaN(r.q))
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const r of ranked) {
    const hit = supported.find((l) => l.toLowerCase() === r.tag || r.tag.startsWith(`${l.toLowerCase()}-`));
    if (hit) return hit;
    const alias = Object.entries(aliases).find(([tag]) => tag.toLowerCase() === r.tag)?.[1];
    if (alias) return alias;
  }
  return fallback;
}

/**
 * The role check of a route the browser reaches through /ui/api/v1 (behind the UI router's session lookup): the
 * session's role must be one of `roles`, else 403 FORBIDDEN as identity's requireRoles answers; the actor of the
 * audit record is the session's operator (res.locals.actor), as a Basic login of that operator would be.
 */
export function sessionRoles(roles: readonly StaffRole[]): RequestHandler {
  return (_req, res, next) => {
    const s = res.locals.uiSession as UiSession | undefined;
    if (!s) return void res.status(401).json({ error: 'UNAUTHENTICATED', message: 'log in first (no live session)' });
    res.locals.actor = `operator:${s.username}`;
    if (roles.includes(s.role)) next();
    else res.status(403).json({ error: 'FORBIDDEN', message: `role ${s.role} may not use this screen` });
  };
}
