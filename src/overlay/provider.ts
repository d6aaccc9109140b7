import type { BlockDeviceProvider, ChapCredentials, TargetContext, TargetResolution } from '../iscsi/block-device.ts';
import { parseTargetIqn, targetIqn } from '../terminal/iqn.ts';
import type { Mac } from '../terminal/mac.ts';
import type { OverlayManager } from './manager.ts';

export interface OverlayProviderDeps {
  manager: OverlayManager;
  /**
   * MAC → IP of the terminal (the appliance passes DHCP leases). When given, a connection may only open the
   * disk named after the MAC that holds its source IP (isolation). Without it (lab/bench only) any client
   * may open any terminal disk.
   */
  ipForMac?: (mac: Mac) => string | undefined | Promise<string | undefined>;
  /** CHAP per image/terminal (optional) */
  chap?: (image: string, mac: Mac) => ChapCredentials | undefined;
  /** MACs that SendTargets lists to a client IP (e.g. from leases); default: none */
  macsForIp?: (ip: string) => Mac[] | Promise<Mac[]>;
  /** a terminal's disk opened (its iSCSI login completed): admission control frees its heavy-phase slot */
  onOpened?: (image: string, mac: Mac) => void;
}

/** Maps per-terminal IQNs onto overlay disks (the BlockDeviceProvider the target uses). */
export class OverlayDeviceProvider implements BlockDeviceProvider {
  constructor(private readonly deps: OverlayProviderDeps) {}

  async resolve(ctx: TargetContext): Promise<TargetResolution> {
    const parsed = parseTargetIqn(ctx.targetName);
    if (!parsed || !this.deps.manager.hasImage(parsed.image)) return { status: 'not-found' };
    const { image, mac } = parsed;
    // Isolation: the connection's source address must be the one the MAC named in the IQN holds; a MAC we know
    // no address for is refused (a terminal that booted from us has a lease).
    if (this.deps.ipForMac && (await this.deps.ipForMac(mac)) !== ctx.clientIp) return { status: 'not-allowed' };
    return {
      status: 'ok',
      chap: this.deps.chap?.(image, mac),
      open: async ({ reinstatement }) => {
        const { disk, release } = await this.deps.manager.openTerminal(image, mac, { newSession: !reinstatement });
        this.deps.onOpened?.(image, mac);
        return { device: disk, release };
      },
    };
  }

  async listTargets(ctx: { initiatorName: string; clientIp: string }): Promise<string[]> {
    const macs = (await this.deps.macsForIp?.(ctx.clientIp)) ?? [];
    const out: string[] = [];
    for (const { image } of this.deps.manager.images()) for (const mac of macs) out.push(targetIqn(image, mac));
    return out;
  }
}
