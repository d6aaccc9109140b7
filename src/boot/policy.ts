import { encodeSubOptions } from '../dhcp/options.ts';
import { IpxeOpt, type BootPolicy as DhcpBootPolicy, type BootReply, type ClientBootInfo, type Firmware } from '../dhcp/pxe.ts';
import type { ProfileResolver } from '../http/profile-resolver.ts';
import type { BootProfile } from '../http/ipxe-script.ts';
import { macHyphens, tryParseMac, type Mac } from '../terminal/mac.ts';
import { intToIp } from '../wire/ipv4.ts';
import type { FileKind } from './timeline.ts';
import type { BootConfig } from './config.ts';

/**
 * "What does this terminal boot?" — answered in one place (Pixiecore's `Booter`). The policy maps a terminal to
 * its profile, and the profile to what each protocol hands out: the DHCP reply (which NBP or script URL), the
 * iPXE script's profile (HTTP), and what a served file is for that terminal (the boot timeline). Protocol code
 * sees only the narrow port it needs (dhcp/pxe.ts `BootPolicy`, http/profile-resolver.ts `ProfileResolver`);
 * seat classes and the admission queue plug in here, behind `profileFor`.
 */
export interface TerminalBootPolicy extends DhcpBootPolicy, ProfileResolver {
  /** the profile this terminal boots; `mac` undefined when the terminal identified itself by UUID only */
  profileFor(mac: Mac | undefined, uuid?: string): { name: string; profile: BootProfile };
  /** what a file served to this terminal is in its boot: its NBP, or its profile's kernel or initrd */
  classifyFile(mac: Mac, path: string): FileKind | undefined;
}

export interface ConfiguredBootPolicyOptions {
  boot: BootConfig;
  /** `profiles:`; empty → every terminal boots its local disk (iPXE `exit`) under `boot.defaultProfile` */
  profiles: Readonly<Record<string, BootProfile>>;
  /** DHCP reservations naming a profile (any others are ignored here) */
  reservations: ReadonlyArray<{ mac: string; profile?: string | undefined }>;
  /** where terminals fetch boot files (siaddr, TFTP and HTTP) */
  serverAddress: number;
  httpPort: number;
}

/**
 * PXE option 43 for a reply that carries the boot file itself (dnsmasq's pxe_opts): sub-option 6
 * PXE_DISCOVERY_CONTROL = 8 (boot file present, download it directly) and sub-option 10 PXE_MENU_PROMPT with
 * timeout 0 ("PXE"), which makes old ROMs skip the boot-server discovery (PXE 2.1 Table 2-1).
 * EDK2 (NetworkPkg/UefiPxeBcDxe): sub-option 6 makes the offer PxeOfferTypeDhcpPxe10, its first choice, so no
 * BINL request to port 4011 follows; bit 3 with a boot file makes PxeBcSelectBootPrompt skip prompt and menu.
 * Nothing here shortens EDK2's offer collection (up to 4 s): see docs/dhcp.md "Boot waits".
 */
export const PXE_DIRECT_BOOT_OPTIONS = encodeSubOptions([
  [6, Buffer.from([0x08])],
  [10, Buffer.from([0x00, ...Buffer.from('PXE', 'latin1')])],
]);

/**
 * Option 175 for iPXE: sub-option 0xb0 (DHCP_EB_NO_PXEDHCP) = 1, so iPXE's dhcp_discovery_rx (net/udp/dhcp.c)
 * requests our offer at once instead of waiting DHCP_DISC_PROXY_TIMEOUT_SEC (2 s) for ProxyDHCP offers. Our
 * OFFER (60 = PXEClient plus a file) also counts as iPXE's proxy offer, which ends discovery by itself; 176
 * keeps it so for replies without 60. See docs/dhcp.md "Boot waits".
 */
export const IPXE_SKIP_PROXY = encodeSubOptions([[IpxeOpt.NO_PXEDHCP, Buffer.from([1])]], false);

function firmwareFile(files: BootConfig['files'], fw: Firmware): string | undefined {
  switch (fw) {
    case 'bios':
      return files.bios;
    case 'x64-efi':
      return files.x64Efi;
    case 'ia32-efi':
      return files.ia32Efi;
    case 'arm64-efi':
      return files.arm64Efi;
    default:
      return undefined;
  }
}

const LOCAL_DISK: BootProfile = { exit: true };
const bare = (path: string): string => path.replace(/^\/+/, '').replace(/\?.*$/, '');

/**
 * The configured policy: a reservation naming a profile wins, every other terminal gets `boot.defaultProfile`.
 * Its DHCP answers (RFC 4578, PXE 2.1, ipxe.org "chainloading"):
 * - iPXE (option 77) gets its per-terminal script over HTTP, never the NBP again, so there is no chainload loop;
 * - UEFI HTTP boot clients get an IP-literal http:// URL to their architecture's iPXE build in option 67;
 * - PXE ROMs get the iPXE build for their architecture by TFTP, with option 43 for direct download;
 * - anything else gets no boot information (a plain DHCP client).
 * Profile names are checked once, at construction (config/schema.ts reports them by key first).
 */
