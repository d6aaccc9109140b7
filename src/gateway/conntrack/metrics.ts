import { Counter, Gauge, type Registry } from 'prom-client';

/** Flow-recorder metrics on the appliance's registry (never the global default registry). */
export function createConntrackMetrics(registry: Registry) {
  return {
    lines: new Counter({
      name: 'bootgate_gateway_conntrack_events_total',
      help: 'Conntrack events read, by type',
      labelNames: ['type'],
      registers: [registry],
    }),
    malformed: new Counter({
      name: 'bootgate_gateway_conntrack_malformed_total',
      help: 'Conntrack output lines dropped, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    flows: new Counter({
      name: 'bootgate_gateway_flows_total',
      help: 'Ended flows seen: recorded, or not recorded and why (redirected, to_gateway, no_session, …)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    eventsLost: new Counter({
      name: 'bootgate_gateway_conntrack_overruns_total',
      help: 'Times the kernel dropped conntrack events (netlink ENOBUFS)',
      registers: [registry],
    }),
    restarts: new Counter({
      name: 'bootgate_gateway_conntrack_restarts_total',
      help: 'Times the conntrack child was restarted after it exited',
      registers: [registry],
    }),
    auditFailures: new Counter({
      name: 'bootgate_gateway_flow_audit_failures_total',
      help: 'Flow records the audit sink failed to commit',
      registers: [registry],
    }),
    tracked: new Gauge({
      name: 'bootgate_gateway_flows_open',
      help: 'Open flows whose session was noted at NEW, awaiting DESTROY',
      registers: [registry],
    }),
  };
}
export type ConntrackMetrics = ReturnType<typeof createConntrackMetrics>;
