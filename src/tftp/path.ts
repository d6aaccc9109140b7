import { realpath } from 'node:fs/promises';
import { isAbsolute, relative, sep } from 'node:path';
import { TftpErrorCode } from './constants.ts';

export type PathResult = { ok: true; /** path relative to the root, '/'-separated */ relPath: string } | { ok: false; code: number; reason: string };

const refuse = (code: number, reason: string): PathResult => ({ ok: false, code, reason });

/**
 * T8 lexical checks on a requested filename (no file system access):
 * `\` → `/` (Windows bootmgr asks for `\Boot\BCD`), a leading `/` is relative to the root, empty and `.` components
 * are dropped, and `..`, NUL, control characters (and DEL) are refused: ERROR 2 (access violation).
 */
export function normalizeTftpPath(requested: string): PathResult {
  // control characters include NUL (which the codec cannot deliver inside a string, but a caller might)
  if (/[\x00-\x1f\x7f]/.test(requested)) return refuse(TftpErrorCode.ACCESS_VIOLATION, 'control_character');
  const parts: string[] = [];
  for (const c of requested.replaceAll('\\', '/').split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') return refuse(TftpErrorCode.ACCESS_VIOLATION, 'dot_dot');
    parts.push(c);
  }
  if (parts.length === 0) return refuse(TftpErrorCode.ACCESS_VIOLATION, 'empty_path');
  return { ok: true, relPath: parts.join('/') };
}

/**
 * Resolves a requested filename under `rootReal` (the root's realpath). The realpath of the target must stay inside
 * the root, so a symlink pointing out of it is refused (ERROR 2); a missing file is ERROR 1.
 */
export async function resolveTftpPath(rootReal: string, requested: string): Promise<PathResult & { absPath?: string }> {
  const n = normalizeTftpPath(requested);
  if (!n.ok) return n;
  let real: string;
  try {
    real = await realpath(`${rootReal}/${n.relPath}`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return refuse(TftpErrorCode.FILE_NOT_FOUND, 'not_found');
    if (code === 'ELOOP') return refuse(TftpErrorCode.ACCESS_VIOLATION, 'symlink_loop');
    return refuse(TftpErrorCode.ACCESS_VIOLATION, 'unreadable');
  }
  const rel = relative(rootReal, real);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) return refuse(TftpErrorCode.ACCESS_VIOLATION, 'outside_root');
  return { ok: true, relPath: n.relPath, absPath: real };
}
