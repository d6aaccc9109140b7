import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { nativeAddon } from '../net/iface-socket.ts';
import { encodeRouterAdvertisement, parseIpv6Prefix, ICMP6_ROUTER_SOLICIT } from './router-advertisement.ts';

export interface RouterAdvertiserConfig {
  interface: string;
  /** a ULA /64 the terminals may autoconfigure from */
  prefix: string;
  intervalSeconds: number;
}

/**
 * A minimal IPv6 router advertiser for the terminal LAN (RFC 4861 §6.2): unsolicited RAs every interval and an
 * answer to each Router Solicitation. Its only job is to let iPXE finish IPv6 autoconfiguration at once instead
 * of soliciting for ~13 s (measured in ../shared/lab). Router lifetime 0: bootgate does not route IPv6.
 */
export class RouterAdvertiser {
  private sock: object | undefined;
  private timer: NodeJS.Timeout | undefined;
  private packet: Buffer | undefined;
  sent = 0;

  constructor(
    private readonly cfg: RouterAdvertiserConfig,
    private readonly logger: Logger,
  ) {}

  start(): void {
    const native = nativeAddon();
    const prefix = parseIpv6Prefix(this.cfg.prefix);
    let sourceMac: Buffer | undefined;
    try {
      sourceMac = Buffer.from(readFileSync(`/sys/class/net/${this.cfg.interface}/address`, 'utf8').trim().replaceAll(':', ''), 'hex');
    } catch {
      sourceMac = undefined;
    }
    this.packet = encodeRouterAdvertisement({
      routerLifetimeSeconds: 0,
      ...(sourceMac && sourceMac.length === 6 ? { sourceMac } : {}),
      prefix: { ...prefix, validSeconds: 3600, preferredSeconds: 1800 },
    });
    this.sock = native.openIcmp6(this.cfg.interface, (buf: Buffer, from: string) => {
      // RFC 4861 §6.1.1: only well-formed solicitations (type 133, code 0, ≥ 8 bytes) are answered.
      if (buf.length >= 8 && buf[0] === ICMP6_ROUTER_SOLICIT && buf[1] === 0) this.advertise(from.startsWith('fe80') ? from : 'ff02::1');
    });
    this.advertise('ff02::1');
    this.timer = setInterval(() => this.advertise('ff02::1'), this.cfg.intervalSeconds * 1000);
    this.timer.unref();
    this.logger.info({ interface: this.cfg.interface, prefix: this.cfg.prefix }, 'IPv6 router advertisements on');
  }

  private advertise(to: string): void {
    if (!this.sock || !this.packet) return;
    const err = nativeAddon().sendIcmp6(this.sock, this.packet, to);
    if (err === 0) this.sent++;
    else this.logger.debug({ errno: err, to }, 'router advertisement not sent');
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.sock) nativeAddon().close(this.sock as never);
    this.sock = undefined;
  }
}
