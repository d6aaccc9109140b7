import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync, utimesSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileCache } from '../../src/tftp/file-cache.ts';
import { normalizeTftpPath, resolveTftpPath } from '../../src/tftp/path.ts';
import { RateLimiter as SourceRateLimiter } from '../../src/net/rate-limiter.ts';

describe('TFTP path normalization (T8, check 24)', () => {
  it('maps \\ to /, drops a leading / and empty or "." components', () => {
    assert.deepEqual(normalizeTftpPath('\\Boot\\BCD'), { ok: true, relPath: 'Boot/BCD' });
    assert.deepEqual(normalizeTftpPath('/pxelinux.cfg//default'), { ok: true, relPath: 'pxelinux.cfg/default' });
    assert.deepEqual(normalizeTftpPath('./a/./b'), { ok: true, relPath: 'a/b' });
    assert.deepEqual(normalizeTftpPath('efi/grubx64.efi'), { ok: true, relPath: 'efi/grubx64.efi' });
  });

  it('refuses .., control characters, NUL and empty paths with ERROR 2 and a reason', () => {
    const cases: Array<[string, string]> = [
      ['../x', 'dot_dot'],
      ['a/../../x', 'dot_dot'],
      ['\\..\\x', 'dot_dot'],
      ['a/..', 'dot_dot'],
      ['a\x01b', 'control_character'],
      ['a\nb', 'control_character'],
      ['a\x00b', 'control_character'],
      ['a\x7f', 'control_character'],
      ['/', 'empty_path'],
      ['.', 'empty_path'],
    ];
    for (const [p, reason] of cases) assert.deepEqual(normalizeTftpPath(p), { ok: false, code: 2, reason }, JSON.stringify(p));
  });
});

describe('TFTP path resolution against the file system', () => {
  let dir: string;
  let root: string;
  before(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'bgtftp-path-')));
    root = join(dir, 'root');
    mkdirSync(join(root, 'Boot'), { recursive: true });
    writeFileSync(join(root, 'Boot/BCD'), 'bcd');
    writeFileSync(join(dir, 'secret'), 'x');
    symlinkSync('../secret', join(root, 'out-link'));
    symlinkSync('/etc', join(root, 'etc-link'));
    symlinkSync('Boot/BCD', join(root, 'in-link'));
    symlinkSync('loop-b', join(root, 'loop-a'));
    symlinkSync('loop-a', join(root, 'loop-b'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('resolves inside the root, following symlinks that stay inside', async () => {
    assert.deepEqual(await resolveTftpPath(root, '\\Boot\\BCD'), { ok: true, relPath: 'Boot/BCD', absPath: join(root, 'Boot/BCD') });
    assert.equal((await resolveTftpPath(root, 'in-link')).ok, true);
  });

  it('refuses symlink escapes (ERROR 2) and reports missing files (ERROR 1)', async () => {
    assert.deepEqual(await resolveTftpPath(root, 'out-link'), { ok: false, code: 2, reason: 'outside_root' });
    assert.deepEqual(await resolveTftpPath(root, 'etc-link/passwd'), { ok: false, code: 2, reason: 'outside_root' });
    assert.deepEqual(await resolveTftpPath(root, 'loop-a'), { ok: false, code: 2, reason: 'symlink_loop' });
    assert.deepEqual(await resolveTftpPath(root, 'nope'), { ok: false, code: 1, reason: 'not_found' });
    assert.deepEqual(await resolveTftpPath(root, 'Boot/BCD/x'), { ok: false, code: 1, reason: 'not_found' });
    assert.deepEqual(await resolveTftpPath(root, '/etc/passwd'), { ok: false, code: 1, reason: 'not_found' });
  });
});

describe('TFTP file cache', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'bgtftp-cache-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves from memory while mtime/size match; a rewrite invalidates; LRU evicts by bytes', async () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    const c = join(dir, 'c');
    writeFileSync(a, Buffer.alloc(400, 1));
    writeFileSync(b, Buffer.alloc(400, 2));
    writeFileSync(c, Buffer.alloc(400, 3));
    const cache = new FileCache(1000, 500);
    const sa = await stat(a);
    assert.equal(cache.lookup(a, sa), undefined);
    const [x, y] = await Promise.all([cache.load(a, sa), cache.load(a, sa)]);
    assert.equal(x, y, 'concurrent misses share one read');
    assert.equal(cache.lookup(a, sa), x);
    writeFileSync(a, Buffer.alloc(401, 9));
    utimesSync(a, new Date(), new Date(Date.now() + 5000));
    const sa2 = await stat(a);
    assert.equal(cache.lookup(a, sa2), undefined, 'changed file is not served from the cache');
    await cache.load(a, sa2);
    await cache.load(b, await stat(b));
    assert.equal(cache.size, 801);
    await cache.load(c, await stat(c)); // 1201 > 1000: the least recently used (a) goes
    assert.equal(cache.lookup(a, sa2), undefined);
    assert.ok(cache.lookup(b, await stat(b)));
    assert.ok(cache.size <= 1000);
    assert.equal(cache.cacheable(501), false);
  });
});

describe('per-source RRQ rate limit', () => {
  it('allows a burst, then the refill rate', () => {
    const r = new SourceRateLimiter(2, 3);
    const t = 1_000_000;
    assert.deepEqual(
      [1, 2, 3, 4].map(() => r.allow('10.0.0.1', t)),
      [true, true, true, false],
    );
    assert.equal(r.allow('10.0.0.2', t), true, 'buckets are per source');
    assert.equal(r.allow('10.0.0.1', t + 500), true, 'one token after 0.5 s at 2/s');
    assert.equal(r.allow('10.0.0.1', t + 500), false);
  });
});
