import { hyphenMac, type BootProfile } from './ipxe-script.ts';

/** "What does this terminal boot?" — the one policy question the HTTP boot server asks (STYLE.md rule 8). */
export interface ProfileResolver {
  /** `mac` in any common form; `uuid` when the terminal sent one. Returns the profile and its name. */
  profileFor(mac: string, uuid?: string): { name: string; profile: BootProfile };
}

export interface ConfigProfileResolverConfig {
  reservations: ReadonlyArray<{ mac: string; profile?: string | undefined }>;
  defaultProfile: string;
  profiles: Readonly<Record<string, BootProfile>>;
}

/**
 * The config-backed resolver: a reservation naming a profile wins, everything else (unknown MAC, a reservation
 * without a profile) gets the default profile. Profile names are checked once, at construction.
 */
export class ConfigProfileResolver implements ProfileResolver {
  private readonly byMac = new Map<string, string>();

  constructor(private readonly cfg: ConfigProfileResolverConfig) {
    if (!Object.hasOwn(cfg.profiles, cfg.defaultProfile)) throw new RangeError(`default profile ${cfg.defaultProfile} is not under profiles`);
    for (const r of cfg.reservations) {
      const mac = hyphenMac(r.mac);
      if (!mac) throw new RangeError(`reservation MAC ${r.mac} is malformed`);
      if (r.profile === undefined) continue;
      if (!Object.hasOwn(cfg.profiles, r.profile)) throw new RangeError(`reservation ${r.mac} names unknown profile ${r.profile}`);
      this.byMac.set(mac, r.profile);
    }
  }

  profileFor(mac: string): { name: string; profile: BootProfile } {
    const key = hyphenMac(mac);
    const name = (key !== undefined ? this.byMac.get(key) : undefined) ?? this.cfg.defaultProfile;
    return { name, profile: this.cfg.profiles[name]! };
  }
}
