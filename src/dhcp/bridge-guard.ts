import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { NftRunner } from '../net/nft-runner.ts';

/** One table of our own in the bridge family; replaced whole at start, deleted at stop. */
export const BRIDGE_GUARD_TABLE = 'bootgate_dhcp_guard';
const COUNTER_INTERVAL_MS = 5000;

export interface BridgeGuardOptions {
  /** the LAN interface; the guard applies only when it is a Linux bridge (the appliance is the room's switch) */
  lanInterface: string;
  /** DHCP frames per second per Ethernet source entering the bridge; 0 turns the guard off */
  perSourcePerSecond: number;
  burst: number;
  /** whether an interface is a bridge (default: /sys/class/net/<if>/bridge exists) */
  isBridge?: (ifname: string) => boolean;
}

/**
 * Storm control for DHCP on a LAN bridge the appliance owns (issue 11). A flood of DISCOVERs is broadcast: the
 * bridge repeats every frame to every port, so it reaches each terminal as well as us, and a client with no
 * socket filter of its own (busybox udhcpc reads every IPv4 frame) loses its OFFER among them. What a managed
 * switch does with storm control and DHCP snooping rate limits, this does at the bridge's prerouting hook:
 * broadcast frames to UDP 67/4011 beyond `perSourcePerSecond` from one Ethernet source are dropped before they
 * are repeated to anyone. Unicast (relays, renewals) is not repeated to other ports and is not limited here;
 * what passes still meets the DHCP server's own chaddr check and per-source limits.
 */
export class DhcpBridgeGuard {
  private installed = false;
  private timer: NodeJS.Timeout | undefined;
  private lastDropped = 0;
  private readonly dropped: Counter;

  constructor(
    private readonly opts: BridgeGuardOptions,
    private readonly nft: NftRunner,
    private readonly log: Logger,
    registry: Registry,
  ) {
    this.dropped = new Counter({
      name: 'bootgate_dhcp_bridge_storm_drops_total',
      help: 'DHCP frames dropped at the LAN bridge for exceeding the per-source rate (dhcp.starvation.bridgeRateLimit)',
      registers: [registry],
    });
  }

  static isBridge(ifname: string): boolean {
    return existsSync(`/sys/class/net/${ifname}/bridge`);
  }

  /** The ruleset, in nft's own syntax (one transaction: the old table, if any, goes with it). */
  ruleset(): string {
    const { perSourcePerSecond: rate, burst } = this.opts;
    return [
      `table bridge ${BRIDGE_GUARD_TABLE}`,
      `delete table bridge ${BRIDGE_GUARD_TABLE}`,
      `table bridge ${BRIDGE_GUARD_TABLE} {`,
      // a source not seen for a minute is forgotten; 65536 sources at most (a randomising flood fills it, and
      // new sources then pass unmetered to the server's own defences)
      '  set dhcp_sources { type ether_addr; size 65536; flags dynamic, timeout; timeout 60s; }',
      '  chain prerouting {',
      '    type filter hook prerouting priority -200; policy accept;',
      `    ether daddr ff:ff:ff:ff:ff:ff ether type ip udp dport { 67, 4011 } update @dhcp_sources { ether saddr limit rate over ${rate}/second burst ${burst} packets } counter drop`,
      '  }',
      '}',
      '',
    ].join('\n');
  }

  async start(): Promise<void> {
    if (this.opts.perSourcePerSecond === 0) return;
    if (!(this.opts.isBridge ?? DhcpBridgeGuard.isBridge)(this.opts.lanInterface)) {
      this.log.info({ interface: this.opts.lanInterface }, 'LAN is not a bridge: DHCP storm control is left to the switch');
      return;
    }
    try {
      await this.nft(['-f', '-'], this.ruleset());
      this.installed = true;
    } catch (e) {
      this.log.warn({ err: e }, 'could not install the DHCP storm control on the LAN bridge; a DHCP flood will reach every terminal');
      return;
    }
    this.log.info({ interface: this.opts.lanInterface, perSourcePerSecond: this.opts.perSourcePerSecond }, 'DHCP storm control on the LAN bridge');
    this.timer = setInterval(() => void this.collect(), COUNTER_INTERVAL_MS);
    this.timer.unref();
  }

  /** Reads the drop rule's counter into the metric. */
  async collect(): Promise<number> {
    if (!this.installed) return 0;
    try {
      const out = await this.nft(['list', 'chain', 'bridge', BRIDGE_GUARD_TABLE, 'prerouting']);
      const n = Number(/counter packets (\d+)/.exec(out)?.[1] ?? 0);
      if (n > this.lastDropped) this.dropped.inc(n - this.lastDropped);
      this.lastDropped = n;
      return n;
    } catch (e) {
      this.log.warn({ err: e }, 'could not read the DHCP storm control counter');
      return this.lastDropped;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (!this.installed) return;
    await this.collect();
    this.installed = false;
    try {
      await this.nft(['delete', 'table', 'bridge', BRIDGE_GUARD_TABLE]);
    } catch (e) {
      this.log.warn({ err: e }, 'could not remove the DHCP storm control table');
    }
  }
}
