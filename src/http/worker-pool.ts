import { fork, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { FileServerOptions } from './file-server.ts';
import type { RequestSink } from './file-route.ts';
import type { RelayedRequest, ToParent, ToWorker, WireReply } from './worker-protocol.ts';

const WORKER = fileURLToPath(new URL('./file-worker.ts', import.meta.url));
/** tsx's loader by absolute URL, so a worker starts whatever the working directory is */
const TSX = import.meta.resolve('tsx');
const STOP_GRACE_MS = 3000;

export type { RelayedRequest } from './worker-protocol.ts';

export interface WorkerPoolDeps {
  count: number;
  files: FileServerOptions;
  /** per-client connection limit, applied in each worker to the connections it accepts */
  maxConnectionsPerClient: number;
  logger: Logger;
  sink: RequestSink;
  /** targets starting with these go to `relay` whatever their method (the other services' routes: `/svc/`, the heartbeat) */
  relayPrefixes: readonly string[];
  /** answers `/boot.ipxe`, `/booted` and the other services' routes (`/svc/`, the heartbeat) for a worker */
  relay: (r: RelayedRequest) => WireReply | Promise<WireReply>;
}

/**
 * Worker processes that share the HTTP boot listener (the kernel spreads accepts over every process that
 * accepts on it, the main one included). Node has no sendfile and one JS thread per process; on a gateway
 * where clients and server share few cores, a second process is what lets file serving use a second core.
 */
export class WorkerPool {
  private children: ChildProcess[] = [];
  private stopping = false;

  constructor(private readonly deps: WorkerPoolDeps) {}

  async start(server: Server): Promise<void> {
    this.stopping = false;
    await Promise.all(Array.from({ length: this.deps.count }, () => this.spawn(server)));
  }

  private spawn(server: Server): Promise<void> {
    const child = fork(WORKER, [], { execArgv: ['--import', TSX], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.children.push(child);
    const log = this.deps.logger.child({ worker: child.pid });
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null, signal: string | null): void => {
        this.children = this.children.filter((c) => c !== child);
        if (!this.stopping) log.error({ code, signal }, 'http boot worker exited');
        reject(new Error(`http boot worker exited (${code ?? signal}) before it listened`));
      };
      child.once('exit', onExit);
      child.on('message', (m: ToParent) => {
        switch (m.t) {
          case 'ready':
            child.send(
              {
                t: 'listen',
                maxConnectionsPerClient: this.deps.maxConnectionsPerClient,
                relayPrefixes: [...this.deps.relayPrefixes],
              } satisfies ToWorker,
              server,
            );
            break;
          case 'listening':
            child.off('exit', onExit);
            child.once('exit', (code, signal) => {
              this.children = this.children.filter((c) => c !== child);
              if (!this.stopping) log.error({ code, signal }, 'http boot worker exited; the main process keeps serving');
            });
            resolve();
            break;
          case 'req': {
            // a script request may be held (admission control's long poll): replies go back by id, in any order
            void Promise.resolve()
              .then(() => this.deps.relay(m))
              .catch((err: unknown): WireReply => {
                log.warn({ err, url: m.url }, 'relayed request failed');
                return {
                  status: 500,
                  headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '15' },
                  body: Buffer.from('internal error\n'),
                };
              })
              .then((reply) => {
                if (child.connected) child.send({ t: 'reply', id: m.id, reply } satisfies ToWorker);
              });
            break;
          }
          case 'stats':
            for (const c of m.counts) this.deps.sink.count(c.route, c.status, c.bytes, c.n);
            for (const [reason, n] of m.refused) this.deps.sink.refused(reason, n);
            for (const e of m.events) this.deps.sink.event(e);
            break;
        }
      });
      child.send({ t: 'init', files: this.deps.files } satisfies ToWorker);
    });
  }

  get pids(): number[] {
    return this.children.map((c) => c.pid!).filter((p) => p !== undefined);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const all = this.children;
    this.children = [];
    await Promise.all(
      all.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => c.kill('SIGKILL'), STOP_GRACE_MS);
            c.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            if (c.connected) c.send({ t: 'stop' } satisfies ToWorker);
            else c.kill('SIGTERM');
          }),
      ),
    );
  }
}
