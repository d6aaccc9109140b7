import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SliceStore } from '../../src/cache/store.ts';
import { cacheMetrics, silentLog, tempCacheDir } from '../helpers/cache-fixtures.ts';
import { RUNNER_OBJECT, runnerSlice } from '../helpers/cache-store-runner.ts';

const RUNNER = new URL('../helpers/cache-store-runner.ts', import.meta.url).pathname;

/** Starts the writer, lets it write for `ms`, kills it with SIGKILL. */
async function writeAndKill(directory: string, maxBytes: number, ms: number): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', RUNNER, directory, String(maxBytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.on('exit', (c) => reject(new Error(`runner exited ${c}`)));
  });
  await new Promise((r) => setTimeout(r, ms));
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

test('kill -9 while slices are being written: after reopening, every indexed slice is complete and correct', async () => {
  const directory = tempCacheDir();
  const maxBytes = 8 * 1024 * 1024; // small, so eviction runs too
  for (const ms of [150, 400, 250]) {
    await writeAndKill(directory, maxBytes, ms);
    const store = new SliceStore({ directory, maxBytes, verifyOnRead: true, log: silentLog, metrics: cacheMetrics().metrics });
    await store.open();
    const entries = store.entries();
    assert.ok(entries.length > 0, 'the writer stored something before it was killed');
    assert.ok(store.bytes <= maxBytes);
    for (const e of entries) {
      const data = await store.read(e.id, e.index);
      assert.ok(data, `slice ${e.index} is readable`);
      assert.ok(data.equals(runnerSlice(e.index)), `slice ${e.index} is byte-exact`);
    }
    assert.ok(store.object(RUNNER_OBJECT));
    // no temp files and no files the index does not name are left behind
    const files = readdirSync(join(directory, 'slices', RUNNER_OBJECT.slice(0, 2)));
    assert.deepEqual(files.sort(), entries.map((e) => `${e.id}.${e.index}`).sort());
    await store.close();
  }
});