export class ConfiguredBootPolicy implements TerminalBootPolicy {
  private readonly byMac = new Map<Mac, string>();
  private readonly profiles: Readonly<Record<string, BootProfile>>;
  private readonly nbps: ReadonlySet<string>;
  private classProfile: (mac: Mac) => string | undefined = () => undefined;

  constructor(private readonly o: ConfiguredBootPolicyOptions) {
    this.profiles = Object.keys(o.profiles).length > 0 ? o.profiles : { [o.boot.defaultProfile]: LOCAL_DISK };
    if (!Object.hasOwn(this.profiles, o.boot.defaultProfile)) throw new RangeError(`default profile ${o.boot.defaultProfile} is not under profiles`);
    for (const r of o.reservations) {
      const mac = tryParseMac(r.mac);
      if (!mac) throw new RangeError(`reservation MAC ${r.mac} is malformed`);
      if (r.profile === undefined) continue;
      if (!Object.hasOwn(this.profiles, r.profile)) throw new RangeError(`reservation ${r.mac} names unknown profile ${r.profile}`);
      this.byMac.set(mac, r.profile);
    }
    this.nbps = new Set(Object.values(o.boot.files));
  }

  /** True when no profile is configured and every terminal is sent to its local disk. */
  get bootsLocalDisk(): boolean {
    return Object.keys(this.o.profiles).length === 0;
  }

  /**
   * The seat class's profile of a terminal (identity's seat groups, set by the composition root once the seat
   * directory exists): between a reservation's profile and boot.defaultProfile. A name no longer under
   * `profiles` (the config changed since the class was set) is ignored.
   */
  setClassProfile(fn: (mac: Mac) => string | undefined): void {
    this.classProfile = fn;
  }

  /** the configured profile names (what a seat class may choose) */
  profileNames(): string[] {
    return Object.keys(this.profiles);
  }

  /** the profile itself, if configured */
  profile(name: string): BootProfile | undefined {
    return Object.hasOwn(this.profiles, name) ? this.profiles[name] : undefined;
  }

  profileFor(mac: Mac | undefined): { name: string; profile: BootProfile } {
    let name = mac !== undefined ? this.byMac.get(mac) : undefined;
    if (name === undefined && mac !== undefined) {
      const c = this.classProfile(mac);
      if (c !== undefined && Object.hasOwn(this.profiles, c)) name = c;
    }
    name ??= this.o.boot.defaultProfile;
    return { name, profile: this.profiles[name]! };
  }

  classifyFile(mac: Mac, path: string): FileKind | undefined {
    const name = bare(path);
    if (this.nbps.has(name)) return 'nbp';
    const { profile } = this.profileFor(mac);
    if ('kernel' in profile) {
      if (bare(profile.kernel) === name) return 'kernel';
      if ((profile.initrd ?? []).some((i) => bare(i) === name)) return 'initrd';
    }
    return undefined;
  }

  private httpBase(): string {
    const port = this.o.httpPort === 80 ? '' : `:${this.o.httpPort}`;
    return `http://${intToIp(this.o.serverAddress)}${port}`;
  }

  bootReply(info: ClientBootInfo, mac: string): BootReply | undefined {
    const base: Pick<BootReply, 'nextServer' | 'uuid'> = { nextServer: this.o.serverAddress };
    if (info.uuid) base.uuid = info.uuid;
    if (info.ipxe) {
      const parsed = tryParseMac(mac);
      const path = this.o.boot.ipxeScriptPath.replaceAll('${mac}', parsed ? macHyphens(parsed) : mac.replaceAll(':', '-'));
      // iPXE builds without HTTP get the script by TFTP (the path without its query string).
      const url = info.ipxeHttp ? `${this.httpBase()}${path}` : path.replace(/\?.*$/, '').replace(/^\//, '');
      const reply: BootReply = { ...base, vendorClass: 'PXEClient', bootfileOption: url, ipxeOptions: IPXE_SKIP_PROXY };
      if (url.length <= 127) reply.file = url;
      return reply;
    }
    const file = firmwareFile(this.o.boot.files, info.firmware);
    if (file === undefined) return undefined;
    if (info.httpBoot) {
      // UEFI HTTP boot: URI in option 67 (read before the file field), IP literal so no DNS is needed.
      const url = `${this.httpBase()}/${file}`;
      const reply: BootReply = { ...base, vendorClass: 'HTTPClient', bootfileOption: url };
      if (url.length <= 127) reply.file = url;
      return reply;
    }
    if (info.pxe) return { ...base, vendorClass: 'PXEClient', file, vendorOptions: PXE_DIRECT_BOOT_OPTIONS };
    return undefined;
  }
}
