import { z } from 'zod';
import { isIpv4 } from '../wire/ipv4.ts';
import { parseIpv6 } from '../wire/ip-address.ts';
import { nameToLabels } from './name.ts';

/** A literal IPv4 (dotted quad) or IPv6 address, no brackets: what a socket binds to or an A/AAAA record holds. */
const isIpAddress = (s: string): boolean => isIpv4(s) || (s.includes(':') && parseIpv6(s) !== undefined);
const ipField = z.string().refine(isIpAddress, { message: 'must be an IPv4 or IPv6 address' });

export interface UpstreamAddress {
  address: string;
  port: number;
}

/** "ip", "ip:port", "ipv6", "[ipv6]:port" → { address, port } (port 53 when absent). */
export function parseUpstream(text: string): UpstreamAddress | undefined {
  const bracket = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  const v4 = /^([\d.]+)(?::(\d{1,5}))?$/.exec(text);
  const m = bracket ?? v4;
  const address = m ? m[1]! : text;
  const port = m?.[2] !== undefined ? Number(m[2]) : 53;
  if (!isIpAddress(address) || port < 1 || port > 65535) return undefined;
  return { address, port };
}

const upstreamField = z.string().transform((s, ctx) => {
  const u = parseUpstream(s);
  if (!u) {
    ctx.addIssue({ code: 'custom', message: 'must be ip, ip:port, ipv6 or [ipv6]:port', input: s });
    return z.NEVER;
  }
  return u;
});

const hostnameField = z.string().refine(
  (s) => {
    try {
      return nameToLabels(s).length > 0 && /^[A-Za-z0-9_.-]+\.?$/.test(s);
    } catch {
      return false;
    }
  },
  { message: 'must be a domain name (letters, digits, "-", "_", labels of 1-63 characters)' },
);

/** The `dns:` config slice. Plug into the appliance schema as `dns: dnsConfigSchema.prefault({})`. */
export const dnsConfigSchema = z
  .strictObject({
    /** whether the resolver runs at all */
    enabled: z.boolean().default(false),
    /** addresses to listen on (UDP and TCP); empty = the LAN interface's address, which the appliance passes in */
    listen: z.array(ipField).default([]),
    /** port for UDP and TCP; 0 = an ephemeral port (tests only) */
    port: z.int().min(0).max(65535).default(53),
    /** recursive resolvers to forward to, tried in order: "ip", "ip:port", "[ipv6]:port" */
    upstreams: z.array(upstreamField).default([]),
    /** how long one upstream may take to answer one query before the next is tried */
    timeoutMs: z.int().min(50).max(30_000).default(1500),
    /** rounds over the upstream list before a query gets SERVFAIL */
    attempts: z.int().min(1).max(5).default(2),
    /** an upstream that timed out is tried last for this long */
    holdDownMs: z.int().min(0).max(3_600_000).default(30_000),
    /** cached (name, type, class) answers, LRU beyond this */
    cacheEntries: z.int().min(0).max(10_000_000).default(10_000),
    /** TTL clamp for cached answers (the TTL handed to clients is clamped the same way) */
    minTtlSeconds: z.int().min(0).max(86_400).default(0),
    maxTtlSeconds: z.int().min(1).max(604_800).default(86_400),
    /** ceiling for NXDOMAIN/NODATA caching (RFC 2308 §5 suggests one to three hours) */
    maxNegativeTtlSeconds: z.int().min(0).max(86_400).default(3600),
    /** largest UDP answer, whatever a client advertises (RFC 6891 §6.2.5; 1232 avoids IP fragmentation) */
    maxUdpPayloadBytes: z.int().min(512).max(4096).default(1232),
    /** the LAN's domain: names below it are answered here and never forwarded */
    domain: hostnameField.default('lan'),
    /** TTL of locally answered records */
    localTtlSeconds: z.int().min(0).max(86_400).default(60),
    /** fixed names → address(es); a name without a dot is also answered as <name>.<domain> */
    hosts: z.record(hostnameField, z.union([ipField, z.array(ipField).min(1)])).default({}),
    /** upstream queries outstanding at once; beyond it queries get SERVFAIL (a flood must not exhaust sockets) */
    maxInflight: z.int().min(1).max(100_000).default(2048),
    tcp: z
      .strictObject({
        /** a connection with no query in flight is closed after this (RFC 7766 §6.2.3) */
        idleMs: z.int().min(100).max(600_000).default(10_000),
        maxConnections: z.int().min(1).max(100_000).default(256),
        /** queries in flight on one connection; reading pauses beyond it (RFC 7766 §6.2.1.1 pipelining) */
        maxPipelined: z.int().min(1).max(1000).default(32),
      })
      .prefault({}),
  })
  .superRefine((c, ctx) => {
    if (c.enabled && c.upstreams.length === 0)
      ctx.addIssue({ code: 'custom', path: ['upstreams'], message: 'needs at least one upstream when dns.enabled is true', input: c.upstreams });
    if (c.minTtlSeconds > c.maxTtlSeconds)
      ctx.addIssue({ code: 'custom', path: ['minTtlSeconds'], message: 'must not be above maxTtlSeconds', input: c.minTtlSeconds });
  });
export type DnsConfig = z.output<typeof dnsConfigSchema>;
