import { Counter, Histogram, type Registry } from 'prom-client';

/** Audit writer metrics on the appliance's registry. */
export function createAuditMetrics(registry: Registry) {
  return {
    records: new Counter({
      name: 'bootgate_audit_records_total',
      help: 'Audit records committed, by kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    batches: new Histogram({
      name: 'bootgate_audit_batch_records',
      help: 'Records per group commit',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
      registers: [registry],
    }),
    failures: new Counter({
      name: 'bootgate_audit_commit_failures_total',
      help: 'Group commits that failed (nothing in them was acknowledged)',
      registers: [registry],
    }),
    purged: new Counter({ name: 'bootgate_audit_purged_total', help: 'Records removed by retention', registers: [registry] }),
  };
}
export type AuditMetrics = ReturnType<typeof createAuditMetrics>;
