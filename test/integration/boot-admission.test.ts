import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { AdmissionQueue, createAdmissionMetrics, type AdmissionEvent } from '../../src/boot/admission.ts';
import { admissionConfigSchema } from '../../src/boot/config.ts';
import { curl, startHttpBoot, type HttpBootHarness } from '../helpers/http-boot.ts';

/**
 * Admission control against iPXE-like clients made of real curl (test/helpers/ipxe-like-client.sh) on
 * 127.0.0.1: with the bound at 1, the second terminal's script makes it wait, its screen shows its place, and
 * it boots once the first reports /booted. Also: the queue snapshot and the events while it waits.
 */
const CLIENT = join(import.meta.dirname, '../helpers/ipxe-like-client.sh');
const A = '52:54:00:b5:21:01';
const B = '52:54:00:b5:21:02';
const C = '52:54:00:b5:21:03';

interface Run {
  child: ChildProcess;
  out: string[];
  done: Promise<number>;
}

function run(url: string, mac: string, dir: string, go?: string): Run {
  const child = spawn(CLIENT, [url, mac.replaceAll(':', '-'), dir, ...(go ? [go] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => out.push(...d.split('\n').filter((l) => l !== '')));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => out.push(`stderr: ${d}`));
  const done = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  return { child, out, done };
}

async function until(what: string, cond: () => boolean, limitMs = 30_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('boot admission with iPXE-like curl clients', () => {
  let h: HttpBootHarness;
  let queue: AdmissionQueue;
  let work: string;
  const registry = new Registry();
  const events: AdmissionEvent[] = [];
  const kernel = randomBytes(300_000);
  const initrd = randomBytes(500_000);
  const runs: Run[] = [];

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'bgs21-adm-'));
    queue = new AdmissionQueue({
      config: admissionConfigSchema.parse({ enabled: true, maxInHeavyPhase: 1, pollSeconds: 1, abandonSeconds: 20, slotTimeoutSeconds: 600 }),
      metrics: createAdmissionMetrics(registry),
      isPriority: (mac) => mac === C,
      onEvent: (e) => events.push(e),
    });
    h = await startHttpBoot({
      profiles: { thin: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'console=ttyS0' } },
      admission: queue,
      onBootEvent: (e) => {
        if (e.kind === 'booted' && e.mac) queue.release(e.mac, 'booted');
      },
    });
    writeFileSync(join(h.root, 'vmlinuz'), kernel);
    writeFileSync(join(h.root, 'initrd.gz'), initrd);
  });

  after(async () => {
    for (const r of runs) if (r.child.exitCode === null) r.child.kill();
    await h?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('the second terminal waits with its place on screen, then boots when the first reports booted', async () => {
    const goA = join(work, 'go-a');
    const a = run(`${h.base}/boot.ipxe?mac=${A}`, A, join(work, 'a'), goA);
    runs.push(a);
    await until('A holding its slot', () => a.out.includes('client: holding'));
    const b = run(`${h.base}/boot.ipxe?mac=${B}`, B, join(work, 'b'));
    runs.push(b);
    await until('B waiting twice', () => b.out.filter((l) => l.startsWith('bootgate: waiting:')).length >= 2);
    assert.match(
      b.out.find((l) => l.startsWith('bootgate: waiting:'))!,
      /^bootgate: waiting: 0 ahead, about \d+ s$/,
    );
    assert.ok(!b.out.some((l) => l.startsWith('client: fetched')), 'B downloaded nothing while waiting');
    const snap = queue.snapshot();
    assert.deepEqual(
      snap.inHeavyPhase.map((x) => x.mac),
      [A],
    );
    assert.deepEqual(
      snap.waiting.map((x) => [x.mac, x.ahead]),
      [[B, 0]],
    );
    // a seat with an open session arriving now goes ahead of B
    const goC = join(work, 'go-c');
    const c = run(`${h.base}/boot.ipxe?mac=${C}`, C, join(work, 'c'), goC);
    runs.push(c);
    await until('C queued', () => c.out.some((l) => l.startsWith('bootgate: waiting:')));
    assert.equal(c.out.find((l) => l.startsWith('bootgate: waiting:'))!.split(' ')[2], '0');
    await until('B told it has one ahead', () => b.out.some((l) => l.startsWith('bootgate: waiting: 1 ahead')));

    writeFileSync(goA, '');
    assert.equal(await a.done, 0, a.out.join('\n'));
    await until('C holding', () => c.out.includes('client: holding'));
    assert.ok(!b.out.some((l) => l.startsWith('client: fetched')), 'B still waits behind C');
    writeFileSync(goC, '');
    assert.equal(await c.done, 0, c.out.join('\n'));
    assert.equal(await b.done, 0, b.out.join('\n'));
    for (const d of ['a', 'b', 'c']) {
      assert.ok(readFileSync(join(work, d, 'vmlinuz')).equals(kernel));
      assert.ok(readFileSync(join(work, d, 'initrd.gz')).equals(initrd));
    }
    assert.ok(!existsSync(join(work, 'b', 'go')));
    assert.deepEqual(
      events.filter((e) => e.kind === 'admitted').map((e) => e.mac),
      [A, C, B],
    );
    assert.equal(queue.snapshot().inHeavyPhase.length, 0);
    const m = await registry.getSingleMetricAsString('bootgate_boot_queue_released_total');
    assert.match(m, /reason="booted"} 3/);
    // the waiting scripts are counted apart from the real ones
    const http = await h.registry.getSingleMetricAsString('bootgate_http_requests_total');
    assert.match(http, /route="script",status="200"} 3/);
    assert.match(http, /route="queued",status="200"} [1-9]/);
  });
});

describe('boot admission: a HEAD of the script is a probe, not a boot', () => {
  it('curl -I neither queues, takes a slot, nor records a boot; the GET after it does', async () => {
    const queue = new AdmissionQueue({
      config: admissionConfigSchema.parse({ enabled: true, maxInHeavyPhase: 1, pollSeconds: 1, abandonSeconds: 20, slotTimeoutSeconds: 600 }),
      metrics: createAdmissionMetrics(new Registry()),
      isPriority: () => false,
    });
    const h = await startHttpBoot({ profiles: { thin: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'console=ttyS0' } }, admission: queue });
    try {
      const url = (mac: string) => `${h.base}/boot.ipxe?mac=${mac.replaceAll(':', '-')}`;
      const head = await curl(['-I', url(A)]);
      assert.equal(head.status, 200);
      assert.ok(Number(head.headers.get('content-length')) > 0, 'the script its GET would get');
      assert.deepEqual(queue.snapshot().inHeavyPhase, [], 'no slot taken');
      assert.deepEqual(queue.snapshot().waiting, [], 'nobody queued');
      assert.equal(h.events.filter((e) => e.kind === 'script').length, 0, 'no boot timeline step, no overlay mark');
      const get = await curl([url(A)]);
      assert.match(get.body.toString(), /kernel/);
      assert.deepEqual(
        queue.snapshot().inHeavyPhase.map((t) => t.mac),
        [A],
      );
      assert.equal(h.events.filter((e) => e.kind === 'script').length, 1);
      const probe = await curl(['-I', url(B)]);
      assert.equal(probe.status, 200, 'a HEAD for a terminal that would wait is answered, not held');
      assert.deepEqual(queue.snapshot().waiting, []);
    } finally {
      await h.close();
    }
  });
});
