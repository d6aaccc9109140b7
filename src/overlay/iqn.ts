/**
 * Per-terminal target names (the HTTP boot script builder uses the same function):
 *   iqn.2026-11.io.bootgate:disk.<image>.<mac with hyphens, lowercase>
 * and the isolation rule: a terminal may only open the disk named after its own MAC.
 */
export const IQN_PREFIX = 'iqn.2026-11.io.bootgate:disk.';
const MAC_RE = /^([0-9a-f]{2})([-:]?)([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})$/i;
/** image names: what may appear in a path component and an IQN (RFC 3720 §3.2.6.2 allows [a-z0-9.-:]) */
export const IMAGE_NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** "AA:BB:CC:DD:EE:FF" / "aa-bb-…" / "aabbcc…" → "aa-bb-cc-dd-ee-ff"; undefined when not a MAC. */
export function normaliseMac(mac: string): string | undefined {
  const m = MAC_RE.exec(mac.trim());
  if (!m) return undefined;
  return [m[1], m[3], m[4], m[5], m[6], m[7]].join('-').toLowerCase();
}

export function targetIqn(image: string, mac: string): string {
  const m = normaliseMac(mac);
  if (!m) throw new RangeError(`not a MAC address: ${mac}`);
  if (!IMAGE_NAME_RE.test(image)) throw new RangeError(`bad image name: ${image}`);
  return `${IQN_PREFIX}${image}.${m}`;
}

/** The inverse of targetIqn; undefined for any other name. IQNs compare case-insensitively (RFC 3722). */
export function parseTargetIqn(iqn: string): { image: string; mac: string } | undefined {
  const lower = iqn.toLowerCase();
  if (!lower.startsWith(IQN_PREFIX)) return undefined;
  const rest = lower.slice(IQN_PREFIX.length);
  const dot = rest.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const image = rest.slice(0, dot);
  const mac = rest.slice(dot + 1);
  if (!IMAGE_NAME_RE.test(image) || !/^([0-9a-f]{2}-){5}[0-9a-f]{2}$/.test(mac)) return undefined;
  return { image, mac };
}

/** Where the terminal with this MAC is (DHCP leases in the appliance, a Map in tests). */
export type MacToIp = (mac: string) => string | undefined | Promise<string | undefined>;

/**
 * Isolation: the connection's client IP must be the address the MAC named in the IQN holds. A MAC we
 * know no address for is refused (a terminal that booted from us has a lease).
 */
export async function terminalMayOpen(iqnMac: string, clientIp: string, lookup: MacToIp): Promise<boolean> {
  const mac = normaliseMac(iqnMac);
  if (!mac) return false;
  const ip = await lookup(mac);
  return ip !== undefined && ip === clientIp;
}
