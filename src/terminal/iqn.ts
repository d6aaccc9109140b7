import { macHyphens, tryParseMac, type Mac } from './mac.ts';

/**
 * The iSCSI names of a terminal's disk, used by both sides of the isolation rule: the iPXE script builder
 * (http/ipxe-script.ts) tells a terminal which target to sanboot, and the overlay provider accepts a login only
 * to the target named after the MAC that holds the connection's source address. One module, so the two cannot
 * drift apart.
 *
 *   target:    iqn.2026-11.io.bootgate:disk.<image>.<mac with hyphens, lowercase>
 *   initiator: iqn.2026-11.io.bootgate:terminal.<mac with hyphens, lowercase>
 *
 * (RFC 7143 §4.2.7.1 iqn. naming; RFC 3722 stringprep: we allow only the ASCII subset a-z 0-9 '-' '.')
 */
export const TARGET_IQN_PREFIX = 'iqn.2026-11.io.bootgate:disk';
export const INITIATOR_IQN_PREFIX = 'iqn.2026-11.io.bootgate:terminal';

/**
 * Golden image names: one IQN component and one path component. Dots are allowed (`debian-12.1`): the MAC after
 * the last dot has none, so the name still splits back unambiguously; a leading or trailing dot or hyphen is not.
 */
export const IMAGE_NAME_RE = /^[a-z0-9](?:[a-z0-9.-]{0,61}[a-z0-9])?$/;
export const IMAGE_NAME_RULE = '1-63 lowercase letters, digits, "." and "-", starting and ending with a letter or digit';

export function isImageName(name: string): boolean {
  return IMAGE_NAME_RE.test(name);
}

/** The target name prefix of an image, before the MAC: also what an iPXE script completes with `${net0/mac:hexhyp}`. */
export function targetIqnPrefix(image: string): string {
  if (!isImageName(image)) throw new RangeError(`bad image name ${JSON.stringify(image)}: ${IMAGE_NAME_RULE}`);
  return `${TARGET_IQN_PREFIX}.${image}.`;
}

export function targetIqn(image: string, mac: Mac): string {
  return targetIqnPrefix(image) + macHyphens(mac);
}

export function initiatorIqn(mac: Mac): string {
  return `${INITIATOR_IQN_PREFIX}.${macHyphens(mac)}`;
}

/** The inverse of targetIqn; undefined for any other name. IQNs compare case-insensitively (RFC 3722). */
export function parseTargetIqn(iqn: string): { image: string; mac: Mac } | undefined {
  const lower = iqn.toLowerCase();
  const prefix = `${TARGET_IQN_PREFIX}.`;
  if (!lower.startsWith(prefix)) return undefined;
  const rest = lower.slice(prefix.length);
  const dot = rest.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const image = rest.slice(0, dot);
  const macText = rest.slice(dot + 1);
  if (!isImageName(image) || !/^([0-9a-f]{2}-){5}[0-9a-f]{2}$/.test(macText)) return undefined;
  return { image, mac: tryParseMac(macText)! };
}
