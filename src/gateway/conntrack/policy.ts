/**
 * Which ended flows become `flow` audit records: pure (event + what the gateway is → decision), so it is tested
 * without a kernel. A record is written for a flow that a LAN seat started and the gateway *forwarded*; the rest
 * is either not a seat's traffic or is recorded elsewhere:
 *
 *   not_ipv4       seats are IPv4-only (the LAN has no IPv6 forwarding)
 *   not_lan        the original source is outside the LAN subnet (the gateway's own upstream connections, WAN)
 *   from_gateway   the gateway's own LAN address talking to a seat
 *   broadcast      to 255.255.255.255, the LAN broadcast address or multicast (DHCP, discovery): never forwarded
 *   to_gateway     to one of the gateway's addresses: DNS, DHCP, TFTP, HTTP boot, iSCSI, the portal, the explicit
 *                  proxy (those services keep their own logs; the explicit proxy writes http/tunnel records)
 *   lan_local      seat to seat inside the LAN subnet: bridged, not routed by the gateway
 *   redirected     the reply comes from the gateway itself although the seat dialled another host: nftables
 *                  redirected it (tcp/80 → HTTP interceptor, tcp/443 → TLS interceptor, no session → portal), and
 *                  the interceptor writes the http/tls record, so a flow record would count it twice
 */
import { broadcastOf, cidrContains, ipToInt, type Cidr } from '../../wire/ipv4.ts';
import type { ConntrackEvent } from './event.ts';

export const FLOW_SKIP_REASONS = ['not_ipv4', 'not_lan', 'from_gateway', 'broadcast', 'to_gateway', 'lan_local', 'redirected'] as const;
export type FlowSkipReason = (typeof FLOW_SKIP_REASONS)[number];

export interface FlowPolicy {
  lanSubnet: Cidr;
  /** true for any address of the gateway host (every interface, loopback included) */
  isGatewayAddress: (ip: string) => boolean;
}

const MULTICAST: Cidr = { network: 0xe0000000, prefix: 4, mask: 0xf0000000 };

export function classifyFlow(e: ConntrackEvent, p: FlowPolicy): { record: true } | { record: false; reason: FlowSkipReason } {
  if (e.family !== 'ipv4') return { record: false, reason: 'not_ipv4' };
  const { src, dst } = e.original;
  if (!cidrContains(p.lanSubnet, ipToInt(src))) return { record: false, reason: 'not_lan' };
  if (p.isGatewayAddress(src)) return { record: false, reason: 'from_gateway' };
  const d = ipToInt(dst);
  if (d === 0xffffffff || d === broadcastOf(p.lanSubnet) || cidrContains(MULTICAST, d)) return { record: false, reason: 'broadcast' };
  if (p.isGatewayAddress(dst)) return { record: false, reason: 'to_gateway' };
  if (cidrContains(p.lanSubnet, d)) return { record: false, reason: 'lan_local' };
  if (p.isGatewayAddress(e.reply.src)) return { record: false, reason: 'redirected' };
  return { record: true };
}
