/**
 * The whole morning of N simulated terminals at once (issue 16 §3), run inside the client namespace that
 * bench/storm/full-run.ts builds (one macvlan per terminal, `<ifPrefix><i>`, with the terminal's own MAC):
 *   1. DHCP DORA: busybox udhcpc on the terminal's macvlan (its own MAC on the wire), as a PXE ROM asks
 *      (vendor class PXEClient, arch 0 = BIOS); the leased address is put on the macvlan (/32)
 *   2. TFTP of the NBP the server named (undionly.kpxe), from the leased address
 *   3. the iPXE HTTP script: bootgate's /boot.ipxe?mac= (following its admission waiting loop), or the peer's
 *      static /boot.ipxe chaining ${net0/mac:hexhyp}.ipxe; then the files in --files (kernel + initrd) over HTTP
 *   4. the recorded iSCSI working set (bench/storm/working-set.json), each recorded session replayed through the
 *      disk the script's `sanboot` names — the terminal's own overlay on bootgate, its own LUN on tgt — logged in as
 *      the script's `initiator-iqn`, from the leased address (bootgate's isolation check), reads and writes in trace
 *      order with the recorded concurrency, writes carrying a per-terminal pattern (bench/storm/initiator.ts)
 *   5. /booted?mac=
 * Prints one JSON line: per-phase p50/p99/max (ms), wall time, failures, and (with --verify) byte checks: the NBP and
 * files against --data, each written extent read back after the working set.
 *   node --import tsx bench/storm/full-storm.ts --server 10.223.0.1 --n 50 --kind bootgate|peer --data DIR [--verify]
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { httpGet } from './http-get.ts';
import { blockPattern, ReplayInitiator, replaySession } from './initiator.ts';
import { stormMac } from './net.ts';
import { runTerminals } from './terminals.ts';
import { tftpGet } from './tftp-get.ts';
import type { WorkingSet } from './working-set.ts';

const { values } = parseArgs({
  options: {
    server: { type: 'string' },
    n: { type: 'string', default: '10' },
    kind: { type: 'string', default: 'bootgate' },
    data: { type: 'string' },
    files: { type: 'string', default: 'vmlinuz,initrd.gz' },
    ws: { type: 'string', default: join(import.meta.dirname, 'working-set.json') },
    'if-prefix': { type: 'string', default: 's22s-m' },
    verify: { type: 'boolean', default: false },
    label: { type: 'string', default: '' },
  },
});
const server = values.server!;
const n = Number(values.n);
const peer = values.kind === 'peer';
const ws = JSON.parse(readFileSync(values.ws!, 'utf8')) as WorkingSet;
const files = values.files ? values.files.split(',').filter(Boolean) : [];
const expected = new Map<string, { size: number; sha: string }>();
const expect = (name: string): { size: number; sha: string } => {
  let e = expected.get(name);
  if (!e) {
    const b = readFileSync(join(values.data!, name));
    e = { size: b.length, sha: createHash('sha256').update(b).digest('hex') };
    expected.set(name, e);
  }
  return e;
};

const dir = mkdtempSync(join(tmpdir(), 's22s-udhcpc-'));
const script = join(dir, 'lease.sh');
writeFileSync(
  script,
  '#!/bin/sh\n' +
    'case "$1" in bound|renew) ip addr add "$ip/32" dev "$interface" 2>/dev/null; ' +
    'echo "LEASE $ip ${siaddr:-$serverid} ${boot_file:-$bootfile}" ;; esac\n',
);
chmodSync(script, 0o755);

function dhcp(ifname: string): Promise<{ ip: string; next: string; file: string }> {
  return new Promise((resolve, reject) => {
    // -t 6 -T 2: six DISCOVERs 2 s apart, -A 1 -n: give up then; -x 0x5d:0000: option 93, arch 0 (BIOS), as a PXE ROM
    const c = spawn(
      'busybox',
      [
        'udhcpc',
        '-i',
        ifname,
        '-f',
        '-q',
        '-n',
        '-t',
        '6',
        '-T',
        '2',
        '-A',
        '1',
        '-V',
        'PXEClient:Arch:00000:UNDI:002001',
        '-x',
        '0x5d:0000',
        '-s',
        script,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', () => undefined);
    c.on('error', reject);
    c.on('close', (code) => {
      const m = /^LEASE (\S+) (\S+) (\S*)$/m.exec(out);
      if (!m) reject(new Error(`udhcpc on ${ifname}: no lease (exit ${code})`));
      else resolve({ ip: m[1]!, next: m[2]!, file: m[3]! });
    });
  });
}

interface Result {
  dhcp: number;
  tftp: number;
  script: number;
  queued: number;
  files: number;
  iscsi: number;
  total: number;
  ip: string;
  notGood: number;
  notGoodOps: string[];
  readBytes: number;
  writeBytes: number;
  verified: number;
}

async function terminal(i: number): Promise<Result> {
  const mac = stormMac(i);
  const hy = mac.replaceAll(':', '-');
  const t0 = performance.now();
  const lease = await dhcp(`${values['if-prefix']}${i}`);
  const tDhcp = performance.now();
  let verified = 0;
  if (!lease.file) throw new Error(`${mac}: the lease names no boot file`);
  const nbp = await tftpGet(lease.next, lease.file, lease.ip);
  const e = expect(lease.file.replace(/^\/+/, ''));
  if (nbp.length !== e.size) throw new Error(`${mac}: TFTP ${lease.file} ${nbp.length} bytes, expected ${e.size}`);
  if (values.verify) {
    if (createHash('sha256').update(nbp).digest('hex') !== e.sha) throw new Error(`${mac}: TFTP ${lease.file}: wrong bytes`);
    verified++;
  }
  const tTftp = performance.now();

  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const base = `http://${server}`;
  let url = peer ? `${base}/boot.ipxe` : `${base}/boot.ipxe?mac=${hy}`;
  let lines: string[] = [];
  let queued = 0;
  for (;;) {
    const q0 = performance.now();
    const r = await httpGet(url, agent, { keep: true, localAddress: lease.ip });
    if (url.includes('queued=1')) queued += performance.now() - q0;
    if (r.status !== 200) throw new Error(`${mac}: script ${url} → ${r.status}`);
    lines = r.body.toString('utf8').split('\n');
    const chain = lines.find((l) => l.startsWith('chain '));
    if (!chain) break;
    url = chain.split(/\s+/).pop()!.replaceAll('${net0/mac:hexhyp}', hy);
  }
  const tScript = performance.now();
  for (const f of files) {
    const r = await httpGet(`${base}/${f}`, agent, { hash: values.verify!, localAddress: lease.ip });
    const x = expect(f);
    if (r.status !== 200 || r.bytes !== x.size) throw new Error(`${mac}: ${f} → ${r.status}, ${r.bytes} bytes, expected ${x.size}`);
    if (values.verify) {
      if (r.sha !== x.sha) throw new Error(`${mac}: ${f}: wrong bytes`);
      verified++;
    }
  }
  const tFiles = performance.now();

  const ini = /^set initiator-iqn (\S+)/m.exec(lines.join('\n'))?.[1];
  const san = /^sanboot (?:--\S+ )*iscsi:([^:]+):[^:]*:([^:]*):([^:]*):(\S+)/m.exec(lines.join('\n'));
  if (!san) throw new Error(`${mac}: no sanboot in the script: ${lines.join(' | ')}`);
  const [host, port, lun, target] = [san[1]!, Number(san[2] || 3260), Number(san[3] || 0), san[4]!];
  let notGood = 0;
  const notGoodOps: string[] = [];
  let readBytes = 0;
  let writeBytes = 0;
  const written: { lba: number; blocks: number }[] = [];
  for (const [k, s] of ws.sessions.entries()) {
    const c = await ReplayInitiator.connect(host, port, lease.ip);
    try {
      await c.login(ini ?? s.initiatorName, target, s.loginKeys, lun);
      const st = await replaySession(c, s, mac, ws.blockSize);
      notGood += st.notGood;
      notGoodOps.push(...st.notGoodOps);
      readBytes += st.readBytes;
      writeBytes += st.writeBytes;
      written.push(...st.written);
      if (values.verify && k === ws.sessions.length - 1) {
        // read back what this terminal wrote, from its own disk
        for (const w of written) {
          const cdb = Buffer.alloc(10);
          cdb[0] = 0x28;
          cdb.writeUInt32BE(w.lba, 2);
          cdb.writeUInt16BE(w.blocks, 7);
          const r = await c.command(cdb, 'r', w.blocks * ws.blockSize, { keep: true });
          if (r.status !== 0 || !r.data?.equals(blockPattern(mac, w.lba, w.blocks, ws.blockSize)))
            throw new Error(`${mac}: read-back of lba ${w.lba} + ${w.blocks} differs (status ${r.status})`);
          verified++;
        }
      }
    } finally {
      c.close();
    }
  }
  const tIscsi = performance.now();
  const b = await httpGet(peer ? `${base}/booted` : `${base}/booted?mac=${mac}`, agent, { localAddress: lease.ip });
  if (b.status >= 300) throw new Error(`${mac}: /booted → ${b.status}`);
  agent.destroy();
  const end = performance.now();
  return {
    dhcp: tDhcp - t0,
    tftp: tTftp - tDhcp,
    script: tScript - tTftp,
    queued,
    files: tFiles - tScript,
    iscsi: tIscsi - tFiles,
    total: end - t0,
    ip: lease.ip,
    notGood,
    notGoodOps,
    readBytes,
    writeBytes,
    verified,
  };
}

const { ok, failed, wallMs, phase } = await runTerminals(n, terminal);
rmSync(dir, { recursive: true, force: true });
const sum = (k: 'notGood' | 'readBytes' | 'writeBytes' | 'verified'): number => ok.reduce((a, r) => a + r[k], 0);
process.stdout.write(
  JSON.stringify({
    label: values.label,
    n,
    completed: ok.length,
    failed: failed.length,
    firstFailure: failed[0],
    distinctIps: new Set(ok.map((r) => r.ip)).size,
    wallMs,
    dhcp: phase('dhcp'),
    tftp: phase('tftp'),
    script: phase('script'),
    queued: phase('queued'),
    files: phase('files'),
    iscsi: phase('iscsi'),
    total: phase('total'),
    scsiNotGood: sum('notGood'),
    scsiNotGoodByOpcode: ok.flatMap((r) => r.notGoodOps).reduce<Record<string, number>>((m, o) => ({ ...m, [o]: (m[o] ?? 0) + 1 }), {}),
    iscsiReadMB: Math.round(sum('readBytes') / 1e5) / 10,
    iscsiWriteMB: Math.round(sum('writeBytes') / 1e5) / 10,
    verified: sum('verified'),
    clientCpuS: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1e4) / 100,
  }) + '\n',
);
