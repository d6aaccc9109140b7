import { Counter, Gauge, type Registry } from 'prom-client';
import { DeferredCounts } from '../log/deferred-counts.ts';

/** Service-platform metrics on the appliance's registry (never the global default registry). */
export function createPlatformsMetrics(registry: Registry) {
  // one per request: counted as plain numbers, added to `decisions` when it is collected
  const decisionCounts = new DeferredCounts(() => decisions);
  const decisions: Counter = new Counter({
    name: 'bootgate_platforms_decisions_total',
    help: 'Requests sent to an instance, by class, instance and reason (p2c, only, affinity, panic)',
    labelNames: ['class', 'instance', 'reason'],
    registers: [registry],
    collect: () => decisionCounts.flush(),
  });
  return {
    decisions,
    /** `decisions` for the hot path: `decisionCounts.slot({class, instance, reason})` once, then `.inc()` */
    decisionCounts,
    unavailable: new Counter({
      name: 'bootgate_platforms_unavailable_total',
      help: 'Requests for a class that found no instance to send to, by reason',
      labelNames: ['class', 'reason'],
      registers: [registry],
    }),
    panics: new Counter({
      name: 'bootgate_platforms_panic_decisions_total',
      help: 'Decisions made in panic mode (fewer than panicThreshold of the class healthy: health ignored)',
      labelNames: ['class'],
      registers: [registry],
    }),
    healthy: new Gauge({
      name: 'bootgate_platforms_instance_healthy',
      help: 'Instance health: 1 healthy, 0 unhealthy, -1 unknown',
      labelNames: ['class', 'instance'],
      registers: [registry],
    }),
    drained: new Gauge({
      name: 'bootgate_platforms_instance_drained',
      help: '1 when the instance is drained (by the operator or its agent)',
      labelNames: ['class', 'instance'],
      registers: [registry],
    }),
    load: new Gauge({
      name: 'bootgate_platforms_instance_load',
      help: 'Load relative to capacity × effective weight (1 = full), reported sessions plus requests sent since',
      labelNames: ['class', 'instance'],
      registers: [registry],
    }),
    weightFactor: new Gauge({
      name: 'bootgate_platforms_instance_weight_factor',
      help: 'Slow-start factor of the instance weight (1 = full weight)',
      labelNames: ['class', 'instance'],
      registers: [registry],
    }),
    heartbeats: new Counter({
      name: 'bootgate_platforms_heartbeats_total',
      help: 'Heartbeats received, by result (accepted, unknown-instance, bad-token, bad-body)',
      labelNames: ['result'],
      registers: [registry],
    }),
    polls: new Counter({
      name: 'bootgate_platforms_health_polls_total',
      help: 'Active health polls, by result (pass, fail)',
      labelNames: ['result'],
      registers: [registry],
    }),
    healthChanges: new Counter({
      name: 'bootgate_platforms_health_changes_total',
      help: 'Instance health transitions, by class and new status',
      labelNames: ['class', 'status'],
      registers: [registry],
    }),
    deregistered: new Counter({
      name: 'bootgate_platforms_deregistered_total',
      help: 'Instances removed because they were dead longer than deregisterAfterMs',
      registers: [registry],
    }),
    advice: new Counter({
      name: 'bootgate_platforms_advice_total',
      help: 'Scaling advice events, by class and direction',
      labelNames: ['class', 'direction'],
      registers: [registry],
    }),
    desired: new Gauge({
      name: 'bootgate_platforms_desired_instances',
      help: 'Instances the scaling advisor recommends, by class',
      labelNames: ['class'],
      registers: [registry],
    }),
    averageSessions: new Gauge({
      name: 'bootgate_platforms_average_sessions',
      help: 'Moving average of active sessions per instance, by class',
      labelNames: ['class'],
      registers: [registry],
    }),
    hookFailures: new Counter({
      name: 'bootgate_platforms_hook_failures_total',
      help: 'Advice, sleep or wake hooks that failed, by hook (webhook, command)',
      labelNames: ['hook'],
      registers: [registry],
    }),
    wolPackets: new Counter({
      name: 'bootgate_platforms_wol_packets_total',
      help: 'Wake-on-LAN magic packets sent, by result (sent, failed)',
      labelNames: ['result'],
      registers: [registry],
    }),
    scheduledWakes: new Counter({
      name: 'bootgate_platforms_scheduled_wakes_total',
      help: 'Runs of a wol.schedules entry, by result (sent, partial, failed, empty)',
      labelNames: ['result'],
      registers: [registry],
    }),
    sleepActions: new Counter({
      name: 'bootgate_platforms_sleep_actions_total',
      help: 'Instances told to sleep or woken, by action (sleep, wake, awake) and result (ok, failed)',
      labelNames: ['class', 'action', 'result'],
      registers: [registry],
    }),
    sleeping: new Gauge({
      name: 'bootgate_platforms_sleeping_instances',
      help: 'Instances put to sleep by bootgate and not yet back, by class',
      labelNames: ['class'],
      registers: [registry],
    }),
  };
}
export type PlatformsMetrics = ReturnType<typeof createPlatformsMetrics>;
