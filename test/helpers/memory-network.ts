import type { DatagramInfo, DatagramSocket, SocketFactory } from '../../src/net/datagram.ts';

export interface Sent {
  fromPort: number;
  buf: Buffer;
  address: string;
  port: number;
}

/** A socket factory with no sockets: tests inject datagrams and read what the server sent. */
export class MemoryNetwork {
  readonly sent: Sent[] = [];
  readonly arp = new Map<string, string>();
  private readonly handlers = new Map<number, (buf: Buffer, info: DatagramInfo) => void>();
  arpWorks = true;

  readonly factory: SocketFactory = (spec, onMessage) => {
    this.handlers.set(spec.port, onMessage);
    const sock: DatagramSocket = {
      port: spec.port,
      send: (buf, address, port) => {
        this.sent.push({ fromPort: spec.port, buf, address, port });
        return true;
      },
      setArp: (ip, mac) => {
        if (this.arpWorks) this.arp.set(ip, mac.toString('hex'));
        return this.arpWorks;
      },
      close: () => this.handlers.delete(spec.port),
    };
    return sock;
  };

  inject(port: number, buf: Buffer, from: Partial<DatagramInfo> = {}): void {
    const h = this.handlers.get(port);
    if (!h) throw new Error(`nothing listens on ${port}`);
    h(buf, { address: '0.0.0.0', port: 68, ifindex: 1, localAddress: '255.255.255.255', ...from });
  }

  take(): Sent[] {
    return this.sent.splice(0);
  }
}

/** Lets queued setImmediate callbacks (the lease group commit) run. */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
