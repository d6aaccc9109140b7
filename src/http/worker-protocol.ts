import type { BootEvent, Route } from './file-route.ts';

/** The most of a relayed request's body a worker sends on (the heartbeat's JSON is far below it). */
export const RELAY_BODY_BYTES = 16 * 1024;

/** Messages between the main process and HTTP boot workers (child_process IPC, `advanced` serialization). */
export interface WireReply {
  status: number;
  headers: Record<string, string>;
  body?: Uint8Array;
}

/** A request a worker hands to the main process (`/boot.ipxe`, `/booted`, the other services' routes). */
export interface RelayedRequest {
  method: string;
  url: string;
  clientIp: string;
  localAddress: string;
  localPort: number;
  /** the request's Authorization and Content-Type fields, when sent (the platforms' heartbeat needs them) */
  headers?: Record<string, string>;
  /** the request body (methods other than GET and HEAD), up to RELAY_BODY_BYTES */
  body?: Uint8Array;
  /** the body was longer than RELAY_BODY_BYTES: not relayed */
  bodyTooLarge?: boolean;
}

export type ToWorker =
  | { t: 'init'; files: object }
  | { t: 'listen'; maxConnectionsPerClient: number; relayPrefixes: string[] }
  | { t: 'reply'; id: number; reply: WireReply }
  | { t: 'stop' };

export type ToParent =
  | { t: 'ready' }
  | { t: 'listening' }
  | ({ t: 'req'; id: number } & RelayedRequest)
  | { t: 'stats'; counts: Array<{ route: Route; status: number; bytes: number; n: number }>; refused: Array<[string, number]>; events: BootEvent[] };
