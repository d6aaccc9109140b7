import { z } from 'zod';
import { macField } from '../config/fields.ts';
import { IMAGE_NAME_RE, IMAGE_NAME_RULE } from '../terminal/iqn.ts';

export const overlayModeSchema = z.enum(['discard', 'keep', 'super']);

/**
 * The overlay fields of the `iscsi:` config slice: golden images and the per-terminal copy-on-write overlays.
 * Image names follow the IQN rule (terminal/iqn.ts), so a name check-config accepts is one the target accepts.
 */
export const overlayConfigFields = {
  /** golden disk images: name → file; each terminal sees `iqn.2026-11.io.bootgate:disk.<name>.<mac>` */
  images: z
    .record(z.string(), z.string())
    .superRefine((images, ctx) => {
      // checked here rather than as the record's key schema, so the message names the rule, not "Invalid key"
      for (const name of Object.keys(images)) {
        if (!IMAGE_NAME_RE.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: `image names are ${IMAGE_NAME_RULE}`, input: name });
      }
    })
    .default({}),
  overlays: z
    .strictObject({
      /** discard: clean image at every boot; keep: writes survive reboots; super: writes become a new image version on commit */
      defaultMode: overlayModeSchema.default('discard'),
      terminals: z.record(macField, overlayModeSchema).default({}),
      /** per-terminal overlay bound; default: the disk size */
      limitBytes: z
        .int()
        .min(1 << 20)
        .optional(),
      /**
       * A discard overlay's data file is kept across resets (only its map is emptied) while it holds at most this
       * many bytes on disk, so the next boot's first writes overwrite blocks the filesystem already allocated
       * instead of allocating new ones (docs/iscsi.md, "first write"); 0 deletes the file at every reset.
       */
      recycleBytes: z
        .int()
        .min(0)
        .default(4 * 2 ** 30),
    })
    .prefault({}),
};

const overlaySliceSchema = z.strictObject(overlayConfigFields);
/** What the overlay manager reads: `iscsi.images` and `iscsi.overlays` as parsed. */
export type OverlaySettings = z.output<typeof overlaySliceSchema>;
/** The same, as tools and tests write it (defaults filled in by the schema). */
export type OverlaySettingsInput = z.input<typeof overlaySliceSchema>;
export const overlaySettings = (input: OverlaySettingsInput): OverlaySettings => overlaySliceSchema.parse(input);
