import { Counter, Gauge, type Registry } from 'prom-client';

/** TFTP metrics on the appliance's registry (never the global default registry). */
export function createTftpMetrics(registry: Registry) {
  return {
    requests: new Counter({
      name: 'bootgate_tftp_requests_total',
      help: 'TFTP requests received, by opcode',
      labelNames: ['op'],
      registers: [registry],
    }),
    drops: new Counter({
      name: 'bootgate_tftp_drops_total',
      help: 'TFTP datagrams dropped, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    refused: new Counter({
      name: 'bootgate_tftp_refused_total',
      help: 'Requests answered with an ERROR, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    started: new Counter({
      name: 'bootgate_tftp_transfers_started_total',
      help: 'Transfers started, by data path (native C engine or js)',
      labelNames: ['path'],
      registers: [registry],
    }),
    completed: new Counter({
      name: 'bootgate_tftp_transfers_completed_total',
      help: 'Transfers completed (last block acknowledged)',
      registers: [registry],
    }),
    failed: new Counter({
      name: 'bootgate_tftp_transfers_failed_total',
      help: 'Transfers that ended early, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    bytesSent: new Counter({
      name: 'bootgate_tftp_bytes_sent_total',
      help: 'File bytes sent in DATA packets, retransmissions included',
      registers: [registry],
    }),
    retransmits: new Counter({ name: 'bootgate_tftp_retransmits_total', help: 'Packets resent after a timeout', registers: [registry] }),
    active: new Gauge({ name: 'bootgate_tftp_transfers_active', help: 'Transfers in progress', registers: [registry] }),
    queuedTotal: new Counter({ name: 'bootgate_tftp_queued_total', help: 'Requests that waited for a transfer slot', registers: [registry] }),
    queued: new Gauge({ name: 'bootgate_tftp_queue_length', help: 'Requests waiting for a transfer slot', registers: [registry] }),
    cacheHits: new Counter({ name: 'bootgate_tftp_cache_hits_total', help: 'Requests served from the in-memory file cache', registers: [registry] }),
    cacheMisses: new Counter({
      name: 'bootgate_tftp_cache_misses_total',
      help: 'Cacheable requests that had to read the file',
      registers: [registry],
    }),
    cacheBytes: new Gauge({ name: 'bootgate_tftp_cache_bytes', help: 'Bytes held by the file cache', registers: [registry] }),
  };
}
export type TftpMetrics = ReturnType<typeof createTftpMetrics>;
