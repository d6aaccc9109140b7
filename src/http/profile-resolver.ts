import type { Mac } from '../terminal/mac.ts';
import type { BootProfile } from './ipxe-script.ts';

/**
 * The one policy question the HTTP boot server asks (STYLE.md rule 8): which profile this terminal's iPXE script
 * is rendered from. Answered by the appliance's boot policy (boot/policy.ts).
 */
export interface ProfileResolver {
  /** `mac` undefined when the terminal identified itself by UUID only */
  profileFor(mac: Mac | undefined, uuid?: string): { name: string; profile: BootProfile };
}
