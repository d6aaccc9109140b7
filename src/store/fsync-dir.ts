import { open } from 'node:fs/promises';

/** fsync of a directory, off the event loop: a rename or a new file in it is durable once this resolves (the audit export, the cache's slices). */
export async function fsyncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
