import type { ReverseRouter } from '../gateway/proxy/context.ts';
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
    const base = new URL(d.instance.url);
    const address = parseIpLiteral(base.hostname.replace(/^\[|\]$/g, ''));
    if (base.protocol !== 'http:' || !address)
      return {
        page: refusalPage(502, 'Bad gateway', `The ${p.cls} instance ${d.instance.name} must have an http:// URL with an IP address to be proxied.`),
      };
    // the path and query go on byte for byte (no URL normalisation), after the instance's own path prefix
    const path = `${base.pathname.replace(/\/+$/, '')}/${p.rest}${p.query ? `?${p.query}` : ''}`;
    const text = formatIp(address);
    const host = text.includes(':') ? `[${text}]` : text;
    return { target: { host, port: Number(base.port || 80), path, url: location, address: text }, session };
  };
}
