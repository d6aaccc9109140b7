import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { BootFileServer, plain, type FileServerOptions } from './file-server.ts';
import { clientIpOf, isFileRequest, serveFileRequest, splitTarget, type BootEvent, type RequestSink, type Route } from './file-route.ts';
import { WorkerPool, type RelayedRequest } from './worker-pool.ts';
import type { WireReply } from './worker-protocol.ts';
import { renderIpxeScript, ScriptError } from './ipxe-script.ts';
import { tryParseMac } from '../terminal/mac.ts';
import { clientAddress } from '../terminal/client-address.ts';
import type { HttpMetrics } from './metrics.ts';
import { limitConnectionsPerClient } from './connection-limit.ts';
import type { ProfileResolver } from './profile-resolver.ts';
import type { HttpBootConfig } from './config.ts';
import { waitingScript, type AdmissionQueue } from '../boot/admission.ts';
import { macHyphens } from '../terminal/mac.ts';
import { listen } from '../net/listen.ts';

export type { HttpBootConfig } from './config.ts';

export type { BootEvent } from './file-route.ts';

export interface HttpBootServerDeps {
  config: Readonly<HttpBootConfig>;
  profiles: ProfileResolver;
  logger: Logger;
  metrics: HttpMetrics;
  /** where sanboot points; default: the address the terminal reached us on */
  iscsiHost?: string;
  iscsiPort: number;
  /** boot timeline: a script served, a file streamed to the end, a `/booted` report */
  onBootEvent?: (event: BootEvent) => void;
  clock?: () => number;
  /**
   * Admission control (boot/admission.ts): a terminal whose profile has a heavy phase (kernel + initrd, or
   * sanboot) gets its script only once admitted; until then a script that shows its place, sleeps and asks again.
   */
  admission?: AdmissionQueue;
  /**
   * Other services on the terminal-facing port (the platforms' `/svc/` and heartbeat): a request whose target
   * starts with a route's prefix goes to its handler, before the boot files. With `http.workers` > 0 a worker
   * relays such a request to this process (its method, target, addresses, Authorization and Content-Type fields
   * and body up to RELAY_BODY_BYTES), which answers it with the route's `relay`: the registry lives here only.
   */
  routes?: () => ReadonlyArray<TerminalRoute>;
}

/** A service on the terminal-facing port beside the boot files (see HttpBootServerDeps.routes). */
export interface TerminalRoute {
  prefix: string;
  /** a request this process accepted */
  handle: (req: IncomingMessage, res: ServerResponse) => void;
  /** the same request as a worker relays it */
  relay: (r: RelayedRequest) => WireReply | Promise<WireReply>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function textReply(status: number, text: string, extra: Record<string, string> = {}): WireReply {
  const body = Buffer.from(text + '\n');
  return { status, headers: { ...extra, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(body.length) }, body };
}

function writeReply(res: ServerResponse, r: WireReply): void {
  res.writeHead(r.status, r.headers);
  res.end(r.body);
}

/**
 * The terminal-facing HTTP boot server (PROTOCOLS.md §4, §2 P11): per-terminal iPXE scripts at
 * `/boot.ipxe?mac=…`, boot files (also the UEFI HTTP boot URL) from `config.root`, and `/booted` reports.
 * `app` is an express 5 app with all three routes; the listening server sends GET/HEAD of boot files straight
 * to the file server (same code express mounts) to skip express's per-request work on the hot path.
 */
export class HttpBootServer {
  readonly app: Express;
  private readonly files: BootFileServer;
  private readonly log: Logger;
  private readonly clock: () => number;
  private server: Server | undefined;
  private pool: WorkerPool | undefined;
  private readonly fileOptions: FileServerOptions;

  constructor(private readonly deps: HttpBootServerDeps) {
    this.log = deps.logger;
    this.clock = deps.clock ?? Date.now;
    const c = deps.config;
    this.fileOptions = {
      root: c.root,
      readChunkBytes: c.readChunkBytes,
      readBuffers: c.readBuffers,
      sendfile: c.sendfile,
      smallFileBytes: c.smallFileBytes,
      cacheBytes: c.cacheBytes,
      revalidateMs: c.revalidateMs,
    };
    this.files = new BootFileServer(this.fileOptions);
    this.app = this.buildApp();
  }

