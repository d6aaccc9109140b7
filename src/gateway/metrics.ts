import { Counter, Gauge, type Registry } from 'prom-client';

/** Gateway metrics on the appliance's registry (never the global default registry). */
export function createGatewayMetrics(registry: Registry) {
  return {
    requests: new Counter({ name: 'bootgate_gateway_requests_total', help: 'Proxied requests and tunnels, by kind and verdict', labelNames: ['kind', 'verdict'], registers: [registry] }),
    drops: new Counter({ name: 'bootgate_gateway_drops_total', help: 'Client connections dropped, by reason', labelNames: ['reason'], registers: [registry] }),
    activeTunnels: new Gauge({ name: 'bootgate_gateway_active_tunnels', help: 'Open tunnels: CONNECT, TLS (SNI splice) and upgraded connections (WebSocket)', registers: [registry] }),
    auditFailures: new Counter({ name: 'bootgate_gateway_audit_failures_total', help: 'Audit records the sink failed to commit', registers: [registry] }),
  };
}
export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
