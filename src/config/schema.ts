import { z } from 'zod';
import { bootConfigSchema, bootProfilesSchema } from '../boot/config.ts';
import { cacheConfigSchema } from '../cache/config.ts';
import { dhcpConfigSchema } from '../dhcp/config.ts';
import { dnsConfigSchema } from '../dns/config.ts';
import { gatewayConfigSchema } from '../gateway/config.ts';
import { httpConfigSchema } from '../http/config.ts';
import { iscsiTargetConfigFields } from '../iscsi/config.ts';
import { overlayConfigFields } from '../overlay/config.ts';
import { platformsConfigSchema } from '../platforms/config.ts';
import { parseMac } from '../terminal/mac.ts';
import { tftpConfigSchema } from '../tftp/config.ts';
import { uiConfigSchema } from '../ui/config.ts';
import { ipToInt, parseCidr } from '../wire/ipv4.ts';
import { ifnameField } from './fields.ts';

/**
 * The appliance's configuration: one slice per module, each a zod schema in that module's `config.ts` (with its
 * type inferred there), composed here. What spans slices (a reservation's profile, a profile's image, reserved
 * addresses inside a subnet) is checked below, so `bootgate check-config` reports it by key before anything starts.
 */
const baseSchema = z.strictObject({
  dataDir: z.string().default('/var/lib/bootgate'),
  interfaces: z.strictObject({ lan: ifnameField, wan: ifnameField.optional() }),
  log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info') }).prefault({}),
  dhcp: dhcpConfigSchema,
  boot: bootConfigSchema.prefault({}),
  profiles: bootProfilesSchema,
  ipv6: z
    .strictObject({
      /** RFC 4861 router advertisements on the LAN, so iPXE's IPv6 autoconf ends at once instead of after ~13 s */
      routerAdvertisements: z
        .strictObject({
          enabled: z.boolean().default(true),
          prefix: z
            .string()
            .regex(/^[0-9a-fA-F:]+\/64$/, 'must be an IPv6 /64 prefix such as fd00:b007::/64')
            .default('fd00:b007::/64'),
          intervalSeconds: z.int().min(3).max(1800).default(30),
        })
        .prefault({}),
    })
    .prefault({}),
  tftp: tftpConfigSchema.prefault({}),
  http: httpConfigSchema.prefault({}),
  /** the target's own settings (iscsi/config.ts) and the images and overlays it serves (overlay/config.ts) */
  iscsi: z.strictObject({ ...iscsiTargetConfigFields, ...overlayConfigFields }).prefault({}),
  gateway: gatewayConfigSchema.prefault({}),
  platforms: platformsConfigSchema.prefault({}),
  dns: dnsConfigSchema.prefault({}),
  ui: uiConfigSchema.prefault({}),
  cache: cacheConfigSchema.prefault({}),
  audit: z
    .strictObject({
      /** audit records older than this are purged behind a signed checkpoint; 0 keeps everything */
      retentionDays: z.int().min(0).default(365),
    })
    .prefault({}),
  api: z
    .strictObject({
      listen: z
        .string()
        .regex(/^[^:]+:\d+$/, 'must be host:port')
        .default('127.0.0.1:8443'),
    })
    .prefault({}),
});

export const configSchema = baseSchema.superRefine((c, ctx) => {
  try {
    crossCheck(c, ctx);
  } catch {
    /* a field this check reads failed its own validation, which already reported it */
  }
});

function crossCheck(c: z.output<typeof baseSchema>, ctx: z.RefinementCtx): void {
  const sub = parseCidr(c.dhcp.subnet);
  c.dhcp.reservations.forEach((r, i) => {
    const inLan = (ipToInt(r.ip) & sub.mask) >>> 0 === sub.network;
    const inRelay = c.dhcp.relaySubnets.some((s) => {
      const rc = parseCidr(s.subnet);
      return (ipToInt(r.ip) & rc.mask) >>> 0 === rc.network;
    });
    if (!inLan && !inRelay)
      ctx.addIssue({ code: 'custom', path: ['dhcp', 'reservations', i, 'ip'], message: 'is in no configured subnet', input: r.ip });
    if (r.profile !== undefined && !Object.hasOwn(c.profiles, r.profile)) {
      ctx.addIssue({ code: 'custom', path: ['dhcp', 'reservations', i, 'profile'], message: 'names no profile under profiles', input: r.profile });
    }
  });
  if (Object.keys(c.profiles).length > 0 && !Object.hasOwn(c.profiles, c.boot.defaultProfile)) {
    ctx.addIssue({ code: 'custom', path: ['boot', 'defaultProfile'], message: 'names no profile under profiles', input: c.boot.defaultProfile });
  }
  for (const [name, p] of Object.entries(c.profiles)) {
    if ('sanboot' in p && !Object.hasOwn(c.iscsi.images, p.sanboot)) {
      ctx.addIssue({ code: 'custom', path: ['profiles', name, 'sanboot'], message: 'names no image under iscsi.images', input: p.sanboot });
    }
  }
  const l = c.cache.dnsListener;
  if (c.cache.enabled && l && l.port === c.http.port && (c.http.listen === '0.0.0.0' || c.http.listen === l.address))
    ctx.addIssue({
      code: 'custom',
      path: ['cache', 'dnsListener', 'address'],
      message: `the HTTP boot server listens on ${c.http.listen}:${c.http.port} too: give it another address (http.listen: the LAN address) or port`,
      input: l.address,
    });
  const macs = new Set<string>();
  c.dhcp.reservations.forEach((r, i) => {
    const k = parseMac(r.mac);
    if (macs.has(k)) ctx.addIssue({ code: 'custom', path: ['dhcp', 'reservations', i, 'mac'], message: 'is reserved twice', input: r.mac });
    macs.add(k);
  });
}

export type Config = z.infer<typeof configSchema>;