  private buildApp(): Express {
    const app = express();
    app.disable('x-powered-by');
    app.disable('etag');
    app.set('query parser', 'simple');
    app.get('/boot.ipxe', (req, res, next) => {
      this.script(this.fromExpress(req)).then((r) => writeReply(res, r), next);
    });
    app.all('/booted', (req, res) => {
      req.resume(); // a POST body is not read; drain it so keep-alive works
      writeReply(res, this.booted(this.fromExpress(req)));
    });
    app.use((req: Request, res: Response, next: NextFunction) => {
      this.file(req, res).catch(next);
    });
    // express 5 passes rejected promises here; nothing from the network escapes the server (STYLE rule 5)
    app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
      this.log.warn({ err, url: req.originalUrl, clientIp: clientIpOf(req) }, 'http request failed');
      if (!res.headersSent) plain(res, 500, 'internal error');
      else res.destroy();
    });
    return app;
  }

  /** The request handler for the listening socket: the boot-file fast path, everything else through express. */
  handle = (req: IncomingMessage, res: ServerResponse): void => {
    const route = this.deps.routes?.().find((r) => req.url?.startsWith(r.prefix));
    if (route) return route.handle(req, res);
    if (!isFileRequest(req)) {
      this.app(req as Request, res as Response);
      return;
    }
    this.file(req, res).catch((err: unknown) => {
      this.log.warn({ err, url: req.url, clientIp: clientIpOf(req) }, 'http file request failed');
      if (!res.headersSent) plain(res, 500, 'internal error');
      else res.destroy();
    });
  };

  async start(): Promise<void> {
    await this.files.init();
    const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, this.handle);
    limitConnectionsPerClient(server, this.deps.config.maxConnectionsPerClient, () => this.sink.refused('too_many_connections'));
    server.on('clientError', (err, socket) => {
      this.sink.refused('bad_http');
      this.log.debug({ err: (err as Error).message }, 'malformed HTTP request');
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
    await listen(server, this.deps.config.port, this.deps.config.listen, 'http');
    this.server = server;
    if (this.deps.config.workers > 0) {
      this.pool = new WorkerPool({
        count: this.deps.config.workers,
        maxConnectionsPerClient: this.deps.config.maxConnectionsPerClient,
        files: this.fileOptions,
        logger: this.log,
        sink: this.sink,
        relayPrefixes: (this.deps.routes?.() ?? []).map((r) => r.prefix),
        relay: (r) => this.relayed(r),
      });
      try {
        await this.pool.start(server);
      } catch (err) {
        await this.stop();
        throw err;
      }
    }
    this.log.info(
      { listen: this.deps.config.listen, port: this.port, root: this.deps.config.root, workers: this.deps.config.workers },
      'http boot server listening',
    );
  }

  /** PIDs of the worker processes sharing the listener (empty with `workers: 0`). */
  get workerPids(): number[] {
    return this.pool?.pids ?? [];
  }

  /** The bound port (useful with port 0 in tests). */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? this.deps.config.port;
  }

  async stop(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    if (pool) await pool.stop();
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections(); // in-flight downloads are cut; terminals retry
    });
    this.files.clearCache();
  }

  /** Accounting for this process and for the workers' batches. */
  private readonly sink: RequestSink = {
    count: (route, status, bytes, n = 1) => {
      this.deps.metrics.requests.inc({ route, status: String(status) }, n);
      if (bytes > 0) this.deps.metrics.bytesSent.inc({ route }, bytes);
    },
    refused: (reason, n = 1) => this.deps.metrics.refused.inc({ reason }, n),
    event: (e) => {
      if (!this.deps.onBootEvent) return;
      try {
        this.deps.onBootEvent(e);
      } catch (err) {
        this.log.warn({ err }, 'onBootEvent hook threw');
      }
    },
  };

  private baseUrl(localAddress: string | undefined, localPort: number | undefined): string {
    if (this.deps.config.publicBaseUrl) return this.deps.config.publicBaseUrl.replace(/\/+$/, '');
    const addr = clientAddress(localAddress || '127.0.0.1');
    const host = addr.includes(':') ? `[${addr}]` : addr;
    const port = localPort || this.port;
    return port === 80 ? `http://${host}` : `http://${host}:${port}`;
  }

  private fromExpress(req: Request): RelayedRequest {
    return {
      method: req.method,
      url: req.url,
      clientIp: clientIpOf(req),
      localAddress: req.socket.localAddress ?? '',
      localPort: req.socket.localPort ?? 0,
    };
  }

  /** A worker's `/boot.ipxe`, `/booted` or other services' request, answered here where the policy, timeline and registry live. */
  private relayed(r: RelayedRequest): WireReply | Promise<WireReply> {
    const route = this.deps.routes?.().find((t) => r.url.startsWith(t.prefix));
    if (route) return route.relay(r);
    const path = splitTarget(r.url).path;
    if (path === '/boot.ipxe' && (r.method === 'GET' || r.method === 'HEAD')) return this.script(r);
    if (path === '/booted') return this.booted(r);
    this.sink.refused('method');
    this.sink.count('file', 405, 0);
    return textReply(405, 'method not allowed', { Allow: 'GET, HEAD' });
  }

  private refuse(route: Route, status: number, reason: string, text: string): WireReply {
    this.sink.refused(reason);
    this.sink.count(route, status, 0);
    return textReply(status, text);
  }

  /**
   * GET /boot.ipxe?mac=<mac>[&uuid=<uuid>] (PROTOCOLS.md §4 H3/H4, §7 check 25). With admission control a
   * terminal not yet admitted gets a waiting script; its next request (`&queued=1`) is held until it is
   * admitted or the poll time passes.
   */
  private async script(r: RelayedRequest): Promise<WireReply> {
    const q = new URLSearchParams(splitTarget(r.url).query);
    const rawMac = q.get('mac') ?? undefined;
    const rawUuid = q.get('uuid') ?? undefined;
    const mac = rawMac !== undefined ? tryParseMac(rawMac) : undefined;
    if (rawMac !== undefined && mac === undefined) return this.refuse('script', 400, 'bad_mac', 'mac must be a MAC address');
    if (rawUuid !== undefined && !UUID.test(rawUuid)) return this.refuse('script', 400, 'bad_uuid', 'uuid must be a UUID');
    const uuid = rawUuid?.toLowerCase();
    const base = this.baseUrl(r.localAddress, r.localPort);
    let body: string;
    let profileName = '';
    if (mac === undefined && uuid === undefined) {
      // No identity in the URL (a static chain): ask iPXE to come back with its MAC.
      body = `#!ipxe\nchain --autofree ${base}/boot.ipxe?mac=\${net0/mac:hexhyp}\n`;
    } else {
      try {
        const { name, profile } = this.deps.profiles.profileFor(mac, uuid);
        profileName = name;
        const iscsiHost = this.deps.iscsiHost ?? new URL(base).hostname.replace(/^\[|\]$/g, '');
        body = renderIpxeScript(name, profile, { mac, uuid, baseUrl: base, iscsiHost, iscsiPort: this.deps.iscsiPort });
        const admission = this.deps.admission;
        // a HEAD (a probe, not a booting iPXE) neither joins the queue nor takes a slot
        if (admission && mac !== undefined && r.method !== 'HEAD' && ('kernel' in profile || 'sanboot' in profile)) {
          let decision = admission.request(mac);
          if (!decision.admitted && q.get('queued') === '1') {
            // a repeat ask: hold it until a slot frees for this terminal (long poll), then ask again
            if (await admission.waitForAdmission(mac, decision.retrySeconds * 1000)) decision = { admitted: true };
            else decision = admission.request(mac);
          }
          if (!decision.admitted) {
            // the URL is rebuilt from the checked values only: nothing else from the request reaches the script
            const again = `${base}/boot.ipxe?mac=${macHyphens(mac)}${uuid !== undefined ? `&uuid=${uuid}` : ''}&queued=1`;
            return this.scriptReply(r, waitingScript(decision, again, true), 'queued');
          }
        }
      } catch (err) {
        if (!(err instanceof ScriptError)) throw err;
        this.log.error({ code: err.code, mac, uuid, profile: profileName, msg: err.message }, 'profile cannot be rendered as an iPXE script');
        return this.refuse('script', 500, err.code, 'profile cannot be rendered');
      }
    }
    this.log.debug({ mac, uuid, profile: profileName, clientIp: r.clientIp }, 'ipxe script served');
    // only a GET is a terminal booting: a HEAD must not start a boot timeline or mark a discard overlay for reset
    if (r.method !== 'HEAD') {
      const e: BootEvent = { clientIp: r.clientIp, kind: 'script', path: '/boot.ipxe', at: this.clock() };
      if (mac) e.mac = mac;
      this.sink.event(e);
    }
    return this.scriptReply(r, body, 'script');
  }

  /** A 200 with an iPXE script (a waiting one is counted as route `queued`, and is no boot timeline step). */
  private scriptReply(r: RelayedRequest, body: string, route: 'script' | 'queued'): WireReply {
    const buf = Buffer.from(body, 'utf8');
    const head = r.method === 'HEAD';
    this.sink.count(route, 200, head ? 0 : buf.length);
    const reply: WireReply = {
      status: 200,
      headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(buf.length), 'Cache-Control': 'no-store' },
    };
    if (!head) reply.body = buf;
    return reply;
  }

  /** GET|POST /booted?mac=<mac>: the booted OS reports in; 204. */
  private booted(r: RelayedRequest): WireReply {
    if (r.method !== 'GET' && r.method !== 'POST') {
      this.sink.refused('method');
      this.sink.count('booted', 405, 0);
      return textReply(405, 'method not allowed', { Allow: 'GET, POST' });
    }
    const rawMac = new URLSearchParams(splitTarget(r.url).query).get('mac') ?? undefined;
    const mac = rawMac !== undefined ? tryParseMac(rawMac) : undefined;
    if (rawMac !== undefined && mac === undefined) return this.refuse('booted', 400, 'bad_mac', 'mac must be a MAC address');
    this.sink.count('booted', 204, 0);
    const e: BootEvent = { clientIp: r.clientIp, kind: 'booted', at: this.clock() };
    if (mac) e.mac = mac;
    this.sink.event(e);
    return { status: 204, headers: {} };
  }

  private file(req: IncomingMessage, res: ServerResponse): Promise<void> {
    return serveFileRequest(this.files, req, res, this.clock, this.sink);
  }
}
