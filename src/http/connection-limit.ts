import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * At most `max` open connections per client address on `server` (0: no limit), like nginx's `limit_conn`. A
 * terminal needs one or two (iPXE fetches files one after another; a browser opens six), so a client holding
 * more is misbehaving or hostile: the extra connection is closed at once and `onRefused` counts it. The count is
 * per process (workers share the listener, each with its own table).
 */
export function limitConnectionsPerClient(server: Server, max: number, onRefused: (clientIp: string) => void): void {
  if (max <= 0) return;
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const ip = socket.remoteAddress ?? '';
    const n = (open.get(ip) ?? 0) + 1;
    if (n > max) {
      socket.destroy();
      onRefused(ip);
      return;
    }
    open.set(ip, n);
    socket.once('close', () => {
      const left = (open.get(ip) ?? 1) - 1;
      if (left <= 0) open.delete(ip);
      else open.set(ip, left);
    });
  });
}
