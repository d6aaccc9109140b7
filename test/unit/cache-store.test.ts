import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeJournal, encodeRecord } from '../../src/cache/journal.ts';
import { SliceStore } from '../../src/cache/store.ts';
import { cacheMetrics, metaFor, metricValue, silentLog, tempCacheDir } from '../helpers/cache-fixtures.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const idOf = (n: number) => createHash('sha256').update(`obj${n}`).digest('hex');
const bytes = (n: number, fill: number) => Buffer.alloc(n, fill);

function storeAt(directory: string, maxBytes = 1 << 30, verifyOnRead = true) {
  const { registry, metrics } = cacheMetrics();
  return { registry, store: new SliceStore({ directory, maxBytes, verifyOnRead, log: silentLog, metrics }) };
}

test('write, read back, survive a clean reopen', async () => {
  const dir = tempCacheDir();
  const { store } = storeAt(dir);
  await store.open();
  const id = idOf(1);
  await store.putObject(metaFor(id, 300));
  const a = bytes(200, 1);
  assert.equal(await store.write(id, 0, a, sha(a)), true);
  assert.deepEqual(await store.read(id, 0), a);
  assert.equal(await store.read(id, 1), undefined);
  await store.close();
  const again = storeAt(dir).store;
  await again.open();
  assert.equal(again.object(id)?.totalBytes, 300);
  assert.deepEqual(await again.read(id, 0), a);
  assert.equal(again.bytes, 200);
  await again.close();
});

test('LRU eviction: the least recently used slice goes first, a read makes a slice recent', async () => {
  const { store, registry } = storeAt(tempCacheDir(), 300);
  await store.open();
  const ids = [idOf(10), idOf(11), idOf(12), idOf(13)];
  for (const id of ids) await store.putObject(metaFor(id, 100));
  for (const [i, id] of ids.slice(0, 3).entries()) await store.write(id, 0, bytes(100, i), sha(bytes(100, i)));
  assert.ok(await store.read(ids[0]!, 0)); // ids[0] is now the most recent; ids[1] the least
  await store.write(ids[3]!, 0, bytes(100, 3), sha(bytes(100, 3)));
  assert.deepEqual(
    store.entries().map((e) => e.id),
    [ids[2], ids[0], ids[3]],
  );
  assert.equal(store.has(ids[1]!, 0), false);
  assert.ok(store.object(ids[1]!)); // the metadata stays until the store is reopened
  assert.equal(store.bytes, 300);
  assert.equal(await metricValue(registry, 'bootgate_cache_evictions_total'), 1);
  assert.equal(await store.write(ids[3]!, 1, bytes(400, 9), sha(bytes(400, 9))), false); // larger than the bound
  await store.close();
});

test('kill -9 before the rename: the temp file is never indexed, and reopening removes it', async () => {
  const dir = tempCacheDir();
  const { store } = storeAt(dir);
  await store.open();
  const id = idOf(2);
  await store.putObject(metaFor(id, 200));
  await store.write(id, 0, bytes(100, 7), sha(bytes(100, 7)));
  await store.close();
  // the "crash": a slice written to its temp name and never renamed, and a slice renamed but never journalled
  const shard = join(dir, 'slices', id.slice(0, 2));
  writeFileSync(join(shard, `${id}.1.tmp`), bytes(50, 8));
  writeFileSync(join(shard, `${id}.2`), bytes(100, 8));
  // and a torn journal line at the end (a crash mid-append)
  appendFileSync(join(dir, 'journal'), encodeRecord({ s: [id, 3, 100, 'ab'] }).slice(0, 20));
  const { store: reopened } = storeAt(dir);
  await reopened.open();
  assert.deepEqual(
    reopened.entries().map((e) => e.index),
    [0],
  );
  assert.equal(await reopened.read(id, 1), undefined);
  assert.equal(await reopened.read(id, 2), undefined);
  assert.deepEqual(readdirSync(shard), [`${id}.0`]);
  assert.deepEqual(decodeJournal(readFileSync(join(dir, 'journal'), 'utf8')).damaged, false); // compacted
  await reopened.close();
});

test('an entry whose file is missing or short is dropped on reopen', async () => {
  const dir = tempCacheDir();
  const { store } = storeAt(dir);
  await store.open();
  const id = idOf(3);
  await store.putObject(metaFor(id, 300));
  for (const i of [0, 1, 2]) await store.write(id, i, bytes(100, i), sha(bytes(100, i)));
  await store.close();
  const shard = join(dir, 'slices', id.slice(0, 2));
  writeFileSync(join(shard, `${id}.1`), bytes(10, 1)); // short: the rename was not durable with its data
  const { rmSync } = await import('node:fs');
  rmSync(join(shard, `${id}.2`));
  const { store: reopened } = storeAt(dir);
  await reopened.open();
  assert.deepEqual(
    reopened.entries().map((e) => e.index),
    [0],
  );
  assert.equal(reopened.bytes, 100);
  await reopened.close();
});

test('a corrupted slice fails verification on read and is dropped', async () => {
  const dir = tempCacheDir();
  const { store, registry } = storeAt(dir);
  await store.open();
  const id = idOf(4);
  await store.putObject(metaFor(id, 100));
  await store.write(id, 0, bytes(100, 5), sha(bytes(100, 5)));
  const file = join(dir, 'slices', id.slice(0, 2), `${id}.0`);
  const b = readFileSync(file);
  b[50] = b[50]! ^ 0xff;
  writeFileSync(file, b);
  assert.equal(await store.read(id, 0), undefined);
  assert.equal(store.has(id, 0), false);
  assert.equal(existsSync(file), false);
  assert.equal(await metricValue(registry, 'bootgate_cache_corrupt_slices_total'), 1);
  await store.close();
});

test('purge by service removes its objects only', async () => {
  const { store } = storeAt(tempCacheDir());
  await store.open();
  await store.putObject({ ...metaFor(idOf(5), 10), service: 'steam' });
  await store.putObject({ ...metaFor(idOf(6), 10), service: 'blizzard' });
  await store.write(idOf(5), 0, bytes(10, 1), sha(bytes(10, 1)));
  await store.write(idOf(6), 0, bytes(10, 1), sha(bytes(10, 1)));
  assert.equal(await store.purgeService('steam'), 1);
  assert.equal(store.object(idOf(5)), undefined);
  assert.ok(store.object(idOf(6)));
  await store.close();
});

test('disk full is reported as a failed write, not an exception', async () => {
  const dir = tempCacheDir();
  const { store, registry } = storeAt(dir);
  await store.open();
  const id = idOf(7);
  await store.putObject(metaFor(id, 10));
  // a directory where the shard should be makes the write fail the way a full disk does (an errno, no throw)
  mkdirSync(join(dir, 'slices', id.slice(0, 2), `${id}.0.tmp`), { recursive: true });
  assert.equal(await store.write(id, 0, bytes(10, 1), sha(bytes(10, 1))), false);
  assert.equal(await metricValue(registry, 'bootgate_cache_store_failures_total', { reason: 'io' }), 1);
  assert.equal(store.has(id, 0), false);
  await store.close();
});
