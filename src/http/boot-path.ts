import { realpath } from 'node:fs/promises';
import { sep } from 'node:path';

/** Why a request path was refused (metric reason labels; tests assert these). */
export type PathRefusal = 'bad_encoding' | 'control_char' | 'backslash' | 'dot_segment' | 'symlink_escape';

export type BootPathResult =
  { ok: true; realPath: string; relPath: string } | { ok: false; status: 400 | 403 | 404; reason: PathRefusal | 'not_found' };

const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Maps a URL path (still percent-encoded, without the query) to a file under `rootReal` (already realpath'd),
 * like tftp-hpa's PATH VALIDATION (PROTOCOLS.md §3 T8, applied to HTTP): decode once, refuse NUL and other
 * controls, backslashes and any `..` segment, then realpath the result so a symlink cannot lead outside.
 */
export async function resolveBootPath(rootReal: string, urlPath: string): Promise<BootPathResult> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return { ok: false, status: 400, reason: 'bad_encoding' };
  }
  if (CONTROL.test(decoded)) return { ok: false, status: 400, reason: 'control_char' };
  if (decoded.includes('\\')) return { ok: false, status: 400, reason: 'backslash' };
  const segs: string[] = [];
  for (const s of decoded.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') return { ok: false, status: 403, reason: 'dot_segment' };
    segs.push(s);
  }
  if (segs.length === 0) return { ok: false, status: 404, reason: 'not_found' };
  const relPath = segs.join('/');
  const prefix = rootReal.endsWith(sep) ? rootReal : rootReal + sep;
  let real: string;
  try {
    real = await realpath(prefix + relPath);
  } catch {
    return { ok: false, status: 404, reason: 'not_found' };
  }
  if (!real.startsWith(prefix)) return { ok: false, status: 403, reason: 'symlink_escape' };
  return { ok: true, realPath: real, relPath };
}
