import { statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { BootProfile } from '../http/ipxe-script.ts';

/** A profile's boot file that the HTTP boot server would answer with 404. */
export interface MissingProfileFile {
  profile: string;
  /** `kernel` or `initrd[<i>]` */
  role: string;
  /** as written under `profiles:` */
  path: string;
  /** where the HTTP boot server looks for it */
  file: string;
  /** e.g. `no such file under the boot root` (followed by the root when described) */
  why: string;
}

/**
 * The kernels and initrds of `profiles:` that are not regular files under the boot root: the config is valid, but a
 * terminal on that profile would get a 404 after its script. Told at start (and by check-config) rather than found
 * by the first terminal. Paths resolve as the script builder writes them (http/ipxe-script.ts fileUrl: relative to
 * the root, leading slashes dropped).
 */
export function missingProfileFiles(profiles: Readonly<Record<string, BootProfile>>, root: string): MissingProfileFile[] {
  const base = resolve(root);
  const missing: MissingProfileFile[] = [];
  for (const [name, p] of Object.entries(profiles)) {
    if (!('kernel' in p)) continue;
    const files: Array<[string, string]> = [['kernel', p.kernel], ...(p.initrd ?? []).map((f, i): [string, string] => [`initrd[${i}]`, f])];
    for (const [role, path] of files) {
      const file = join(base, path.replace(/^\/+/, ''));
      const rel = relative(base, file);
      let why: string | undefined;
      if (rel.startsWith('..') || isAbsolute(rel)) why = 'outside the boot root';
      else {
        try {
          if (!statSync(file).isFile()) why = 'not a regular file under the boot root';
        } catch (e) {
          why = `${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message} under the boot root`;
        }
      }
      if (why) missing.push({ profile: name, role, path, file, why });
    }
  }
  return missing;
}

/** One line per missing file: `profiles.demo.kernel = "vmlinuz": no such file under the boot root /srv/boot (/srv/boot/vmlinuz)`. */
export function describeMissingFile(m: MissingProfileFile, root: string): string {
  const key = m.role === 'kernel' ? 'kernel' : m.role.replace(/^initrd\[(\d+)\]$/, 'initrd.$1');
  return `profiles.${m.profile}.${key} = ${JSON.stringify(m.path)}: ${m.why} ${resolve(root)} (${m.file}); terminals on this profile will get a 404`;
}
