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

/** The fields that frame the body (RFC 9112 §6.3); only the proxy's options decide whether they go. */
const FRAMING = new Set(['content-length', 'transfer-encoding']);

/** DROPPABLE_LENGTH[n]: some hop-by-hop or framing field (or Host) has a name n characters long */
const DROPPABLE_LENGTH: boolean[] = [];
for (const k of [...HOP_BY_HOP, ...FRAMING, 'host']) DROPPABLE_LENGTH[k.length] = true;

export interface ForwardOptions {
  /** drop Host (the proxy writes the target's authority itself, RFC 9112 §3.2.2) */
  dropHost?: boolean;
  /**
   * keep Transfer-Encoding: the body is relayed as it arrived, still in that coding (RFC 9112 §6.1 makes the
   * field hop-by-hop only in that a recipient may change the coding; this proxy does not)
   */
  keepTransferEncoding?: boolean;
  /** drop Content-Length (RFC 9112 §6.3 rule 3: a message with Transfer-Encoding must not forward it) */
  dropContentLength?: boolean;
}

/**
 * The end-to-end fields of a head, as the header block to forward ("Name: value\r\n" lines, no final blank
 * line): hop-by-hop fields and those the Connection header names dropped, repeated fields (Set-Cookie) kept in
 * their order, names as sent. `fields` is the flat list of http1-head.ts (name, value, name, value …).
 */
export function forwardedHead(fields: readonly string[], o: ForwardOptions): string {
  let named: Set<string> | undefined;
  /** lengths of the names the Connection field lists, as bits (31: 31 or longer) */
  let namedLengths = 0;
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i]!.length === 10 && fields[i]!.toLowerCase() === 'connection') {
      named ??= new Set();
      for (const t of fields[i + 1]!.split(',')) {
        const k = t.trim().toLowerCase();
        named.add(k);
        namedLengths |= 1 << Math.min(k.length, 31);
      }
    }
  }
  let out = '';
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    // a name whose length no dropped name has is kept as it is, without being lower-cased (this runs for every
    // field of every message relayed)
    const n = name.length;
    if (!DROPPABLE_LENGTH[n] && (named === undefined || (namedLengths & (1 << Math.min(n, 31))) === 0)) {
      out += `${name}: ${fields[i + 1]!}\r\n`;
      continue;
    }
    const k = name.toLowerCase();
    // a connection option naming a framing field must not remove it: the body is relayed as framed, so without
    // its Content-Length (or Transfer-Encoding) the next hop would read the body bytes as the next message
    if (named?.has(k) && !FRAMING.has(k)) continue;
    if (HOP_BY_HOP.has(k) && !(o.keepTransferEncoding && k === 'transfer-encoding')) continue;
    if ((o.dropHost && k === 'host') || (o.dropContentLength && k === 'content-length')) continue;
    out += `${name}: ${fields[i + 1]!}\r\n`;
  }
  return out;
}

/**
 * Splits an authority ("host:port", "[v6]:port", "host") into host and port. Undefined when malformed. The host is
 * an RFC 3986 §3.2.2 reg-name (unreserved, sub-delims, pct-encoded) or IP literal: no "#", "?", "\\", controls or
 * other bytes that would make the URL written to the audit record name a different host than the one dialled
 * (a Host of "bank.example#.evil.example" is looked up as such, but reads as bank.example).
 */
export function parseAuthority(authority: string, defaultPort: number): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9\-._~!$&'()*+,;=%]+))(?::(\d{1,5}))?$/.exec(authority);
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
