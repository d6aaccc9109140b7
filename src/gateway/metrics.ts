import { Counter, Gauge, type Registry } from 'prom-client';
import { DeferredCounts } from '../log/deferred-counts.ts';

/** Gateway metrics on the appliance's registry (never the global default registry). */
export function createGatewayMetrics(registry: Registry) {
  // one per request or tunnel: counted as plain numbers, added to `requests` when it is collected
  const requestCounts = new DeferredCounts(() => requests);
  const requests: Counter = new Counter({
    name: 'bootgate_gateway_requests_total',
    help: 'Proxied requests and tunnels, by kind and verdict',
    labelNames: ['kind', 'verdict'],
    registers: [registry],
    collect: () => requestCounts.flush(),
  });
  return {
    requests,
    /** `requests` for the hot path: `requestCounts.slot({kind, verdict})` once per label set, then `.inc()` */
    requestCounts,
    drops: new Counter({
      name: 'bootgate_gateway_drops_total',
      help: 'Client connections dropped, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    activeTunnels: new Gauge({
      name: 'bootgate_gateway_active_tunnels',
      help: 'Open tunnels: CONNECT, TLS (SNI splice) and upgraded connections (WebSocket)',
      registers: [registry],
    }),
    destinationRefusals: new Counter({
      name: 'bootgate_gateway_destination_refusals_total',
      help: 'Connections the destination policy refused, by path (explicit, connect, transparent, tls) and reason (loopback, gateway_address, lan, private, …)',
      labelNames: ['path', 'reason'],
      registers: [registry],
    }),
    hostMismatches: new Counter({
      name: 'bootgate_gateway_host_mismatches_total',
      help: 'Intercepted connections whose Host field or SNI names another place than the address dialled, by path',
      labelNames: ['path'],
      registers: [registry],
    }),
    auditFailures: new Counter({
      name: 'bootgate_gateway_audit_failures_total',
      help: 'Audit records the sink failed to commit',
      registers: [registry],
    }),
  };
}
export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
