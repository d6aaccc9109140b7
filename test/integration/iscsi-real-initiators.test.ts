import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { targetIqn as iqnOf } from '../../src/terminal/iqn.ts';
import { parseMac } from '../../src/terminal/mac.ts';

const targetIqn = (image: string, mac: string): string => iqnOf(image, parseMac(mac));
import { RawInitiator } from '../helpers/iscsi-initiator.ts';
import { IscsiTargetProcess } from '../helpers/iscsi-target-process.ts';
import { parseCu } from '../conformance/iscsi-cu-table.ts';

/**
 * iscsi-test-cu tests that do not run on bootgate, and why (docs/iscsi.md has the table against tgt). Anything
 * else that skips is a regression; anything here that starts passing must leave the list.
 */
const CU_NOT_RUN: Array<[RegExp, string]> = [
  [/^(ExtendedCopy|ReceiveCopyResults)\./, 'EXTENDED COPY / RECEIVE COPY RESULTS not implemented (tgt neither)'],
  [/^WriteAtomic16\./, 'WRITE ATOMIC(16) not implemented (tgt neither)'],
  [/^(ReadDefectData10|ReadDefectData12)\./, 'READ DEFECT DATA not implemented (tgt neither)'],
  [/^(PreventAllow\.|StartStopUnit\.Simple$)/, 'the LU is not removable (RMB=0)'],
  [/^ReadOnly\./, 'this LU is writable'],
  [/^Sanitize\./, 'needs --allow-sanitize'],
  [/^MultipathIO\./, 'needs a second URL'],
  [
    /^(WriteSame(10|16)\.(UnmapUnaligned|InvalidDataOutSize)|CompareAndWrite\.InvalidDataOutSize)$/,
    'LBPPB < 2: one logical block per physical block',
  ],
];
const notRun = (test: string): boolean => CU_NOT_RUN.some(([re]) => re.test(test));

/**
 * bootgate's iSCSI target against real initiators on loopback: libiscsi's tools and conformance suite
 * (iscsi-test-cu), and QEMU's built-in iSCSI initiator (qemu-img / qemu-io). PROTOCOLS.md §7 checks 28, 37, 38.
 */
