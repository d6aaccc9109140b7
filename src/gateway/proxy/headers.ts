import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** RFC 9110 §7.6.1: hop-by-hop fields are not forwarded, nor any field the Connection header names. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export function endToEndHeaders(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set<string>();
  const conn = h.connection;
  if (typeof conn === 'string') for (const t of conn.split(',')) named.add(t.trim().toLowerCase());
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || HOP_BY_HOP.has(k) || named.has(k)) continue;
    out[k] = v;
  }
  return out;
}

/**
 * The same rule over a raw header list (`IncomingMessage.rawHeaders`: name, value, name, value …), kept as a flat
 * list for `http.request` / `writeHead`: no object is built, repeated fields (Set-Cookie) keep their order, and
 * `host` (when given) replaces the client's Host field (RFC 9112 §3.2: a proxy sends the target's authority).
 */
export function endToEndRawHeaders(raw: readonly string[], host?: string): string[] {
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'connection') {
      named ??= new Set();
      for (const t of raw[i + 1]!.split(',')) named.add(t.trim().toLowerCase());
    }
  }
  const out: string[] = host === undefined ? [] : ['Host', host];
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(k) || named?.has(k) || (host !== undefined && k === 'host')) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/** Splits an authority ("host:port", "[v6]:port", "host") into host and port. Undefined when malformed. */
export function parseAuthority(authority: string, defaultPort: number): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]\s/@]+))(?::(\d{1,5}))?$/.exec(authority);
  if (!m) return undefined;
  const host = (m[1] ?? m[2])!.toLowerCase();
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host, port };
}

export function refusalPage(status: number, title: string, detail: string): { status: number; body: string } {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return {
    status,
    body: `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head><body><h1>${esc(title)}</h1><p>${esc(detail)}</p></body></html>\n`,
  };
}
