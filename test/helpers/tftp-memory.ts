import type { TransferSocket } from '../../src/tftp/transfer.ts';
import type { TransferSocketFactory } from '../../src/tftp/server.ts';
import { decodeTftp, type TftpPacket } from '../../src/tftp/codec.ts';

export interface Sent {
  from: number;
  to: string;
  pkt: TftpPacket;
}

/** Per-transfer sockets without a network: records what each sent; tests deliver datagrams to a port. */
export class MemoryTransferSockets {
  readonly sent: Sent[] = [];
  private nextPort = 40000;
  readonly open = new Map<number, (buf: Buffer, address: string, port: number) => void>();

  readonly factory: TransferSocketFactory = async (_local, onMessage) => {
    const port = this.nextPort++;
    this.open.set(port, onMessage);
    const s: TransferSocket = {
      port,
      send: (buf, address, p) => void this.sent.push({ from: port, to: `${address}:${p}`, pkt: decodeTftp(buf) }),
      close: () => void this.open.delete(port),
    };
    return s;
  };

  deliver(port: number, buf: Buffer, address: string, fromPort: number): void {
    this.open.get(port)?.(buf, address, fromPort);
  }

  take(): Sent[] {
    return this.sent.splice(0);
  }
}
