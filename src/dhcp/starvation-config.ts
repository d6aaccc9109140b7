import { z } from 'zod';

/**
 * The `dhcp.starvation:` config slice: what stops one machine on the LAN from holding the whole pool
 * (dhcpstarv, Yersinia). Plug into the dhcp schema as `starvation: starvationConfigSchema.prefault({})`.
 */
export const starvationConfigSchema = z.strictObject({
  /** outstanding OFFERs per link-layer source (the frame's Ethernet source); a terminal needs one */
  maxOffersPerSource: z.int().min(1).max(100_000).default(4),
  /** bound leases per link-layer source; raise it for a host bridging virtual machines onto the LAN */
  maxBindingsPerSource: z.int().min(1).max(100_000).default(4),
  /**
   * a directly attached client (no relay) whose chaddr differs from its frame's Ethernet source: 'refuse'
   * drops it (counted); 'count' only counts it (for MAC-rewriting Wi-Fi repeaters), per-source limits still apply
   */
  chaddrMismatch: z.enum(['refuse', 'count']).default('refuse'),
  /** pool use (bound + offered + declined, of the pool's size) above which offers to unknown clients are short */
  pressureWatermark: z.number().gt(0).max(1).default(0.8),
  /** how long an offer to an unknown client holds its address under pressure (dhcp.offerHoldSeconds otherwise) */
  pressureOfferHoldSeconds: z.int().min(1).max(600).default(5),
  /**
   * storm control when the LAN interface is a bridge (the appliance is the room's switch): broadcast DHCP frames
   * per second per Ethernet source, beyond which they are dropped before the bridge repeats them; 0: off
   */
  bridgeRateLimit: z
    .strictObject({ perSourcePerSecond: z.int().min(0).max(100_000).default(50), burst: z.int().min(1).max(100_000).default(100) })
    .prefault({}),
});
export type StarvationConfig = z.output<typeof starvationConfigSchema>;
