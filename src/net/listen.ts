import type { AddressInfo, Server } from 'node:net';
import { BootgateError } from '../errors.ts';

/**
 * Binds a TCP (or HTTP) server and resolves with the bound port. A bind failure (EADDRINUSE, EADDRNOTAVAIL, EACCES…)
 * rejects with SOCKET_BIND naming the listener, the address and the reason — what `serve` prints, without a stack.
 */
export function listen(server: Server, port: number, host: string, what = 'listener'): Promise<number> {
  return new Promise((resolve, reject) => {
    const failed = (e: NodeJS.ErrnoException): void => {
      const why = e.code === 'EADDRNOTAVAIL' ? 'the address is not on this machine' : e.code === 'EADDRINUSE' ? 'the port is in use' : e.message;
      const at = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      reject(new BootgateError('SOCKET_BIND', `${what}: cannot listen on ${at}: ${why} (${e.code ?? 'error'})`, { cause: e }));
    };
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
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
