import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { BootgateError } from '../errors.ts';
import type { BlockDeviceProvider, ChapCredentials } from './block-device.ts';
import { Connection } from './connection.ts';
import { LuStates } from './lu-state.ts';
import { createIscsiMetrics, type IscsiMetrics } from './metrics.ts';
import { DEFAULT_PREFERENCES, type TargetPreferences } from './negotiation.ts';
import { SessionTable } from './session.ts';
import type { IscsiTargetSettings } from './config.ts';

/**
 * What the target reads: its fields of the `iscsi:` slice as parsed (iscsi/config.ts; the per-image CHAP there
 * reaches connections through the provider), plus what only tests and tools set.
 */
export type IscsiTargetConfig = Omit<IscsiTargetSettings, 'chap'> & {
  preferences?: Partial<TargetPreferences>;
  discoveryChap?: ChapCredentials;
};

export interface IscsiTargetDeps {
  config: Readonly<IscsiTargetConfig>;
  logger: Logger;
  registry: Registry;
  provider: BlockDeviceProvider;
}

/**
 * The iSCSI target (RFC 7143): one TCP listener, one Connection per TCP connection, sessions keyed for
 * reinstatement. Disks come from the injected BlockDeviceProvider; this class knows nothing about overlays.
 */
export class IscsiTarget {
  private server: Server | undefined;
  private readonly connections = new Set<Connection>();
  private readonly sessions = new SessionTable();
  /** one LuState per open disk, shared by its sessions (RESERVE(6), COMPARE AND WRITE's range lock) */
  private readonly luStates = new LuStates();
  readonly metrics: IscsiMetrics;
  private readonly log: Logger;
  private readonly prefs: TargetPreferences;

  constructor(private readonly deps: IscsiTargetDeps) {
    this.log = deps.logger.child({ module: 'iscsi' });
    this.metrics = createIscsiMetrics(deps.registry);
    this.prefs = { ...DEFAULT_PREFERENCES, ...deps.config.preferences };
  }

  /** The bound port (useful with port 0 in tests). */
  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : this.deps.config.port;
  }

  async start(): Promise<void> {
    const c = this.deps.config;
    const server = createServer((socket) => this.accept(socket));
    server.maxConnections = c.maxConnections;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new BootgateError('SOCKET_BIND', `iSCSI listen ${c.listen}:${c.port}: ${err.message}`)));
      server.listen(c.port, c.listen, () => resolve());
    });
    server.on('error', (err) => this.log.error({ err }, 'listener error'));
    this.server = server;
    this.log.info({ address: c.listen, port: this.port }, 'iSCSI target listening');
  }

  /** Stops listening, closes every connection and releases every disk. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    // server.close() only calls back once every connection has ended: close them alongside
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    await Promise.all([...this.connections].map((c) => c.close('stop')));
    await closed;
  }

  /** Sessions in full feature phase (for the admin API). */
  listSessions(): Array<{ tsih: number; type: string; initiatorName: string; targetName: string; isid: string }> {
    return this.sessions.all().map(({ tsih, type, initiatorName, targetName, isid }) => ({ tsih, type, initiatorName, targetName, isid }));
  }

  private accept(socket: Socket): void {
    const c = this.deps.config;
    this.metrics.connections.inc();
    const conn = new Connection({
      socket,
      provider: this.deps.provider,
      sessions: this.sessions,
      logger: this.log,
      metrics: this.metrics,
      prefs: this.prefs,
      portalGroupTag: c.portalGroupTag,
      listenPort: this.port,
      discoveryChap: c.discoveryChap,
      cmdWindow: c.cmdWindow,
      maxWriteBytes: c.maxWriteBytes,
      luStates: this.luStates,
      onClose: (cn) => {
        this.connections.delete(cn);
        this.metrics.connections.dec();
      },
    });
    this.connections.add(conn);
  }
}
