import { intToIp } from '../wire/ipv4.ts';
import { encodeSubOptions } from './options.ts';
import { IpxeOpt, type BootPolicy, type BootReply, type ClientBootInfo, type Firmware } from './pxe.ts';

export interface BootPolicyConfig {
  /** where terminals fetch boot files */
  serverAddress: number;
  httpPort: number;
  files: { bios: string; x64Efi: string; ia32Efi: string; arm64Efi: string };
  /** path of the per-terminal iPXE script on the HTTP boot server; "${mac}" becomes the hyphenated MAC */
  ipxeScriptPath: string;
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

function firmwareFile(files: BootPolicyConfig['files'], fw: Firmware): string | undefined {
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

/**
 * The configured boot policy (RFC 4578, PXE 2.1, ipxe.org "chainloading"):
 * - iPXE (option 77) gets its per-terminal script over HTTP, never the NBP again, so there is no chainload loop;
 * - UEFI HTTP boot clients get an IP-literal http:// URL to their architecture's iPXE build in option 67;
 * - PXE ROMs get the iPXE build for their architecture by TFTP, with option 43 for direct download;
 * - anything else gets no boot information (a plain DHCP client).
 */
export class ConfiguredBootPolicy implements BootPolicy {
  constructor(private readonly cfg: BootPolicyConfig) {}

  private httpBase(): string {
    const port = this.cfg.httpPort === 80 ? '' : `:${this.cfg.httpPort}`;
    return `http://${intToIp(this.cfg.serverAddress)}${port}`;
  }

  bootReply(info: ClientBootInfo, mac: string): BootReply | undefined {
    const base: Pick<BootReply, 'nextServer' | 'uuid'> = { nextServer: this.cfg.serverAddress };
    if (info.uuid) base.uuid = info.uuid;
    if (info.ipxe) {
      const path = this.cfg.ipxeScriptPath.replaceAll('${mac}', mac.replaceAll(':', '-'));
      // iPXE builds without HTTP get the script by TFTP (the path without its query string).
      const url = info.ipxeHttp ? `${this.httpBase()}${path}` : path.replace(/\?.*$/, '').replace(/^\//, '');
      const reply: BootReply = { ...base, vendorClass: 'PXEClient', bootfileOption: url, ipxeOptions: IPXE_SKIP_PROXY };
      if (url.length <= 127) reply.file = url;
      return reply;
    }
    const file = firmwareFile(this.cfg.files, info.firmware);
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
