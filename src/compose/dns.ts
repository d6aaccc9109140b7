import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AuditLog } from '../audit/log.ts';
import type { DnsConfig } from '../dns/config.ts';
import type { LocalAnswers } from '../dns/local.ts';
import { createDnsMetrics } from '../dns/metrics.ts';
import type { DnsQueryEvent } from '../dns/resolver.ts';
import { DnsServer } from '../dns/server.ts';
import type { SeatLookup } from '../gateway/seats-and-audit.ts';
import type { PlatformRegistry } from '../platforms/registry.ts';

export interface DnsServicesDeps {
  config: Readonly<DnsConfig>;
  lanAddress: () => string;
  /** service classes answered as `<class>.svc.<domain>` → the gateway */
  platforms: Pick<PlatformRegistry, 'classNames'>;
  /** configured classes (a class can be named before it has an instance) */
  configuredClasses: readonly string[];
  seats: SeatLookup;
  audit: AuditLog;
  /** the edge cache reached through DNS (cache.dnsListener): its domains and origins are answered with its listener's address */
  cacheNames?: { handles(name: string): boolean; address: string } | undefined;
  logger: Logger;
  registry: Registry;
}

/**
 * Wiring (composition root, with appliance.ts): the LAN resolver with the names the appliance owns —
 * `<class>.svc.<domain>` (the platforms' redirector) and `bootgate.<domain>` / `boot.<domain>` (the boot server) point
 * at the gateway's LAN address, the edge cache's names (with cache.dnsListener) at its listener — and every query of a seated terminal on the audit trail (`dns` records: the name,
 * the type, the rcode and the answers, against the person at the seat).
 */
export function createDnsServices(deps: DnsServicesDeps): { start(): Promise<void>; stop(): Promise<void> } {
  const domain = deps.config.domain.toLowerCase();
  const svcSuffix = `.svc.${domain}`;
  const own = new Set([`bootgate.${domain}`, `boot.${domain}`]);
  let lan = '';
  const localAnswers: LocalAnswers = {
    lookup: (name) => {
      if (own.has(name)) return { addresses: [lan] };
      if (deps.cacheNames?.handles(name)) return { addresses: [deps.cacheNames.address] };
      if (!name.endsWith(svcSuffix)) return undefined;
      const cls = name.slice(0, -svcSuffix.length);
      return deps.configuredClasses.includes(cls) || deps.platforms.classNames().includes(cls) ? { addresses: [lan] } : undefined;
    },
  };
  const onQuery = (e: DnsQueryEvent): void => {
    const s = deps.seats.lookupByIp(e.clientIp);
    if (!s) return;
    // appended, not awaited: the answer has gone; the group commit makes it durable within milliseconds
    void deps.audit
      .append({
        kind: 'dns',
        seat: s.seat,
        ip: e.clientIp,
        mac: s.mac,
        userId: s.user.id,
        userName: s.user.name,
        docType: s.user.docType,
        docNumber: s.user.docNumber,
        docCountry: s.user.docCountry ?? null,
        sessionId: s.sessionId,
        method: e.type,
        host: e.name,
        verdict: e.rcode === 'NOERROR' ? 'allowed' : 'error',
        detail: JSON.stringify({ rcode: e.rcode, answers: e.answers, source: e.source, transport: e.transport }),
      })
      .catch((err: unknown) => deps.logger.error({ module: 'dns', err, ip: e.clientIp, name: e.name }, 'dns audit record not committed'));
  };
  let server: DnsServer | undefined;
  return {
    start: async () => {
      lan = deps.lanAddress();
      server = new DnsServer({
        config: deps.config,
        lanAddress: lan,
        logger: deps.logger,
        metrics: createDnsMetrics(deps.registry),
        localAnswers,
        onQuery,
      });
      await server.start();
    },
    stop: async () => {
      await server?.stop();
      server = undefined;
    },
  };
}
