/**
 * Boot-storm driver (bench/storm/run.sh): N simulated terminals start at once, each doing what iPXE does
 * over HTTP: fetch its script (following bootgate's waiting loop: `sleep` + `chain` until admitted), download
 * every `kernel`/`initrd` URL in it to nowhere, then report `/booted?mac=`. Prints one JSON line with per-phase
 * p50/p99/max (ms) and the total (first request to last terminal done).
 *   node --import tsx bench/storm/storm.ts --base http://10.0.0.1:8080 --n 100 [--script /boot.ipxe] [--label x]
 * For a static peer (nginx) --script names a static script file; its URLs are followed the same way.
 */
import { Agent } from 'node:http';
import { parseArgs } from 'node:util';
import { httpGet } from './http-get.ts';
import { runTerminals } from './terminals.ts';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    n: { type: 'string', default: '50' },
    script: { type: 'string', default: '/boot.ipxe' },
    label: { type: 'string', default: '' },
  },
});
const base = values.base!;
const n = Number(values.n);

interface Result {
  script: number;
  queued: number;
  files: number;
  total: number;
  bytes: number;
  polls: number;
}

async function terminal(i: number): Promise<Result> {
  const mac = `52-54-00-21-${((i >> 8) & 0xff).toString(16).padStart(2, '0')}-${(i & 0xff).toString(16).padStart(2, '0')}`;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const t0 = performance.now();
  let url = values.script === '/boot.ipxe' ? `${base}/boot.ipxe?mac=${mac}` : `${base}${values.script}`;
  let polls = 0;
  let lines: string[] = [];
  let firstScript = -1;
  for (;;) {
    const r = await httpGet(url, agent, { keep: true });
    if (r.status !== 200) throw new Error(`terminal ${i}: script ${url} → ${r.status}`);
    if (firstScript < 0) firstScript = performance.now() - t0;
    lines = r.body.toString('utf8').split('\n');
    const sleep = lines.find((l) => l.startsWith('sleep '));
    const chain = lines.find((l) => l.startsWith('chain '));
    if (!chain) break;
    polls++;
    if (sleep) await new Promise((res) => setTimeout(res, Number(sleep.split(' ')[1]) * 1000));
    url = chain.split(/\s+/).pop()!;
  }
  const tScript = performance.now() - t0;
  let bytes = 0;
  for (const l of lines) {
    const [cmd, u] = l.split(/\s+/);
    if ((cmd === 'kernel' || cmd === 'initrd') && u) {
      const r = await httpGet(u, agent);
      if (r.status !== 200) throw new Error(`terminal ${i}: ${u} → ${r.status}`);
      bytes += r.bytes;
    }
  }
  const tFiles = performance.now() - t0;
  if (values.script === '/boot.ipxe') await httpGet(`${base}/booted?mac=${mac}`, agent);
  agent.destroy();
  return { script: firstScript, queued: tScript - firstScript, files: tFiles - tScript, total: performance.now() - t0, bytes, polls };
}

const { ok, failed, wallMs, phase } = await runTerminals(n, terminal);
process.stdout.write(
  JSON.stringify({
    label: values.label,
    n,
    completed: ok.length,
    failed: failed.length,
    firstFailure: failed[0],
    wallMs,
    script: phase('script'),
    queued: phase('queued'),
    files: phase('files'),
    total: phase('total'),
    polls: ok.reduce((a, r) => a + r.polls, 0),
    mbytes: Math.round(ok.reduce((a, r) => a + r.bytes, 0) / 1e6),
  }) + '\n',
);
