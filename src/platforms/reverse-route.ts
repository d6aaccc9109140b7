import type { ReverseRouter } from '../gateway/proxy/context.ts';
import type { Page } from '../gateway/proxy/refusals.ts';
import { refusalPage } from '../gateway/proxy/headers.ts';
import type { SeatSession } from '../gateway/seats-and-audit.ts';
import { formatIp, parseIpLiteral } from '../wire/ip-address.ts';
import { classSettings, type PlatformsConfig } from './config.ts';
import type { PlatformRegistry } from './registry.ts';
import { parseSvcPath, svcLocation, unavailablePage } from './svc-path.ts';

const NOT_SVC = refusalPage(404, 'No such service', 'The form is /svc/<class>/<path>.');

/**
 * The reverse proxy's router (gateway/proxy in reverse mode): `/svc/<class>/<path>?<query>` of a class in proxy
 * mode goes to the chosen instance, which is dialled as registered (being registered makes it an allowed
 * destination, LAN or private included; the terminals' own traffic keeps the destination policy); a class in
 * redirect mode gets its 302/307 here too; nothing to choose → 503 with Retry-After.
 */
export function platformReverseRouter(deps: {
  registry: PlatformRegistry;
  config: Readonly<PlatformsConfig>;
  /** the seat recorded against (an open session), if any */
  seatAt: (ip: string) => SeatSession | undefined;
}): ReverseRouter {
  // an instance's base URL → where to dial it, parsed once (the URL of an instance never changes; a new URL is a
  // new entry here); bounded by the instances ever registered while this process runs
  const upstreams = new Map<string, InstanceUpstream | Page>();
  return (ip, head) => {
    const p = parseSvcPath(head.target);
    if (!p) return { page: NOT_SVC };
    const session = deps.seatAt(ip);
    const d = deps.registry.choose(p.cls, session ? { seat: session.seat, sessionKey: session.sessionId } : {});
    if (!d.ok) return { page: unavailablePage(d) };
    const location = svcLocation(d.instance.url, p);
    if (classSettings(deps.config, p.cls).mode !== 'proxy') {
      const status = head.method === 'GET' || head.method === 'HEAD' ? 302 : 307;
      return { page: { status, body: '', headers: { location } } };
    }
    let up = upstreams.get(d.instance.url);
    if (!up) upstreams.set(d.instance.url, (up = upstreamOf(p.cls, d.instance.name, d.instance.url)));
    if ('status' in up) return { page: up };
    // the path and query go on byte for byte (no URL normalisation), after the instance's own path prefix
    const path = `${up.prefix}/${p.rest}${p.query ? `?${p.query}` : ''}`;
    // a seat's record says which instance its choice was (who was sent where); class, name (validated patterns) and
    // the id (a UUID) need no escaping in JSON
    const target = session
      ? { host: up.host, port: up.port, path, url: location, address: up.address, detail: platformDetail(d) }
      : { host: up.host, port: up.port, path, url: location, address: up.address };
    return { target, session };
  };
}

interface InstanceUpstream {
  /** the authority's host as the Host field names it ("[v6]" bracketed) */
  host: string;
  port: number;
  /** the instance's path prefix, without trailing slashes */
  prefix: string;
  /** the IP literal dialled */
  address: string;
}

/** Where an instance is dialled, or the 502 page when its URL cannot be proxied (https, or a name). */
function upstreamOf(cls: string, name: string, url: string): InstanceUpstream | Page {
  const base = new URL(url);
  const address = parseIpLiteral(base.hostname.replace(/^\[|\]$/g, ''));
  if (base.protocol !== 'http:' || !address)
    return refusalPage(502, 'Bad gateway', `The ${cls} instance ${name} must have an http:// URL with an IP address to be proxied.`);
  const text = formatIp(address);
  return { host: text.includes(':') ? `[${text}]` : text, port: Number(base.port || 80), prefix: base.pathname.replace(/\/+$/, ''), address: text };
}

function platformDetail(d: { class: string; instance: { id: string; name: string }; reason: string }): string {
  return `"class":"${d.class}","instance":"${d.instance.id}","name":"${d.instance.name}","reason":"${d.reason}"`;
}
