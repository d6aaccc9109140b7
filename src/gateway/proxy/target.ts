/**
 * Where a request goes, read from its request line (and, for origin-form, its Host field): pure functions, no
 * sockets. A target is what the client named; which address is dialled is the destination policy's (and, in
 * transparent mode, the redirect's) decision, not this file's.
 */
import { parseAuthority } from './headers.ts';
import { fieldValues, type RequestHead } from './http1-head.ts';

/** A request's target: the host and port it names, the path to send upstream, and the URL for the record. */
export interface Target {
  host: string;
  port: number;
  path: string;
  url: string;
  /** already decided (reverse mode: a registered platform instance): dialled as is, without the destination policy */
  address?: string;
  /** reverse mode: members added to the record's detail JSON (`"k":"v",…`, the router's own values, never the client's) */
  detail?: string;
}

/**
 * The absolute-form URI split without `new URL` when it is already in the form URL would produce: a lower-case
 * host without a trailing dot, no dot segments, only characters the WHATWG URL parser leaves alone in a path and
 * query; anything else goes through URL, as does a host URL would read as an IPv4 number (last label numeric or
 * 0x…) unless it is a plain dotted quad.
 */
const PLAIN_ABSOLUTE = /^http:\/\/([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::(\d{1,5}))?(\/[A-Za-z0-9\-_~!$&()*+,;=:@/?%]*)?$/;
const NUMERIC_LABEL = /(?:^|\.)(?:\d+|0x[0-9a-f]*)$/;
const DOTTED_QUAD = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * Where a request goes: the absolute-form URI (RFC 9112 §3.2.2), else, in transparent mode, an origin-form
 * path (RFC 9112 §3.2.1) with the Host field; in cache mode only the latter. Undefined when the request names nothing this proxy can reach.
 */
export function requestTarget(head: RequestHead, mode: 'explicit' | 'transparent' | 'reverse' | 'cache'): Target | undefined {
  const raw = head.target;
  // cache mode is an origin server to its clients (the resolver sent them), not a proxy: origin-form only
  if (/^http:\/\//i.test(raw)) return mode === 'cache' ? undefined : absoluteTarget(raw);
  if ((mode !== 'transparent' && mode !== 'cache') || !raw.startsWith('/')) return undefined;
  return originTarget(raw, fieldValues(head.fields, 'host'));
}

const PERCENT_DOT_SEGMENT = /\/%2e/i;

/** An absolute-form `http://` URI (RFC 9112 §3.2.2) as a target; undefined when malformed. */
export function absoluteTarget(raw: string): Target | undefined {
  const m = PLAIN_ABSOLUTE.exec(raw);
  // a dot segment, plain or percent-encoded ("/%2E" is "/." to the WHATWG URL parser), goes through URL to be removed
  if (m && !raw.includes('/.', 7) && !PERCENT_DOT_SEGMENT.test(raw) && (!NUMERIC_LABEL.test(m[1]!) || DOTTED_QUAD.test(m[1]!))) {
    const port = m[2] === undefined ? 80 : Number(m[2]);
    if (port < 1 || port > 65535) return undefined;
    const path = m[3] ?? '/';
    const authority = port === 80 ? m[1]! : `${m[1]!}:${port}`;
    return { host: m[1]!, port, path, url: `http://${authority}${path}` };
  }
  if (!/^http:\/\//i.test(raw)) return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return undefined;
  }
  const a = parseAuthority(u.host, 80);
  if (!a) return undefined;
  return { ...a, path: `${u.pathname}${u.search}`, url: `http://${u.host}${u.pathname}${u.search}` };
}

/** An origin-form path (RFC 9112 §3.2.1) and the request's Host field values as a target. */
export function originTarget(path: string, hosts: readonly string[]): Target | undefined {
  // RFC 9112 §3.2: exactly one Host field
  if (hosts.length !== 1) return undefined;
  const a = parseAuthority(hosts[0]!, 80);
  if (!a) return undefined;
  const authority = a.port === 80 ? a.host : `${a.host}:${a.port}`;
  return { ...a, path, url: `http://${authority}${path}` };
}

/** A CONNECT request's authority-form target (RFC 9112 §3.2.3: host and port, the port required). */
export function authorityTarget(raw: string): { host: string; port: number } | undefined {
  const a = parseAuthority(raw, 0);
  return a && a.port !== 0 ? a : undefined;
}
