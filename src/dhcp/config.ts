import { z } from 'zod';
import { cidrField, ipv4Field, ipv4RangeField, macField } from '../config/fields.ts';
import { ipToInt, parseCidr } from '../wire/ipv4.ts';
import { starvationConfigSchema } from './starvation-config.ts';

/** One subnet served by DHCP: the LAN's own, or one behind a relay (found by giaddr, RFC 2131 §4.3.1). */
const subnetFields = {
  subnet: cidrField,
  range: ipv4RangeField,
  router: ipv4Field.optional(),
  dns: z.array(ipv4Field).default([]),
  domain: z.string().max(253).optional(),
};

/** Refinements run even when a field already failed (zod 4); an unparsable field is reported by its own check. */
function rangeInsideSubnet(s: { subnet: string; range: { start: string; end: string } }): boolean {
  try {
    const c = parseCidr(s.subnet);
    const inside = (ip: string): boolean => (ipToInt(ip) & c.mask) >>> 0 === c.network;
    return inside(s.range.start) && inside(s.range.end);
  } catch {
    return true;
  }
}
const rangeMessage = { message: 'range must lie inside subnet', path: ['range'] };

const reservation = z.strictObject({
  mac: macField,
  ip: ipv4Field,
  hostname: z.string().max(63).optional(),
  /** a name under `profiles:` (checked across slices by config/schema.ts) */
  profile: z.string().optional(),
});

/** The `dhcp:` config slice (with its `starvation:` sub-slice). Subnet/reservation consistency is checked here. */
export const dhcpConfigSchema = z
  .strictObject({
    mode: z.enum(['server', 'proxy', 'off']).default('server'),
    /** the server identifier (option 54); defaults to the LAN interface's first IPv4 address */
    serverId: ipv4Field.optional(),
    ...subnetFields,
    leaseSeconds: z.int().min(60).max(0x7fffffff).default(86400),
    offerHoldSeconds: z.int().min(1).max(600).default(30),
    declineQuarantineSeconds: z.int().min(0).default(3600),
    authoritative: z.boolean().default(true),
    /** key leases on option 61 instead of chaddr; off because PXE ROM, iPXE and the OS send different 61s */
    matchClientId: z.boolean().default(false),
    reservations: z.array(reservation).default([]),
    relaySubnets: z.array(z.strictObject(subnetFields).refine(rangeInsideSubnet, rangeMessage)).default([]),
    /**
     * The addresses relay agents send from. A relayed request (giaddr set) is served only from one of them: a
     * terminal that writes a giaddr into its own DISCOVERs would otherwise pass for a relay and skip the
     * chaddr and per-source checks, which only a direct request's frame source allows.
     */
    relayAgents: z.array(ipv4Field).default([]),
    conflictCheck: z.strictObject({ enabled: z.boolean().default(false), timeoutMs: z.int().min(100).max(5000).default(500) }).prefault({}),
    rateLimit: z.strictObject({ perMacPerSecond: z.number().positive().default(10), burst: z.int().min(1).default(20) }).prefault({}),
    starvation: starvationConfigSchema.prefault({}),
  })
  .refine(rangeInsideSubnet, rangeMessage)
  .refine((c) => c.relaySubnets.length === 0 || c.relayAgents.length > 0, {
    message: 'relaySubnets needs relayAgents: the addresses the relays send from (relayed requests from any other address are dropped)',
    path: ['relayAgents'],
  });
export type DhcpConfig = z.output<typeof dhcpConfigSchema>;
export type SubnetConfig = Pick<DhcpConfig, 'subnet' | 'range' | 'router' | 'dns' | 'domain'>;
