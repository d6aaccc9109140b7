import { Counter, Gauge, type Registry } from 'prom-client';
import { createStarvationMetrics } from './starvation-guard.ts';

/** DHCP metrics on the appliance's registry (no global default registry: tests run servers side by side). */
export function createDhcpMetrics(registry: Registry) {
  return {
    packetsIn: new Counter({
      name: 'bootgate_dhcp_packets_in_total',
      help: 'DHCP messages received, by message type',
      labelNames: ['type'],
      registers: [registry],
    }),
    packetsOut: new Counter({
      name: 'bootgate_dhcp_packets_out_total',
      help: 'DHCP messages sent, by message type',
      labelNames: ['type'],
      registers: [registry],
    }),
    drops: new Counter({
      name: 'bootgate_dhcp_drops_total',
      help: 'DHCP messages dropped, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    poolExhausted: new Counter({
      name: 'bootgate_dhcp_pool_exhausted_total',
      help: 'DISCOVERs that found no free address',
      labelNames: ['subnet'],
      registers: [registry],
    }),
    poolAddresses: new Gauge({
      name: 'bootgate_dhcp_pool_addresses',
      help: 'Pool addresses by state',
      labelNames: ['subnet', 'state'],
      registers: [registry],
    }),
    commitBatch: new Counter({ name: 'bootgate_dhcp_lease_commits_total', help: 'Lease records committed to the store', registers: [registry] }),
    starvation: createStarvationMetrics(registry),
  };
}
export type DhcpMetrics = ReturnType<typeof createDhcpMetrics>;
