import { Opt } from './constants.ts';
import type { DhcpPacket } from './codec.ts';
import { parseSubOptions } from './options.ts';

/** Client system architecture codes, option 93 (RFC 4578 §2.1, IANA registry, EDK2 Dhcp.h). */
export const Arch = {
  BIOS: 0,
  IA32_EFI: 6,
  X64_EFI: 7,
  EBC: 9, // IANA says EBC; firmware that sends 9 is x64 in practice (iPXE af9afd0), so it gets the x64 build
  ARM32_EFI: 10,
  ARM64_EFI: 11,
  X86_HTTP: 0x0f,
  X64_HTTP: 0x10,
  ARM32_HTTP: 0x12,
  ARM64_HTTP: 0x13,
} as const;

/** iPXE encapsulated option 175 codes (iPXE include/ipxe/dhcp.h). */
export const IpxeOpt = {
  FEATURE_HTTP: 0x13,
  FEATURE_EFI: 0x24,
  NO_PXEDHCP: 0xb0,
} as const;

export type Firmware = 'bios' | 'ia32-efi' | 'x64-efi' | 'arm64-efi' | 'unknown';

/** What a DHCP request says about the terminal's boot firmware. */
export interface ClientBootInfo {
  /** option 60 begins "PXEClient" (PXE 2.1 §2.2; match the first 9 bytes as dnsmasq does) */
  pxe: boolean;
  /** option 60 begins "HTTPClient" (UEFI 2.x HTTP boot) */
  httpBoot: boolean;
  /** option 77 says iPXE, raw or RFC 3004 length-prefixed */
  ipxe: boolean;
  /** option 175 carries the HTTP feature flag */
  ipxeHttp: boolean;
  arch: number | undefined;
  firmware: Firmware;
  /** option 97 bytes, echoed in PXE replies (RFC 4578 §2.3) */
  uuid: Buffer | undefined;
}

/** RFC 3004 §4: user class data is a list of (length, bytes); iPXE sends bare "iPXE" instead. Accept both. */
export function userClassSaysIpxe(b: Buffer | undefined): boolean {
  if (!b) return false;
  if (b.toString('latin1') === 'iPXE') return true;
  for (let i = 0; i < b.length;) {
    const len = b[i]!;
    if (len === 0 || i + 1 + len > b.length) return false;
    if (b.toString('latin1', i + 1, i + 1 + len) === 'iPXE') return true;
    i += 1 + len;
  }
  return false;
}

function firmwareOf(arch: number | undefined): Firmware {
  switch (arch) {
    case Arch.BIOS:
    case Arch.X86_HTTP:
      return arch === Arch.BIOS ? 'bios' : 'ia32-efi';
    case Arch.IA32_EFI:
      return 'ia32-efi';
    case Arch.X64_EFI:
    case Arch.EBC:
    case Arch.X64_HTTP:
      return 'x64-efi';
    case Arch.ARM64_EFI:
    case Arch.ARM64_HTTP:
      return 'arm64-efi';
    default:
      return 'unknown';
  }
}

export function clientBootInfo(p: DhcpPacket): ClientBootInfo {
  const vendor = p.options.get(Opt.VENDOR_CLASS)?.toString('latin1') ?? '';
  // Option 93 is a list of 16-bit codes (RFC 4578 §2.1); the first is the client's preference.
  const archBytes = p.options.get(Opt.CLIENT_SYSTEM_ARCH);
  const arch = archBytes && archBytes.length >= 2 && archBytes.length % 2 === 0 ? archBytes.readUInt16BE(0) : undefined;
  const encap = p.options.get(Opt.IPXE_ENCAP);
  const features = encap ? parseSubOptions(encap) : undefined;
  const uuid = p.options.get(Opt.CLIENT_UUID);
  return {
    pxe: vendor.startsWith('PXEClient'),
    httpBoot: vendor.startsWith('HTTPClien'),
    ipxe: userClassSaysIpxe(p.options.get(Opt.USER_CLASS)),
    ipxeHttp: features?.has(IpxeOpt.FEATURE_HTTP) ?? false,
    arch,
    firmware: firmwareOf(arch),
    uuid: uuid && uuid.length === 17 && uuid[0] === 0 ? uuid : undefined,
  };
}

/** What the DHCP reply must carry for the terminal to boot. The protocol code applies it, nothing more. */
export interface BootReply {
  /** exactly "PXEClient" or "HTTPClient" in reply option 60 (PXE 2.1 §2.2; UEFI HTTP boot) */
  vendorClass: 'PXEClient' | 'HTTPClient';
  /** next server (siaddr) */
  nextServer: number;
  /** file field (≤127 characters) */
  file?: string;
  /** option 67, for URLs (UEFI HTTP boot reads 67 first; long URLs do not fit the file field) */
  bootfileOption?: string;
  /** raw option 43 (PXE vendor options) */
  vendorOptions?: Buffer;
  /** raw option 175 (iPXE settings) */
  ipxeOptions?: Buffer;
  uuid?: Buffer;
}

/** "Which file does this terminal boot?" — the one question protocol code asks policy. */
export interface BootPolicy {
  bootReply(info: ClientBootInfo, mac: string): BootReply | undefined;
}
