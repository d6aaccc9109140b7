import type { AddressInfo, Server } from 'node:net';

/** Binds a TCP (or HTTP) server and resolves with the bound port; a bind failure (EADDRINUSE, …) rejects. */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * Stops accepting, lets `dropConnections` cut what is open (a listener's close waits for every connection), and
 * resolves once the server has closed.
 */
export async function closeServer(server: Server, dropConnections: () => void): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  dropConnections();
  await closed;
}
