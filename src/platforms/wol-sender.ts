import { createSocket, type Socket } from 'node:dgram';
import type { Mac } from '../terminal/mac.ts';
import type { PlatformsMetrics } from './metrics.ts';
import { magicPacket, spreadSchedule } from './wol.ts';

export interface WolSenderOptions {
  /**
   * The LAN's directed broadcast address (wire/ipv4.ts broadcastOf of the LAN subnet, e.g. 10.9.0.255) and the LAN
   * interface's own address, so the packet leaves on that interface; read at start().
   */
  lan: () => { broadcast: string; address: string };
  port: number;
  password?: Buffer;
  metrics: PlatformsMetrics;
  /** for spread sends; tests pass a fake */
  setTimer?: (fn: () => void, ms: number) => NodeJS.Timeout;
  /** resolves when a terminal may be woken now (the boot queue's pace, boot/wake-pacing.ts); absent = spread only */
  pace?: (mac: Mac) => Promise<void>;
  now?: () => number;
}

/** Sends magic packets as UDP broadcasts (SO_BROADCAST) from the LAN address. start()/stop() open and close the socket. */
export class WolSender {
  private socket: Socket | undefined;
  private broadcast = '';
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly o: WolSenderOptions) {}

  async start(): Promise<void> {
    if (this.socket) return;
    const { broadcast, address } = this.o.lan();
    this.broadcast = broadcast;
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind({ address, port: 0 }, () => {
        s.removeListener('error', reject);
        s.setBroadcast(true);
        resolve();
      });
    });
    s.on('error', () => undefined); // send errors are reported per send
    this.socket = s;
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.socket?.close();
    this.socket = undefined;
  }

  /** One magic packet for `mac`. */
  send(mac: Mac): Promise<void> {
    const s = this.socket;
    if (!s) return Promise.reject(new Error('the Wake-on-LAN sender is not started'));
    const packet = magicPacket(mac, this.o.password);
    return new Promise((resolve, reject) =>
      s.send(packet, this.o.port, this.broadcast, (err) => {
        this.o.metrics.wolPackets.inc({ result: err ? 'failed' : 'sent' });
        if (err) reject(err);
        else resolve();
      }),
    );
  }

  /**
   * Wakes every MAC, spread over `spreadMs` (0 = all at once); resolves when the last packet is sent. With a pace
   * (the boot queue's, boot/wake-pacing.ts) the packets go one at a time, in order, each no earlier than its
   * spread time and only when the pace lets it.
   */
  async wakeAll(macs: readonly Mac[], spreadMs: number): Promise<{ sent: number; failed: number }> {
    const now = (this.o.now ?? Date.now)();
    const setTimer = this.o.setTimer ?? setTimeout;
    const times = spreadSchedule(macs.length, now, spreadMs);
    const pace = this.o.pace;
    // with a pace, each packet waits for the turns of those before it (the timers fire in spread order) and its own
    let turns = Promise.resolve();
    const results = await Promise.allSettled(
      macs.map(
        (mac, i) =>
          new Promise<void>((resolve, reject) => {
            const t = setTimer(() => {
              this.timers.delete(t);
              if (!pace) return void this.send(mac).then(resolve, reject);
              turns = turns.then(() => pace(mac));
              void turns.then(() => this.send(mac)).then(resolve, reject);
            }, times[i]! - now);
            this.timers.add(t);
          }),
      ),
    );
    const failed = results.filter((r) => r.status === 'rejected').length;
    return { sent: macs.length - failed, failed };
  }
}
