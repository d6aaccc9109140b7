import { Counter, type Registry } from 'prom-client';

/** HTTP boot metrics on the appliance's registry (never the global one). */
export function createHttpMetrics(registry: Registry) {
  return {
    requests: new Counter({
      name: 'bootgate_http_requests_total',
      help: 'HTTP boot requests answered, by route and status',
      labelNames: ['route', 'status'],
      registers: [registry],
    }),
    bytesSent: new Counter({
      name: 'bootgate_http_bytes_sent_total',
      help: 'Body bytes sent, by route',
      labelNames: ['route'],
      registers: [registry],
    }),
    refused: new Counter({
      name: 'bootgate_http_refused_total',
      help: 'Requests refused as bad input, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}
export type HttpMetrics = ReturnType<typeof createHttpMetrics>;
