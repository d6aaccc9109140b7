import express, { type RequestHandler, type Router } from 'express';
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { LeaseRepository } from '../store/lease-repository.ts';
import type { BootRepository } from '../store/boot-repository.ts';
import { BootgateError } from '../errors.ts';
import { tryParseMac } from '../terminal/mac.ts';
import { intToIp } from '../wire/ipv4.ts';
import { apiErrorHandler } from './errors.ts';
import { listen } from '../net/listen.ts';

export interface ManagementDeps {
  listen: string;
  registry: Registry;
  leases: LeaseRepository;
  boots: BootRepository;
  logger: Logger;
  /** further /api/v1 routers (overlays, identity, …) */
  routers?: Router[];
  /** the DHCP starvation guard's view: pool pressure and the sources it refused */
  dhcpStarvation?: () => unknown;
  /** authentication for the read routes here (leases, terminals); /metrics stays open for Prometheus */
  readGuard?: RequestHandler;
  /** the web UI (src/ui/router.ts), mounted at /ui */
  ui?: Router;
}

/** The management listener: /metrics for Prometheus and the read side of /api/v1 (never on the terminal LAN). */
export class ManagementServer {
  private server: Server | undefined;

  constructor(private readonly deps: ManagementDeps) {}

  app(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.use(express.json({ limit: '64kb' }));
    app.get('/metrics', async (_req, res) => {
      res.type(this.deps.registry.contentType).send(await this.deps.registry.metrics());
    });
    const guard: RequestHandler = this.deps.readGuard ?? ((_req, _res, next) => next());
    app.get('/api/v1/leases', guard, (_req, res) => {
      res.json(
        this.deps.leases
          .all()
          .map((l) => ({ ...l, ip: intToIp(l.ip), startsAt: new Date(l.startsAt).toISOString(), expiresAt: new Date(l.expiresAt).toISOString() })),
      );
    });
    app.get('/api/v1/dhcp/pressure', guard, (_req, res) => {
      if (!this.deps.dhcpStarvation) return res.status(404).json({ error: 'dhcp is off' });
      res.json(this.deps.dhcpStarvation());
    });
    app.get('/api/v1/terminals', guard, (_req, res) => {
      res.json(
        this.deps.boots.terminals().map((t) => ({
          ...t,
          lastIp: t.lastIp === null ? null : intToIp(t.lastIp),
          lastBoot: this.deps.boots.latestBoot(t.mac) ?? null,
        })),
      );
    });
    app.get('/api/v1/terminals/:mac/boots', guard, (req, res) => {
      const mac = tryParseMac(String(req.params.mac));
      if (!mac) throw new BootgateError('BAD_MAC', `not a MAC: ${String(req.params.mac)}`);
      res.json(this.deps.boots.boots(mac, 20));
    });
    if (this.deps.ui) app.use('/ui', this.deps.ui);
    for (const router of this.deps.routers ?? []) app.use('/api/v1', router);
    app.use(apiErrorHandler(this.deps.logger));
    return app;
  }

  async start(): Promise<void> {
    const idx = this.deps.listen.lastIndexOf(':');
    const host = this.deps.listen.slice(0, idx);
    const port = Number(this.deps.listen.slice(idx + 1));
    const server = createServer(this.app());
    await listen(server, port, host, 'api.listen');
    this.server = server;
    this.deps.logger.info({ listen: this.deps.listen }, 'management API listening');
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
