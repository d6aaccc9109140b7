import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT } from '../../src/lab/lab.ts';
import { stormMac, StormNet } from '../../bench/storm/net.ts';
import { bootgateConfig, drive, startBootgate, type Running } from '../../bench/storm/stacks.ts';
import type { WorkingSet } from '../../bench/storm/working-set.ts';

/**
 * The whole morning for 10 simulated terminals at once through `bootgate serve` with admission on (bound 4),
 * with the storm bench's own driver (bench/storm/full-storm.ts --verify) in namespaces s22s-t-srv / s22s-t-cli:
 * each terminal, on its own macvlan with its own MAC, leases an address with busybox udhcpc, fetches
 * undionly.kpxe over TFTP and vmlinuz + initrd.gz over HTTP (sha256 compared with the files), gets its iPXE script,
 * replays the recorded boot working set (bench/storm/working-set.json) through its own overlay from its leased
 * address (the target's isolation check), reads back every block it wrote, and reports /booted. Asserted: every
 * terminal completes with its own address; every recorded SCSI command gets GOOD status; the byte checks all ran;
 * one discard overlay per terminal on disk; admission admitted and released each terminal once, on /booted, and
 * the queue is empty afterwards; the golden image's sha256 is unchanged. No timing is asserted.
 */
const N = 10;
const BOUND = 4;
const IMAGES = process.env.BOOTGATE_IMAGES ?? join(ROOT, '.lab/images');
const sha256 = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');

function metric(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(labels ? `${name}{` : `${name} `) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : NaN;
}

describe('boot storm, the whole morning: 10 simulated terminals through bootgate with admission', () => {
  const dir = mkdtempSync(join(tmpdir(), 's22s-t-'));
  const root = join(dir, 'boot');
  const net = new StormNet('s22s-t', undefined, N);
  let image = '';
  let goldenSha = '';
  let srv: Running | undefined;

  before(async () => {
    image = execFileSync('bash', [join(ROOT, 'boot-images/build-rootdisk.sh')], {
      env: { ...process.env, BOOTGATE_IMAGES: IMAGES },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 900_000,
    }).trim();
    goldenSha = sha256(image);
    mkdirSync(root);
    for (const f of ['undionly.kpxe', 'vmlinuz', 'initrd.gz']) copyFileSync(join(IMAGES, f), join(root, f));
    net.up();
    srv = await startBootgate(net, dir, bootgateConfig({ dataDir: join(dir, 'data'), root, image, bound: BOUND }));
  });

  after(async () => {
    await net.down();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every terminal leases, loads exact bytes, writes only its own overlay; admission counts each once', async (t) => {
    assert.ok(srv);
    const r = (await drive(net, 'bootgate', N, root, 'ci', true)) as {
      completed: number;
      failed: number;
      firstFailure?: string;
      distinctIps: number;
      scsiNotGood: number;
      verified: number;
      iscsiReadMB: number;
      wallMs: number;
    };
    t.diagnostic(`${N} terminals, wall ${r.wallMs} ms (not asserted)`);
    assert.equal(r.failed, 0, r.firstFailure);
    assert.equal(r.completed, N);
    assert.equal(r.distinctIps, N, 'each terminal its own lease');
    assert.equal(r.scsiNotGood, 0, 'every recorded command answered GOOD');
    const ws = JSON.parse(readFileSync(join(ROOT, 'bench/storm/working-set.json'), 'utf8')) as WorkingSet;
    const writes = ws.sessions.flatMap((s) => s.commands).filter((c) => c.dir === 'w' && c.lba !== undefined).length;
    assert.ok(writes > 0, 'the recorded boot writes');
    // per terminal: the NBP, the kernel, the initrd (sha256), and each written extent read back from its disk
    assert.equal(r.verified, N * (3 + writes));
    const reads = ws.sessions.flatMap((s) => s.commands).filter((c) => c.dir === 'r' && c.lba !== undefined);
    assert.ok(r.iscsiReadMB * 1e6 >= N * reads.reduce((a, c) => a + c.bytes, 0) * 0.999, 'the whole working set was read');

    // one overlay per terminal, named by its MAC, holding written data
    const terminals = join(dir, 'data/overlays/terminals/rootos');
    const macs = Array.from({ length: N }, (_, i) => stormMac(i).replaceAll(':', '-'));
    assert.deepEqual(readdirSync(terminals).sort(), macs.sort());
    for (const m of macs) assert.ok(statSync(join(terminals, m, 'data')).blocks > 0, `${m}'s overlay holds its writes`);

    const metrics = execFileSync('ip', ['netns', 'exec', net.srv, 'curl', '-sS', '--noproxy', '*', 'http://127.0.0.1:8443/metrics'], {
      encoding: 'utf8',
    });
    assert.equal(metric(metrics, 'bootgate_boot_queue_admitted_total', 'priority="false"'), N);
    assert.equal(metric(metrics, 'bootgate_boot_queue_released_total', 'reason="booted"'), N);
    assert.equal(metric(metrics, 'bootgate_boot_queue_waiting'), 0);
    assert.equal(metric(metrics, 'bootgate_boot_queue_in_heavy_phase'), 0);
    assert.equal(sha256(image), goldenSha, 'the golden image is unchanged');
  });
});
