import type { BootEvent, Route } from './file-route.ts';

/** Messages between the main process and HTTP boot workers (child_process IPC, `advanced` serialization). */
export interface WireReply {
  status: number;
  headers: Record<string, string>;
  body?: Uint8Array;
}

export type ToWorker =
  { t: 'init'; files: object } | { t: 'listen'; maxConnectionsPerClient: number } | { t: 'reply'; id: number; reply: WireReply } | { t: 'stop' };

export type ToParent =
  | { t: 'ready' }
  | { t: 'listening' }
  | { t: 'req'; id: number; method: string; url: string; clientIp: string; localAddress: string; localPort: number }
  | { t: 'stats'; counts: Array<{ route: Route; status: number; bytes: number; n: number }>; refused: Array<[string, number]>; events: BootEvent[] };
