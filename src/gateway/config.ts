import { z } from 'zod';
import { ipv4Field, portField } from '../config/fields.ts';
import { networksOverlap, parseIpNetwork, type IpNetwork } from '../wire/ip-address.ts';

/** An allow-list entry: a network in CIDR form that does not reach the gateway's own loopback or "this host". */
const allowedNetwork = z.string().superRefine((s, ctx) => {
  let net: IpNetwork;
  try {
    net = parseIpNetwork(s);
  } catch (e) {
    return void ctx.addIssue({
      code: 'custom',
      message: `must be a network in CIDR form, e.g. 192.168.50.0/24 or fd00:50::/64 (${(e as Error).message})`,
    });
  }
  for (const forbidden of ['127.0.0.0/8', '0.0.0.0/8', '::1/128', '::/128'].map((c) => parseIpNetwork(c))) {
    if (networksOverlap(net, forbidden))
      ctx.addIssue({ code: 'custom', message: `overlaps ${forbidden.text}: the gateway itself is never an allowed destination` });
  }
});

/** The `gateway:` config slice: bootgate as the terminals' logging gateway (nftables gate + proxies). */
export const gatewayConfigSchema = z.strictObject({
  /** needs interfaces.wan for NAT */
  enabled: z.boolean().default(false),
  table: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,30}$/, 'must be an nftables table name')
    .default('bootgate'),
  /** turn on IPv4 forwarding while the gateway runs (and restore it on stop) */
  manageForwarding: z.boolean().default(true),
  listen: ipv4Field.default('0.0.0.0'),
  explicitProxyPort: portField.default(3128),
  httpInterceptPort: portField.default(3129),
  tlsInterceptPort: portField.default(3130),
  /** ports the explicit proxy opens CONNECT tunnels to ('any': no restriction); others are refused (and recorded) */
  connectPorts: z.union([z.literal('any'), z.array(portField).min(1)]).default([443]),
  portal: z
    .strictObject({
      port: portField.default(8081),
      /** default: http://<boot.serverAddress or the LAN address>:<port>/ */
      url: z.string().url().optional(),
      message: z.string().default('This seat has no open session. Please see the cashier.'),
    })
    .prefault({}),
  connectTimeoutMs: z.int().min(100).default(10_000),
  idleTimeoutMs: z.int().min(1000).default(120_000),
  tlsHelloTimeoutMs: z.int().min(100).default(10_000),
  /** fixed name → address answers for upstream lookups (labs and tests; empty in production) */
  hosts: z.record(z.string(), ipv4Field).default({}),
  /** `flow` audit records for other forwarded traffic (UDP, ICMP, other TCP ports) from conntrack events */
  flowLog: z.boolean().default(true),
  /** private networks seats may reach anyway (the shop's own servers); never the gateway itself or loopback */
  allowDestinations: z.array(allowedNetwork).default([]),
  /** intercepted HTTP/TLS whose Host or SNI names another place than the address dialled: record, or also refuse */
  hostMismatch: z.enum(['record', 'refuse']).default('record'),
});
export type GatewaySettings = z.output<typeof gatewayConfigSchema>;
/** What the gateway services read: the slice with the portal URL resolved (the appliance knows the LAN address). */
export type GatewayConfig = Omit<GatewaySettings, 'enabled' | 'portal'> & { portal: { port: number; url: string; message: string } };