const dir = mkdtempSync(join(tmpdir(), 'bg-iscsi-it-'));
const IMAGE_BYTES = 32 << 20;
const image = join(dir, 'golden.img');
const golden = randomBytes(IMAGE_BYTES);
writeFileSync(image, golden);
after(() => rmSync(dir, { recursive: true, force: true }));
const A = '52:54:00:4a:00:01'; // discard mode
const B = '52:54:00:4a:00:02'; // discard mode
const K = '52:54:00:4a:00:03'; // keep mode
const T = '52:54:00:4a:00:04'; // conformance suite (keep)
const FAR = '52:54:00:4a:00:99'; // bound to an address we never connect from
const iqnA = targetIqn('demo', A);
const iqnB = targetIqn('demo', B);
const iqnK = targetIqn('demo', K);
const iqnT = targetIqn('demo', T);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function run(cmd: string, args: string[], timeoutMs = 120_000): { code: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  return { code: r.status, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

describe('iSCSI target with real initiators (libiscsi, QEMU)', () => {
  let port: number;
  let target: IscsiTargetProcess;
  const url = (iqn: string) => `iscsi://127.0.0.1:${port}/${iqn}/0`;
  const args = () => [
    '--port',
    String(port),
    '--listen',
    '127.0.0.1',
    '--data-dir',
    join(dir, 'data'),
    '--overlay-image',
    `demo=${image}`,
    '--mode',
    'discard',
    '--terminal-mode',
    `${K}=keep`,
    '--terminal-mode',
    `${T}=keep`,
    '--bind',
    [A, B, K, T].map((m) => `${m}=127.0.0.1`).join(',') + `,${FAR}=10.74.0.99`,
  ];
  before(async () => {
    port = await freePort();
    target = new IscsiTargetProcess(args());
    await target.start();
  });
  after(() => target.stop());

  it('check 28: iscsi-ls discovers the terminal targets at the connection address', () => {
    const r = run('iscsi-ls', ['-s', `iscsi://127.0.0.1:${port}`]);
    assert.equal(r.code, 0, r.out);
    for (const iqn of [iqnA, iqnB, iqnK]) assert.match(r.out, new RegExp(`Target:${iqn.replace(/\./g, '\\.')} Portal:127\\.0\\.0\\.1:${port},1`));
    assert.match(r.out, /Lun:0\s+Type:DIRECT_ACCESS \(Size:3[12]M\)/);
  });

  it('iscsi-inq and iscsi-readcapacity16 see the disk; each terminal disk has its own NAA id', () => {
    const inq = run('iscsi-inq', [url(iqnA)]);
    assert.equal(inq.code, 0, inq.out);
    assert.match(inq.out, /Vendor:BOOTGATE/);
    const rc = run('iscsi-readcapacity16', [url(iqnA)]);
    assert.match(rc.out, new RegExp(`Total size:${IMAGE_BYTES}`));
    const naa = (iqn: string) => run('iscsi-inq', ['-e', '1', '-c', '131', url(iqn)]).out; // VPD 0x83
    assert.match(naa(iqnA), /Designator Type:\(3\) NAA/);
    assert.notEqual(naa(iqnA), naa(iqnB));
  });

  it('isolation: a target named after a MAC that is not the client is refused (0x0202)', () => {
    const r = run('iscsi-inq', [url(targetIqn('demo', FAR))]);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /authoriz|Authoriz|failed/i);
  });

  it('QEMU reads the whole disk byte-exact (qemu-img convert from iscsi://)', () => {
    const out = join(dir, 'read-back.raw');
    const r = run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', url(iqnB), out]);
    assert.equal(r.code, 0, r.out);
    assert.ok(readFileSync(out).equals(golden));
  });

  it('QEMU writes and reads back byte-exact (keep mode survives sessions); the golden image is untouched', () => {
    const w = run('qemu-io', ['-f', 'raw', '-c', 'write -P 0xab 1M 3M', '-c', 'write -P 0xcd 7680 1536', '-c', 'flush', url(iqnK)]);
    assert.equal(w.code, 0, w.out);
    assert.doesNotMatch(w.out, /error|failed/i, w.out);
    const r = run('qemu-io', ['-f', 'raw', '-c', 'read -P 0xab 1M 3M', '-c', 'read -P 0xcd 7680 1536', url(iqnK)]);
    assert.equal(r.code, 0, r.out);
    assert.doesNotMatch(r.out, /Pattern verification failed|error/i, r.out);
    const out = join(dir, 'k.raw');
    assert.equal(run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', url(iqnK), out]).code, 0);
    const expect = Buffer.from(golden);
    expect.fill(0xab, 1 << 20, 4 << 20);
    expect.fill(0xcd, 7680, 7680 + 1536);
    assert.ok(readFileSync(out).equals(expect));
    assert.ok(readFileSync(image).equals(golden));
  });

  it('check 37: A writes LBA n → B reads base data; A in a new session (discard mode) reads base again', async () => {
    const n = 2048;
    const a = await RawInitiator.connect(port);
    assert.equal((await a.loginNormal('iqn.2010-04.org.ipxe:a', iqnA))?.status, 0);
    a.scsi([0x2a, 0, 0, 0, (n >> 8) & 0xff, n & 0xff, 0, 0, 8, 0], { write: 4096, immediate: undefined });
    const r2t = await a.recv();
    a.dataOut(1, r2t!.bhs.readUInt32BE(20), 0, 0, Buffer.alloc(4096, 0xee), true);
    assert.equal((await a.result())?.status, 0);
    // A sees its write (QEMU, while A's session is open: a second session of the same terminal shares the disk)
    const seen = run('qemu-io', ['-f', 'raw', '-c', `read -P 0xee ${n * 512} 4096`, url(iqnA)]);
    assert.doesNotMatch(seen.out, /verification failed/i, seen.out);
    // B reads the image at LBA n
    const out = join(dir, 'b.raw');
    assert.equal(run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', url(iqnB), out]).code, 0);
    assert.ok(
      readFileSync(out)
        .subarray(n * 512, n * 512 + 4096)
        .equals(golden.subarray(n * 512, n * 512 + 4096)),
    );
    a.close();
    await a.waitClosed(200);
    await new Promise((r) => setTimeout(r, 200));
    // A "reboots": a new session of A in discard mode → the image again
    const again = join(dir, 'a2.raw');
    assert.equal(run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', url(iqnA), again]).code, 0);
    assert.ok(readFileSync(again).equals(golden));
  });

  it('check 38: iscsi-test-cu ALL (--dataloss): no FAILED test, and every test runs except the known not-run list', () => {
    const r = run('iscsi-test-cu', ['--dataloss', '--test=ALL', url(iqnT)], 300_000);
    const summary = /tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(r.out);
    assert.ok(summary, r.out.slice(-2000));
    const outcomes = parseCu(r.out);
    assert.equal(outcomes.size, Number(summary[1]), 'the parser saw every test');
    const failed = [...outcomes].filter(([, o]) => o === 'failed').map(([k]) => k);
    assert.deepEqual(failed, [], `failures: ${failed.join(', ')}`);
    const skipped = [...outcomes].filter(([, o]) => o === 'skipped').map(([k]) => k);
    const unexpected = skipped.filter((k) => !notRun(k));
    assert.deepEqual(unexpected, [], 'implemented commands must run, not skip');
    const nowRunning = [...outcomes].filter(([k, o]) => o === 'passed' && notRun(k)).map(([k]) => k);
    assert.deepEqual(nowRunning, [], 'these pass now: take them off CU_NOT_RUN');
  });

  it('crash: kill -9 during a write load; every block acknowledged after SYNCHRONIZE CACHE survives', async () => {
    const c = await RawInitiator.connect(port);
    assert.equal(
      (
        await c.loginNormal('iqn.2000-01.crash:w', iqnK, [
          ['ImmediateData', 'Yes'],
          ['InitialR2T', 'No'],
          ['FirstBurstLength', '65536'],
          ['MaxRecvDataSegmentLength', '65536'],
        ])
      )?.status,
      0,
    );
    const block = (i: number) => Buffer.alloc(4096, (i * 37 + 11) & 0xff);
    let synced = -1;
    let i = 0;
    let stop = false;
    const killer = setTimeout(() => void target.kill9().then(() => (stop = true)), 1500);
    while (!stop) {
      const lba = 16384 + i * 8;
      c.scsi([0x2a, 0, 0, 0, (lba >> 8) & 0xff, lba & 0xff, 0, 0, 8, 0], { write: 4096, immediate: block(i) });
      const w = await c.result(2000);
      if (!w || w.status !== 0) break;
      if (i % 8 === 7) {
        c.scsi([0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        const s = await c.result(2000);
        if (!s || s.status !== 0) break;
        synced = i;
      }
      i++;
    }
    clearTimeout(killer);
    await target.kill9();
    c.close();
    assert.ok(synced >= 7, `some writes were synced before the kill (synced ${synced}, issued ${i})`);
    target = new IscsiTargetProcess(args());
    await target.start();
    const r = await RawInitiator.connect(port);
    assert.equal((await r.loginNormal('iqn.2000-01.crash:r', iqnK, [['MaxRecvDataSegmentLength', '262144']]))?.status, 0);
    for (let j = 0; j <= synced; j++) {
      const lba = 16384 + j * 8;
      r.scsi([0x28, 0, 0, 0, (lba >> 8) & 0xff, lba & 0xff, 0, 0, 8, 0], { read: 4096 });
      const got = await r.result();
      assert.ok(got!.data.equals(block(j)), `synced block ${j} intact`);
    }
    r.close();
  });
});

describe('CHAP and CRC32C header digests with real initiators', () => {
  let port: number;
  let target: IscsiTargetProcess;
  const chapDir = mkdtempSync(join(tmpdir(), 'bg-iscsi-chap-'));
  const iqn = targetIqn('demo', '52:54:00:4a:00:10');
  before(async () => {
    port = await freePort();
    target = new IscsiTargetProcess([
      '--port',
      String(port),
      '--listen',
      '127.0.0.1',
      '--data-dir',
      join(chapDir, 'data'),
      '--overlay-image',
      `demo=${image}`,
      '--chap',
      'pc1:secret-pc1-16b:bootgate:target-secret16',
      '--log-level',
      'info',
    ]);
    await target.start();
  });
  after(async () => {
    await target.stop();
    rmSync(chapDir, { recursive: true, force: true });
  });

  it('libiscsi: right CHAP secret logs in; a wrong one or none gets 0x0201 (authentication failure)', () => {
    assert.equal(run('iscsi-inq', [`iscsi://pc1%secret-pc1-16b@127.0.0.1:${port}/${iqn}/0`]).code, 0);
    for (const u of [`iscsi://pc1%wrong@127.0.0.1:${port}/${iqn}/0`, `iscsi://127.0.0.1:${port}/${iqn}/0`]) {
      const r = run('iscsi-inq', [u]);
      assert.notEqual(r.code, 0);
      assert.match(r.out, /Authentication failure\(513\)/);
    }
  });

  it('QEMU with CHAP and HeaderDigest=CRC32C reads the disk byte-exact', async () => {
    const out = join(chapDir, 'digest.raw');
    const r = run('qemu-img', [
      'convert',
      '--object',
      'secret,id=s0,data=secret-pc1-16b',
      '--image-opts',
      `driver=iscsi,transport=tcp,portal=127.0.0.1:${port},target=${iqn},lun=0,user=pc1,password-secret=s0,header-digest=crc32c`,
      '-O',
      'raw',
      out,
    ]);
    assert.equal(r.code, 0, r.out);
    assert.ok(readFileSync(out).equals(golden));
    await new Promise((res) => setTimeout(res, 300));
    assert.match(target.output, /"digests":\[true,false\]/, 'the session ran with header digests');
  });
});
