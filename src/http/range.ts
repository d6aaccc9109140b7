/**
 * The `Range` request header for one representation of `size` bytes (RFC 9110 §14.1.2, §14.2).
 * Only a single byte range is honoured; several ranges, or a header we cannot parse, are answered with the
 * whole file (a server MAY ignore Range, §14.2), which is all iPXE's httpblock needs (PROTOCOLS.md H2).
 */
export type RangeResult = { kind: 'none' } | { kind: 'range'; start: number; end: number } | { kind: 'unsatisfiable' };

const SINGLE = /^bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*$/i;

export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'none' };
  const m = SINGLE.exec(header);
  if (!m) return { kind: 'none' }; // several ranges, another unit, or garbage: send everything
  const [, a, b] = m as unknown as [string, string, string];
  if (a === '' && b === '') return { kind: 'none' };
  if (a === '') {
    // suffix-range "-n": the last n bytes (§14.1.2); "-0" selects nothing
    const n = Number(b);
    if (!Number.isSafeInteger(n)) return { kind: 'none' };
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  if (!Number.isSafeInteger(start)) return { kind: 'none' };
  let end = size - 1;
  if (b !== '') {
    end = Number(b);
    if (!Number.isSafeInteger(end)) end = size - 1;
    else if (end < start) return { kind: 'none' }; // invalid range-spec: ignore the header (§14.1.1)
  }
  if (start >= size) return { kind: 'unsatisfiable' }; // first-pos at or past the end: 416 (§15.5.17)
  return { kind: 'range', start, end: Math.min(end, size - 1) };
}
