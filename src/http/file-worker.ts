/**
 * An HTTP boot worker process (forked by WorkerPool, `http.workers` > 0). It accepts connections on the
 * listening socket the main process shares with it and serves boot files itself; `/boot.ipxe`, `/booted` and the
 * other services' routes (the platforms' `/svc/` and heartbeat) are relayed to the main process, which owns the
 * profile policy, the platform registry, the metrics registry and the boot timeline.
 * Accounting goes back in batches. No module-level state beyond this process's own server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Server as NetServer } from 'node:net';
import { BootFileServer, plain, type FileServerOptions } from './file-server.ts';
import { limitConnectionsPerClient } from './connection-limit.ts';
import { clientIpOf, isFileRequest, serveFileRequest, type BootEvent, type RequestSink, type Route } from './file-route.ts';
import { RELAY_BODY_BYTES, type ToParent, type ToWorker, type WireReply } from './worker-protocol.ts';

const FLUSH_MS = 200;

function send(m: ToParent): void {
  if (process.connected) process.send!(m);
}

function main(): void {
  let files: BootFileServer | undefined;
  let server: Server | undefined;
  let nextId = 1;
  /** the other services' routes on this port, answered by the main process */
  let relayPrefixes: readonly string[] = [];
  const pending = new Map<number, ServerResponse>();
  const counts = new Map<string, { route: Route; status: number; bytes: number; n: number }>();
  const refused = new Map<string, number>();
  let events: BootEvent[] = [];

  const flush = (): void => {
    if (counts.size === 0 && refused.size === 0 && events.length === 0) return;
    send({ t: 'stats', counts: [...counts.values()], refused: [...refused.entries()], events });
    counts.clear();
    refused.clear();
    events = [];
  };
  const timer = setInterval(flush, FLUSH_MS);
  timer.unref();

  const sink: RequestSink = {
    count(route, status, bytes) {
      const k = `${route} ${status}`;
      const c = counts.get(k);
      if (c) {
        c.n++;
        c.bytes += bytes;
      } else counts.set(k, { route, status, bytes, n: 1 });
    },
    refused(reason) {
      refused.set(reason, (refused.get(reason) ?? 0) + 1);
    },
    event(e) {
      events.push(e);
    },
  };

  const relay = (req: IncomingMessage, res: ServerResponse): void => {
    const id = nextId++;
    pending.set(id, res);
    res.on('close', () => pending.delete(id));
    const headers: Record<string, string> = {};
    for (const name of ['authorization', 'content-type'] as const) if (req.headers[name] !== undefined) headers[name] = req.headers[name];
    const m = {
      t: 'req' as const,
      id,
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      clientIp: clientIpOf(req),
      localAddress: req.socket.localAddress ?? '',
      localPort: req.socket.localPort ?? 0,
      headers,
    };
    if (m.method === 'GET' || m.method === 'HEAD') {
      req.resume(); // no body to relay
      return send(m);
    }
    // a body (the platforms' heartbeat) goes with the request, up to RELAY_BODY_BYTES; beyond, only that it was longer
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= RELAY_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () =>
      send(size > RELAY_BODY_BYTES ? { ...m, bodyTooLarge: true } : { ...m, ...(size > 0 ? { body: Buffer.concat(chunks) } : {}) }),
    );
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (!files || !isFileRequest(req) || relayPrefixes.some((p) => req.url?.startsWith(p))) return relay(req, res);
    serveFileRequest(files, req, res, Date.now, sink).catch(() => {
      if (!res.headersSent) plain(res, 500, 'internal error');
      else res.destroy();
    });
  };

  const reply = (id: number, r: WireReply): void => {
    const res = pending.get(id);
    if (!res) return;
    pending.delete(id);
    res.writeHead(r.status, r.headers);
    res.end(r.body ? Buffer.from(r.body) : undefined);
  };

  process.on('message', (m: ToWorker, listener?: NetServer) => {
    switch (m.t) {
      case 'init':
        files = new BootFileServer(m.files as FileServerOptions);
        void files.init().then(() => send({ t: 'ready' }));
        break;
      case 'listen':
        relayPrefixes = m.relayPrefixes;
        server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, handle);
        limitConnectionsPerClient(server, m.maxConnectionsPerClient, () => sink.refused('too_many_connections'));
        server.on('clientError', (_err, socket) => {
          sink.refused('bad_http');
          if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
          else socket.destroy();
        });
        server.listen(listener!, () => send({ t: 'listening' }));
        break;
      case 'reply':
        reply(m.id, m.reply);
        break;
      case 'stop':
        flush();
        if (server) {
          server.close(() => process.exit(0));
          server.closeAllConnections();
        } else process.exit(0);
        break;
    }
  });
  process.on('disconnect', () => process.exit(0)); // the main process went away: so do we
}

main();
