import { z } from 'zod';
import { ipv4Field, portField } from '../config/fields.ts';

/** CHAP for one image (RFC 7143 §12.1.3; RFC 1994): the initiator proves `secret`; target* makes it mutual. */
export const chapCredentialsSchema = z.strictObject({
  user: z.string().min(1),
  secret: z.string().min(12).max(255),
  targetUser: z.string().min(1).optional(),
  targetSecret: z.string().min(12).max(255).optional(),
});

/**
 * The iSCSI target's fields of the `iscsi:` config slice (the images and overlays beside them belong to
 * overlay/config.ts). The target reads this object as parsed: no renamed keys, no second set of defaults.
 */
export const iscsiTargetConfigFields = {
  /** SendTargets still advertises the address each connection came in on */
  listen: ipv4Field.default('0.0.0.0'),
  port: portField.default(3260),
  portalGroupTag: z.int().min(1).max(65535).default(1),
  /** commands in flight per session (CmdSN window) */
  cmdWindow: z.int().min(1).max(1024).default(64),
  maxWriteBytes: z
    .int()
    .min(4096)
    .default(32 << 20),
  maxConnections: z.int().min(1).default(1024),
  /** CHAP per image (optional) */
  chap: z.record(z.string(), chapCredentialsSchema).default({}),
};
export const iscsiTargetConfigSchema = z.strictObject(iscsiTargetConfigFields);
export type IscsiTargetSettings = z.output<typeof iscsiTargetConfigSchema>;
