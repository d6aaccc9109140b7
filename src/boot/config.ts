import { z } from 'zod';
import { ipv4Field } from '../config/fields.ts';

/**
 * `boot.admission`: admission control for the heavy boot phases (boot/admission.ts, docs/boot-storm.md).
 * Off by default: it changes how every terminal boots (a waiting screen instead of a download), and the right
 * bound depends on the disk and the LAN; docs/boot-storm.md says how to derive it from measured throughput.
 */
export const admissionConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** terminals in the heavy phases (kernel + initrd, iSCSI boot working set) at once */
    maxInHeavyPhase: z.int().min(1).max(1000).default(16),
    /** a waiting terminal's next script request is held this long at most (a long poll) before it is told its new place */
    pollSeconds: z.int().min(1).max(60).default(3),
    /** a waiting terminal that has not asked for this long leaves the queue */
    abandonSeconds: z.int().min(2).max(3600).default(30),
    /** a slot not released (booted report, iSCSI login) after this long is freed */
    slotTimeoutSeconds: z.int().min(5).max(3600).default(120),
    /** a terminal without priority that has waited this long goes ahead of later priority seats (0 = strict priority) */
    agingSeconds: z.int().min(0).max(3600).default(60),
    /** the estimate of a slot's hold time before any terminal has released one */
    initialSlotSeconds: z.number().min(0.1).max(600).default(10),
    /**
     * Wake-on-LAN runs (POST /api/v1/wake, platforms.wol.schedules) send a packet only while woken-but-not-yet-queued
     * + waiting + in-heavy-phase terminals stay under 2 × maxInHeavyPhase (boot/wake-pacing.ts), and no earlier
     * than their spread time
     */
    paceWakeOnLan: z.boolean().default(true),
    /** a woken terminal the queue has not seen after this long stops counting against the pace */
    wakePendingSeconds: z.int().min(5).max(3600).default(120),
    /** what ends a terminal's heavy phase (besides the timeout) */
    releaseOn: z
      .array(z.enum(['booted', 'iscsi-login']))
      .min(1)
      .default(['booted', 'iscsi-login']),
  })
  .superRefine((c, ctx) => {
    if (c.abandonSeconds <= c.pollSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['abandonSeconds'],
        message: 'must be longer than pollSeconds, or every waiting terminal is dropped between two polls',
        input: c.abandonSeconds,
      });
    }
  });
export type AdmissionConfig = z.output<typeof admissionConfigSchema>;

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
  admission: admissionConfigSchema.prefault({}),
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
