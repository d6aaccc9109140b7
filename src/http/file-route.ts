import { clientAddress } from '../terminal/client-address.ts';
import type { Mac } from '../terminal/mac.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BootFileServer } from './file-server.ts';

export type Route = 'script' | 'queued' | 'booted' | 'file';

export interface BootEvent {
  mac?: Mac;
  clientIp: string;
  kind: 'script' | 'file' | 'booted';
  path?: string;
  at: number;
}

/** Where request accounting goes: prom-client + onBootEvent in the main process, a batch to it in a worker. */
export interface RequestSink {
  /** `n` requests with this status, `bytes` body bytes among them */
  count(route: Route, status: number, bytes: number, n?: number): void;
  refused(reason: string, n?: number): void;
  event(e: BootEvent): void;
}

export function clientIpOf(req: IncomingMessage): string {
  return clientAddress(req.socket.remoteAddress);
}

/** Raw path (still percent-encoded) and query of a request target; origin-form only (RFC 9112 §3.2.1). */
export function splitTarget(url: string | undefined): { path: string; query: string } {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q < 0 ? { path: u, query: '' } : { path: u.slice(0, q), query: u.slice(q + 1) };
}

/** True for requests the boot-file handler takes without express (everything but the two dynamic routes). */
export function isFileRequest(req: IncomingMessage): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const { path } = splitTarget(req.url);
  return path !== '/boot.ipxe' && path !== '/booted';
}

/** Serves one boot-file request and accounts for it. */
export async function serveFileRequest(
  files: BootFileServer,
  req: IncomingMessage,
  res: ServerResponse,
  now: () => number,
  sink: RequestSink,
): Promise<void> {
  const out = await files.serve(req, res, splitTarget(req.url).path, now());
  sink.count('file', out.status, out.bytes);
  if (out.refused) sink.refused(out.refused);
  if (out.completed && out.path !== undefined) sink.event({ clientIp: clientIpOf(req), kind: 'file', path: '/' + out.path, at: now() });
}
