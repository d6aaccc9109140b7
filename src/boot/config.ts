import { z } from 'zod';
import { ipv4Field } from '../config/fields.ts';

/** The `boot:` config slice: what the boot policy (boot/policy.ts) hands out. */
export const bootConfigSchema = z.strictObject({
  /** where terminals fetch boot files (siaddr, TFTP and HTTP); defaults to the DHCP server identifier */
  serverAddress: ipv4Field.optional(),
  defaultProfile: z.string().default('default'),
  files: z
    .strictObject({
      bios: z.string().max(127).default('undionly.kpxe'),
      x64Efi: z.string().max(127).default('ipxe.efi'),
      ia32Efi: z.string().max(127).default('ipxe-i386.efi'),
      arm64Efi: z.string().max(127).default('ipxe-arm64.efi'),
    })
    .prefault({}),
  /** the iPXE script path on the HTTP boot server; ${mac} is replaced by the terminal's MAC */
  ipxeScriptPath: z.string().default('/boot.ipxe?mac=${mac}'),
});
export type BootConfig = z.output<typeof bootConfigSchema>;

/** One `profiles.<name>` entry: what an iPXE script tells the terminal to do (http/ipxe-script.ts renders it). */
export const bootProfileSchema = z.union([
  z.strictObject({ kernel: z.string(), initrd: z.array(z.string()).default([]), cmdline: z.string().default('') }),
  z.strictObject({ sanboot: z.string() }),
  z.strictObject({ chain: z.string().url() }),
  z.strictObject({ exit: z.literal(true) }),
]);
export const bootProfilesSchema = z.record(z.string(), bootProfileSchema).default({});
