import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Image versions (`<dataDir>/overlays/images/<image>/manifest.json`), written atomically. */
export interface ImageVersion {
  version: number;
  /** absolute path of the flat image file of this version; version 1 is the configured golden image */
  path: string;
  createdAt: string;
  /** version this one was built from (commit of a super terminal's overlay) */
  parent?: number;
  note?: string;
}

export interface ImageManifest {
  image: string;
  current: number;
  versions: ImageVersion[];
}

export async function readManifest(file: string): Promise<ImageManifest | undefined> {
  try {
    const m = JSON.parse(await readFile(file, 'utf8')) as ImageManifest;
    if (typeof m.current !== 'number' || !Array.isArray(m.versions)) throw new Error(`${file}: not an image manifest`);
    return m;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** write temp + fsync + rename + fsync(dir): after a crash either the old or the new manifest is there. */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  const dir = await open(dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export function writeManifest(file: string, m: ImageManifest): Promise<void> {
  return writeFileAtomic(file, JSON.stringify(m, null, 2) + '\n');
}
