import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveBootPath } from '../../src/http/boot-path.ts';
import { contentTypeFor } from '../../src/http/file-server.ts';
import { parseRange } from '../../src/http/range.ts';

describe('Range header (RFC 9110 §14; PROTOCOLS.md H2)', () => {
  const N = 1000;
  it('single ranges', () => {
    assert.deepEqual(parseRange('bytes=0-511', N), { kind: 'range', start: 0, end: 511 });
    assert.deepEqual(parseRange('bytes=500-', N), { kind: 'range', start: 500, end: 999 });
    assert.deepEqual(parseRange('bytes=-100', N), { kind: 'range', start: 900, end: 999 });
    assert.deepEqual(parseRange('bytes=-5000', N), { kind: 'range', start: 0, end: 999 });
    assert.deepEqual(parseRange('bytes=990-5000', N), { kind: 'range', start: 990, end: 999 });
    assert.deepEqual(parseRange('Bytes = 1 - 2', N), { kind: 'range', start: 1, end: 2 });
  });
  it('unsatisfiable → 416: first byte at or past the end, suffix of 0, empty file', () => {
    assert.deepEqual(parseRange(`bytes=${N}-`, N), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRange(`bytes=${N}-${N + 10}`, N), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRange('bytes=-0', N), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRange('bytes=0-0', 0), { kind: 'unsatisfiable' });
  });
  it('no header, several ranges, other units, reversed or garbage → the whole file', () => {
    for (const h of [undefined, 'bytes=0-1,5-6', 'items=0-1', 'bytes=5-1', 'bytes=-', 'bytes=a-b', 'bytes=0-1x', ''])
      assert.deepEqual(parseRange(h, N), { kind: 'none' }, String(h));
  });
});

describe('content types (PROTOCOLS.md §2 P11, §7 check 27)', () => {
  it('maps boot image extensions, case-insensitively', () => {
    assert.equal(contentTypeFor('ipxe.efi'), 'application/efi');
    assert.equal(contentTypeFor('EFI/BOOT/BOOTX64.EFI'), 'application/efi');
    assert.equal(contentTypeFor('live.iso'), 'application/vnd.efi-iso');
    assert.equal(contentTypeFor('disk.img'), 'application/vnd.efi-img');
    assert.match(contentTypeFor('boot.ipxe'), /^text\/plain/);
    assert.equal(contentTypeFor('vmlinuz'), 'application/octet-stream');
    assert.equal(contentTypeFor('undionly.kpxe'), 'application/octet-stream');
  });
});

describe('boot path confinement (PROTOCOLS.md §3 T8 applied to HTTP)', () => {
  let dir: string;
  let root: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bghttp-path-'));
    mkdirSync(join(dir, 'root/sub'), { recursive: true });
    writeFileSync(join(dir, 'root/sub/a.efi'), 'a');
    writeFileSync(join(dir, 'root/ok'), 'ok');
    writeFileSync(join(dir, 'secret'), 'secret');
    symlinkSync(join(dir, 'secret'), join(dir, 'root/escape'));
    symlinkSync('..', join(dir, 'root/up'));
    symlinkSync('sub/a.efi', join(dir, 'root/inside'));
    root = await realpath(join(dir, 'root'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('plain, nested, encoded and dot-segment-free paths resolve inside the root', async () => {
    for (const p of ['/ok', '/sub/a.efi', '//sub//a.efi', '/./sub/./a.efi', '/%73ub/a.efi', '/inside']) {
      const r = await resolveBootPath(root, p);
      assert.ok(r.ok, p);
    }
  });
  it('.. (raw or encoded), NUL, controls, backslashes and bad encodings are refused', async () => {
    const cases: Array<[string, string]> = [
      ['/../secret', 'dot_segment'],
      ['/sub/../../secret', 'dot_segment'],
      ['/%2e%2e/secret', 'dot_segment'],
      ['/sub%2f..%2f..%2fsecret', 'dot_segment'],
      ['/ok%00.efi', 'control_char'],
      ['/ok%0a', 'control_char'],
      ['/..%5csecret', 'backslash'],
      ['/%e0%a4%a', 'bad_encoding'],
    ];
    for (const [p, reason] of cases) {
      const r = await resolveBootPath(root, p);
      assert.equal(r.ok, false, p);
      if (!r.ok) assert.equal(r.reason, reason, p);
    }
  });
  it('a symlink out of the root is refused via realpath; a missing file is 404', async () => {
    for (const p of ['/escape', '/up/secret']) {
      const r = await resolveBootPath(root, p);
      assert.ok(!r.ok && r.reason === 'symlink_escape' && r.status === 403, p);
    }
    const r = await resolveBootPath(root, '/missing');
    assert.ok(!r.ok && r.status === 404);
  });
});
