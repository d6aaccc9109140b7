/**
 * Writes slices into a SliceStore as fast as it can until it is killed (the kill -9 test). Slice `i` of object
 * `obj` holds deterministicBytes(size, i + 1), so the test can check any slice it finds. Prints "ready" once the
 * store is open. Usage: node --import tsx cache-store-runner.ts <directory> <maxBytes>
 */
import { createHash } from 'node:crypto';
import { SliceStore } from '../../src/cache/store.ts';
import { deterministicBytes } from './cache-origin.ts';
import { cacheMetrics, metaFor, silentLog } from './cache-fixtures.ts';

export const RUNNER_OBJECT = createHash('sha256').update('crash-object').digest('hex');
export const runnerSlice = (i: number): Buffer => deterministicBytes(64 * 1024 + (i % 7) * 1000, i + 1);

async function main(): Promise<void> {
  const [directory, maxBytes] = process.argv.slice(2);
  const store = new SliceStore({
    directory: directory!,
    maxBytes: Number(maxBytes),
    verifyOnRead: true,
    log: silentLog,
    metrics: cacheMetrics().metrics,
  });
  await store.open();
  await store.putObject(metaFor(RUNNER_OBJECT, 1 << 30));
  process.stdout.write('ready\n');
  for (let i = 0; ; i++) {
    const b = runnerSlice(i % 500);
    await store.write(RUNNER_OBJECT, i % 500, b, createHash('sha256').update(b).digest('hex'));
    if (i % 50 === 49) await store.putObject(metaFor(RUNNER_OBJECT, 1 << 30)); // metadata records in between
  }
}

if (process.argv[1] === new URL(import.meta.url).pathname) void main();
