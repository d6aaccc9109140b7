import type { Socket } from 'node:net';

/**
 * The open client connections of a proxy, by seat address, so that closing a seat's session can cut them: a
 * kept-alive connection or a spliced tunnel would otherwise go on carrying traffic after the session closed
 * (conntrack keeps redirecting an established flow whatever the seat set says), recorded against the person who
 * left. Cut requests and tunnels still get their records from their own close handlers.
 */
export class SeatConnections {
  private readonly bySocket = new Map<Socket, string>();

  /** Tracks `sock` as coming from `ip` until it closes. */
  track(sock: Socket, ip: string): void {
    this.bySocket.set(sock, ip);
    sock.once('close', () => this.bySocket.delete(sock));
  }

  /** Destroys every tracked connection from `ip`; returns how many. */
  cut(ip: string): number {
    let n = 0;
    for (const [sock, from] of this.bySocket) {
      if (from !== ip) continue;
      sock.destroy();
      n++;
    }
    return n;
  }

  clear(): void {
    this.bySocket.clear();
  }
}
