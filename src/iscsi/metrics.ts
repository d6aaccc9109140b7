import { Counter, Gauge, type Registry } from 'prom-client';

/** iSCSI target metrics on the appliance's registry (never the global one). */
export function createIscsiMetrics(registry: Registry) {
  return {
    connections: new Gauge({ name: 'bootgate_iscsi_connections', help: 'Open iSCSI TCP connections', registers: [registry] }),
    sessions: new Gauge({
      name: 'bootgate_iscsi_sessions',
      help: 'iSCSI sessions in full feature phase, by type',
      labelNames: ['type'],
      registers: [registry],
    }),
    logins: new Counter({ name: 'bootgate_iscsi_logins_total', help: 'Login outcomes, by result', labelNames: ['result'], registers: [registry] }),
    commands: new Counter({
      name: 'bootgate_iscsi_scsi_commands_total',
      help: 'SCSI commands, by opcode',
      labelNames: ['opcode'],
      registers: [registry],
    }),
    bytesRead: new Counter({ name: 'bootgate_iscsi_read_bytes_total', help: 'Bytes sent in Data-In', registers: [registry] }),
    bytesWritten: new Counter({
      name: 'bootgate_iscsi_written_bytes_total',
      help: 'Bytes received in Data-Out and immediate data',
      registers: [registry],
    }),
    drops: new Counter({
      name: 'bootgate_iscsi_drops_total',
      help: 'PDUs dropped or connections closed for protocol reasons, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    rejects: new Counter({
      name: 'bootgate_iscsi_rejects_total',
      help: 'Reject PDUs sent, by reason code',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}
export type IscsiMetrics = ReturnType<typeof createIscsiMetrics>;
