import { z } from 'zod';
import { tryParseMac } from '../terminal/mac.ts';
import { isIpv4, ipToInt, parseCidr } from '../wire/ipv4.ts';

/**
 * Field types shared by the modules' config slices (`<module>/config.ts`). A module's slice is a zod schema next
 * to the code that reads it, with its type inferred from the schema (`z.output`); config/schema.ts composes
 * the slices and checks what spans several of them.
 */
export const ipv4Field = z.string().refine(isIpv4, { message: 'must be a dotted IPv4 address' });

export const cidrField = z.string().refine(
  (s) => {
    try {
      parseCidr(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be a subnet in CIDR form with no host bits set, e.g. 10.0.0.0/24' },
);

export const macField = z.string().refine((s) => tryParseMac(s) !== undefined, { message: 'must be a MAC address like 52:54:00:12:34:56' });

export const ifnameField = z.string().regex(/^[A-Za-z0-9_.:@-]{1,15}$/, 'must be a network interface name (1-15 characters)');

export const portField = z.int().min(1).max(65535);

export const ipv4RangeField = z
  .strictObject({ start: ipv4Field, end: ipv4Field })
  .refine((r) => ipToInt(r.start) <= ipToInt(r.end), { message: 'start must not be above end' });
