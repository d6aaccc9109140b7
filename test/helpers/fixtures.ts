import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIR = join(fileURLToPath(import.meta.url), '../../fixtures');

/** A captured packet stored as one line of hex (see test/fixtures/<protocol>/README.md). */
export function hexFixture(protocol: string, name: string): Buffer {
  return Buffer.from(readFileSync(join(DIR, protocol, `${name}.hex`), 'utf8').trim(), 'hex');
}
