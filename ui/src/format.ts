/** Locale formatting of sizes and shares (Intl), shared by the admin screens; unit-tested in ui-admin.test.ts. */

const UNITS = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'] as const;

/** Bytes in decimal units (1 kB = 1000 B, as Intl's unit names mean), one decimal above bytes: "1.5 MB" (en). */
export function formatBytes(bytes: number, lang: string): string {
  let i = 0;
  let v = bytes;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return new Intl.NumberFormat(lang, { style: 'unit', unit: UNITS[i]!, unitDisplay: 'short', maximumFractionDigits: i === 0 ? 0 : 1 }).format(v);
}

/** A fraction 0…1 as a percentage: 0.25 → "25%" (en), "25 %" (fr). */
export function formatPercent(fraction: number, lang: string): string {
  return new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 0 }).format(fraction);
}

export function formatNumber(n: number, lang: string, fractionDigits = 2): string {
  return new Intl.NumberFormat(lang, { maximumFractionDigits: fractionDigits }).format(n);
}
