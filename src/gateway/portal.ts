/**
 * The portal: seats without an open session have their tcp/80 redirected here by nftables. Any request for
 * another host is answered with a redirect to the portal's own address (so the browser shows our URL); the
 * portal page itself says to see the cashier.
 */
import http from 'node:http';
import type { Logger } from '../log/logger.ts';
import { closeServer, listen } from '../net/listen.ts';

export interface PortalOptions {
  host: string;
  port: number;
  /** the URL seats are sent to, e.g. http://10.76.1.1:8081/ (the gateway's LAN address) */
  publicUrl: string;
  message: string;
}

export class Portal {
  private server: http.Server | undefined;
  private readonly log: Logger;

  constructor(private readonly deps: { options: PortalOptions; logger: Logger }) {
    this.log = deps.logger.child({ module: 'gateway.portal' });
  }

  async start(): Promise<number> {
    const own = new URL(this.deps.options.publicUrl);
    const page = `<!doctype html><html><head><meta charset="utf-8"><title>Please see the cashier</title></head><body><h1>Please see the cashier</h1><p>${escapeHtml(this.deps.options.message)}</p></body></html>\n`;
    const server = http.createServer((req, res) => {
      if ((req.headers.host ?? '').toLowerCase() === own.host.toLowerCase()) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(page) });
        res.end(page);
        return;
      }
      // RFC 9110 §15.4.3 302 Found: the seat's browser goes to the portal.
      res.writeHead(302, { location: own.href, 'cache-control': 'no-store', 'content-length': 0, connection: 'close' });
      res.end();
    });
    this.server = server;
    const port = await listen(server, this.deps.options.port, this.deps.options.host);
    this.log.info({ port, url: own.href }, 'portal listening');
    return port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await closeServer(server, () => server.closeAllConnections());
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
