import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { AdmissionQueue, createAdmissionMetrics } from '../../src/boot/admission.ts';
import { admissionConfigSchema } from '../../src/boot/config.ts';
import { startHttpBoot, type HttpBootHarness } from '../helpers/http-boot.ts';

/**
 * A short boot storm (issue 16 §3) through bootgate's HTTP boot server with admission on (bound 4): 20
 * simulated terminals from bench/storm/storm.ts (the bench's own driver) start at once. Every terminal must
 * complete, and each phase must have happened exactly once per terminal on the server: one real script, one
 * kernel, one initrd, one /booted, one admission, one release. No timing is asserted.
 */
const N = 20;
const DRIVER = join(import.meta.dirname, '../../bench/storm/storm.ts');

function countOf(text: string, name: string, labels: string[]): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.every((kv) => l.includes(kv)));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('boot storm, 20 terminals through bootgate with admission', () => {
  let h: HttpBootHarness;
  let queue: AdmissionQueue;
  const registry = new Registry();

  before(async () => {
    queue = new AdmissionQueue({
      config: admissionConfigSchema.parse({ enabled: true, maxInHeavyPhase: 4, pollSeconds: 2, abandonSeconds: 30, slotTimeoutSeconds: 600 }),
      metrics: createAdmissionMetrics(registry),
    });
    h = await startHttpBoot({
      profiles: { thin: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'console=ttyS0' } },
      admission: queue,
      onBootEvent: (e) => {
        if (e.kind === 'booted' && e.mac) queue.release(e.mac, 'booted');
      },
    });
    writeFileSync(join(h.root, 'vmlinuz'), randomBytes(1 << 20));
    writeFileSync(join(h.root, 'initrd.gz'), randomBytes(3 << 20));
  });
  after(() => h?.close());

  it('every terminal completes, each phase once per terminal', async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile('node', ['--import', 'tsx', DRIVER, '--base', h.base, '--n', String(N)], { timeout: 120_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
    const r = JSON.parse(out) as { completed: number; failed: number; firstFailure?: string; mbytes: number; polls: number };
    assert.equal(r.failed, 0, r.firstFailure);
    assert.equal(r.completed, N);
    assert.equal(r.mbytes, Math.round((N * (4 << 20)) / 1e6), 'every terminal got the whole kernel and initrd');
    const http = await h.registry.metrics();
    assert.equal(countOf(http, 'bootgate_http_requests_total', ['route="script"', 'status="200"']), N, 'one real script per terminal');
    assert.equal(countOf(http, 'bootgate_http_requests_total', ['route="booted"', 'status="204"']), N);
    // with 20 terminals and 4 slots some must have waited: the queue was used, not bypassed
    assert.ok(countOf(http, 'bootgate_http_requests_total', ['route="queued"']) >= N - 4);
    const files = h.events.filter((e) => e.kind === 'file');
    for (const p of ['/vmlinuz', '/initrd.gz']) {
      const macsOrIps = files.filter((e) => e.path === p);
      assert.equal(macsOrIps.length, N, `${p} streamed once per terminal`);
    }
    const bootedMacs = new Set(h.events.filter((e) => e.kind === 'booted').map((e) => e.mac));
    assert.equal(bootedMacs.size, N, 'N distinct terminals reported booted');
    const adm = await registry.metrics();
    assert.equal(countOf(adm, 'bootgate_boot_queue_admitted_total', ['priority="false"']), N);
    assert.equal(countOf(adm, 'bootgate_boot_queue_released_total', ['reason="booted"']), N);
    const snap = queue.snapshot();
    assert.equal(snap.inHeavyPhase.length + snap.waiting.length, 0);
  });
});
