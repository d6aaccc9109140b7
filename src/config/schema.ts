import { z } from 'zod';
import { isIpv4, ipToInt, parseCidr, parseMac } from '../wire/ipv4.ts';
import { tftpConfigSchema } from '../tftp/config.ts';
import { starvationConfigSchema } from '../dhcp/starvation-config.ts';
import { networksOverlap, parseIpNetwork, type IpNetwork } from '../wire/ip-address.ts';

const ipv4 = z.string().refine(isIpv4, { message: 'must be a dotted IPv4 address' });
const cidr = z.string().refine(
  (s) => {
    try {
      parseCidr(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be a subnet in CIDR form with no host bits set, e.g. 10.0.0.0/24' },
);
const mac = z.string().refine(
  (s) => {
    try {
      parseMac(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be a MAC address like 52:54:00:12:34:56' },
);
/** An allow-list entry: a network in CIDR form that does not reach the gateway's own loopback or "this host". */
const allowedNetwork = z.string().superRefine((s, ctx) => {
  let net: IpNetwork;
  try {
    net = parseIpNetwork(s);
  } catch (e) {
    return void ctx.addIssue({ code: 'custom', message: `must be a network in CIDR form, e.g. 192.168.50.0/24 or fd00:50::/64 (${(e as Error).message})` });
  }
  for (const forbidden of ['127.0.0.0/8', '0.0.0.0/8', '::1/128', '::/128'].map((c) => parseIpNetwork(c))) {
    if (networksOverlap(net, forbidden)) ctx.addIssue({ code: 'custom', message: `overlaps ${forbidden.text}: the gateway itself is never an allowed destination` });
  }
});
const ifname = z.string().regex(/^[A-Za-z0-9_.:@-]{1,15}$/, 'must be a network interface name (1-15 characters)');

const range = z
  .strictObject({ start: ipv4, end: ipv4 })
  .refine((r) => ipToInt(r.start) <= ipToInt(r.end), { message: 'start must not be above end' });

/** One subnet served by DHCP: the LAN's own, or one behind a relay (found by giaddr, RFC 2131 §4.3.1). */
const subnetFields = {
  subnet: cidr,
  range,
  router: ipv4.optional(),
  dns: z.array(ipv4).default([]),
  domain: z.string().max(253).optional(),
};

/** Refinements run even when a field already failed (zod 4); an unparsable field is reported by its own check. */
function rangeInsideSubnet(s: { subnet: string; range: { start: string; end: string } }): boolean {
  try {
    const c = parseCidr(s.subnet);
    const inside = (ip: string): boolean => ((ipToInt(ip) & c.mask) >>> 0) === c.network;
    return inside(s.range.start) && inside(s.range.end);
  } catch {
    return true;
  }
}
const rangeMessage = { message: 'range must lie inside subnet', path: ['range'] };

const reservation = z.strictObject({
  mac,
  ip: ipv4,
  hostname: z.string().max(63).optional(),
  profile: z.string().optional(),
});

const profile = z.union([
  z.strictObject({ kernel: z.string(), initrd: z.array(z.string()).default([]), cmdline: z.string().default('') }),
  z.strictObject({ sanboot: z.string() }),
  z.strictObject({ chain: z.string().url() }),
  z.strictObject({ exit: z.literal(true) }),
]);

const baseSchema = z.strictObject({
    dataDir: z.string().default('/var/lib/bootgate'),
    interfaces: z.strictObject({ lan: ifname, wan: ifname.optional() }),
    log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info') }).prefault({}),
    dhcp: z
      .strictObject({
        mode: z.enum(['server', 'proxy', 'off']).default('server'),
        /** the server identifier (option 54); defaults to the LAN interface's first IPv4 address */
        serverId: ipv4.optional(),
        ...subnetFields,
        leaseSeconds: z.int().min(60).max(0x7fffffff).default(86400),
        offerHoldSeconds: z.int().min(1).max(600).default(30),
        declineQuarantineSeconds: z.int().min(0).default(3600),
        authoritative: z.boolean().default(true),
        /** key leases on option 61 instead of chaddr; off because PXE ROM, iPXE and the OS send different 61s */
        matchClientId: z.boolean().default(false),
        reservations: z.array(reservation).default([]),
        relaySubnets: z.array(z.strictObject(subnetFields).refine(rangeInsideSubnet, rangeMessage)).default([]),
        conflictCheck: z
          .strictObject({ enabled: z.boolean().default(false), timeoutMs: z.int().min(100).max(5000).default(500) })
          .prefault({}),
        rateLimit: z
          .strictObject({ perMacPerSecond: z.number().positive().default(10), burst: z.int().min(1).default(20) })
          .prefault({}),
        starvation: starvationConfigSchema.prefault({}),
      })
      .refine(rangeInsideSubnet, rangeMessage),
    boot: z
      .strictObject({
        /** where terminals fetch boot files (siaddr, TFTP and HTTP); defaults to the DHCP server identifier */
        serverAddress: ipv4.optional(),
        defaultProfile: z.string().default('default'),
        files: z
          .strictObject({
            bios: z.string().max(127).default('undionly.kpxe'),
            x64Efi: z.string().max(127).default('ipxe.efi'),
            ia32Efi: z.string().max(127).default('ipxe-i386.efi'),
            arm64Efi: z.string().max(127).default('ipxe-arm64.efi'),
          })
          .prefault({}),
        /** the iPXE script path on the HTTP boot server; ${mac} is replaced by the terminal's MAC */
        ipxeScriptPath: z.string().default('/boot.ipxe?mac=${mac}'),
      })
      .prefault({}),
    profiles: z.record(z.string(), profile).default({}),
    ipv6: z
      .strictObject({
        /** RFC 4861 router advertisements on the LAN, so iPXE's IPv6 autoconf ends at once instead of after ~13 s */
        routerAdvertisements: z
          .strictObject({
            enabled: z.boolean().default(true),
            prefix: z.string().regex(/^[0-9a-fA-F:]+\/64$/, 'must be an IPv6 /64 prefix such as fd00:b007::/64').default('fd00:b007::/64'),
            intervalSeconds: z.int().min(3).max(1800).default(30),
          })
          .prefault({}),
      })
      .prefault({}),
    tftp: tftpConfigSchema.prefault({}),
    http: z
      .strictObject({
        /** listen address; the LAN address keeps the boot server off the WAN side */
        listen: ipv4.default('0.0.0.0'),
        port: z.int().min(1).max(65535).default(80),
        /** boot files; default: tftp.root */
        root: z.string().optional(),
        /** base URL written into iPXE scripts; default: the address and port the terminal connected to */
        publicBaseUrl: z.string().url().optional(),
        readChunkBytes: z.int().min(4096).max(64 << 20).default(1 << 20),
        readBuffers: z.int().min(1).max(64).default(4),
        /** large files go from the page cache to the socket with sendfile(2) (false: read + write through buffers) */
        sendfile: z.boolean().default(true),
        smallFileBytes: z.int().min(0).default(64 << 10),
        cacheBytes: z.int().min(0).default(64 << 20),
        revalidateMs: z.int().min(0).default(1000),
        /** extra processes sharing the listener for boot files (0: all in the main process) */
        workers: z.int().min(0).max(64).default(0),
        /** open connections one client address may hold (per process); more are closed at once; 0: no limit */
        maxConnectionsPerClient: z.int().min(0).default(64),
      })
      .prefault({}),
    iscsi: z
      .strictObject({
        listen: ipv4.default('0.0.0.0'),
        port: z.int().min(1).max(65535).default(3260),
        portalGroupTag: z.int().min(1).max(65535).default(1),
        /** commands in flight per session (CmdSN window) */
        cmdWindow: z.int().min(1).max(1024).default(64),
        maxWriteBytes: z.int().min(4096).default(32 << 20),
        maxConnections: z.int().min(1).default(1024),
        /** golden disk images: name → file; each terminal sees `iqn.2026-11.io.bootgate:disk.<name>.<mac>` */
        images: z.record(z.string().regex(/^[a-z0-9][a-z0-9.-]*$/, 'image names are lowercase letters, digits, "." and "-"'), z.string()).default({}),
        overlays: z
          .strictObject({
            /** discard: clean image at every boot; keep: writes survive reboots; super: writes become a new image version on commit */
            defaultMode: z.enum(['discard', 'keep', 'super']).default('discard'),
            terminals: z.record(mac, z.enum(['discard', 'keep', 'super'])).default({}),
            /** per-terminal overlay bound; default: the disk size */
            limitBytes: z.int().min(1 << 20).optional(),
          })
          .prefault({}),
        /** CHAP per image (optional): the terminal's initiator must prove `secret`; target* makes it mutual */
        chap: z
          .record(z.string(), z.strictObject({ user: z.string().min(1), secret: z.string().min(12).max(255), targetUser: z.string().min(1).optional(), targetSecret: z.string().min(12).max(255).optional() }))
          .default({}),
      })
      .prefault({}),
    gateway: z
      .strictObject({
        /** bootgate as the terminals' logging gateway: nftables gate + proxies (needs interfaces.wan for NAT) */
        enabled: z.boolean().default(false),
        table: z.string().regex(/^[a-z][a-z0-9_]{0,30}$/, 'must be an nftables table name').default('bootgate'),
        /** turn on IPv4 forwarding while the gateway runs (and restore it on stop) */
        manageForwarding: z.boolean().default(true),
        listen: ipv4.default('0.0.0.0'),
        explicitProxyPort: z.int().min(1).max(65535).default(3128),
        httpInterceptPort: z.int().min(1).max(65535).default(3129),
        tlsInterceptPort: z.int().min(1).max(65535).default(3130),
        /** ports the explicit proxy opens CONNECT tunnels to ('any': no restriction); others are refused (and recorded) */
        connectPorts: z.union([z.literal('any'), z.array(z.int().min(1).max(65535)).min(1)]).default([443]),
        portal: z
          .strictObject({
            port: z.int().min(1).max(65535).default(8081),
            /** default: http://<boot.serverAddress or the LAN address>:<port>/ */
            url: z.string().url().optional(),
            message: z.string().default('This seat has no open session. Please see the cashier.'),
          })
          .prefault({}),
        connectTimeoutMs: z.int().min(100).default(10_000),
        idleTimeoutMs: z.int().min(1000).default(120_000),
        tlsHelloTimeoutMs: z.int().min(100).default(10_000),
        /** fixed name → address answers for upstream lookups (labs and tests) */
        hosts: z.record(z.string(), ipv4).default({}),
        /** `flow` audit records for other forwarded traffic (UDP, ICMP, other TCP ports) from conntrack events */
        flowLog: z.boolean().default(true),
        /** private networks seats may reach anyway (the shop's own servers); never the gateway itself or loopback */
        allowDestinations: z.array(allowedNetwork).default([]),
        /** intercepted HTTP/TLS whose Host or SNI names another place than the address dialled: record, or also refuse */
        hostMismatch: z.enum(['record', 'refuse']).default('record'),
      })
      .prefault({}),
    audit: z
      .strictObject({
        /** audit records older than this are purged behind a signed checkpoint; 0 keeps everything */
        retentionDays: z.int().min(0).default(365),
      })
      .prefault({}),
    api: z.strictObject({ listen: z.string().regex(/^[^:]+:\d+$/, 'must be host:port').default('127.0.0.1:8443') }).prefault({}),
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
      const inLan = ((ipToInt(r.ip) & sub.mask) >>> 0) === sub.network;
      const inRelay = c.dhcp.relaySubnets.some((s) => {
        const rc = parseCidr(s.subnet);
        return ((ipToInt(r.ip) & rc.mask) >>> 0) === rc.network;
      });
      if (!inLan && !inRelay) ctx.addIssue({ code: 'custom', path: ['dhcp', 'reservations', i, 'ip'], message: 'is in no configured subnet', input: r.ip });
      if (r.profile !== undefined && !(r.profile in c.profiles)) {
        ctx.addIssue({ code: 'custom', path: ['dhcp', 'reservations', i, 'profile'], message: 'names no profile under profiles', input: r.profile });
      }
    });
    if (Object.keys(c.profiles).length > 0 && !(c.boot.defaultProfile in c.profiles)) {
      ctx.addIssue({ code: 'custom', path: ['boot', 'defaultProfile'], message: 'names no profile under profiles', input: c.boot.defaultProfile });
    }
    for (const [name, p] of Object.entries(c.profiles)) {
      if ('sanboot' in p && !(p.sanboot in c.iscsi.images)) {
        ctx.addIssue({ code: 'custom', path: ['profiles', name, 'sanboot'], message: 'names no image under iscsi.images', input: p.sanboot });
      }
    }
    const macs = new Set<string>();
    c.dhcp.reservations.forEach((r, i) => {
      const k = parseMac(r.mac).toString('hex');
      if (macs.has(k)) ctx.addIssue({ code: 'custom', path: ['dhcp', 'reservations', i, 'mac'], message: 'is reserved twice', input: r.mac });
      macs.add(k);
    });
}

export type Config = z.infer<typeof configSchema>;
export type DhcpConfig = Config['dhcp'];
export type SubnetConfig = Pick<DhcpConfig, 'subnet' | 'range' | 'router' | 'dns' | 'domain'>;
