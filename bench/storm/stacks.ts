/**
 * The server stacks of the storm benches (bench/storm/full-run.ts, qemu-storm.ts) and the CI test
 * (test/integration/boot-storm-full.test.ts), on the LAN of bench/storm/net.ts (server 10.223.0.1/22):
 *   bootgate   `bootgate serve`: DHCP, TFTP, HTTP boot, iSCSI with a discard overlay per terminal, optional admission
 *   peer       dnsmasq (DHCP + TFTP) + nginx (HTTP) + tgtd (a target and LUN per terminal)
 * Every process runs in the server namespace in its own process group (StormNet.spawnServer / stop).
 */
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ROOT } from '../../src/lab/lab.ts';
import { stormMac, type StormNet } from './net.ts';

export const SERVER = '10.223.0.1';
const TGT_CTL = '7522';
const SHM = '/dev/shm/s22s-storm';
const IQN_T = 'iqn.2026-12.test.storm.tgt';
const IQN_I = 'iqn.2026-12.test.storm.terminal';

const hy = (mac: string): string => mac.replaceAll(':', '-');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  for (const t0 = Date.now(); !ok(); await sleep(100)) if (Date.now() - t0 > ms) throw new Error(`${what}: not ready after ${ms} ms`);
}
const succeeds = (f: () => unknown): boolean => {
  try {
    f();
    return true;
  } catch {
    return false;
  }
};

export interface Running {
  groups: ChildProcess[];
  cleanup?: () => void;
}

/** The bootgate config of the storm (also used by the CI test). */
export function bootgateConfig(o: { dataDir: string; root: string; image: string; bound?: number }): Record<string, unknown> {
  return {
    dataDir: o.dataDir,
    interfaces: { lan: 'br0' },
    dhcp: { subnet: '10.223.0.0/22', range: { start: '10.223.1.0', end: '10.223.3.250' }, router: SERVER, dns: [SERVER], leaseSeconds: 3600 },
    boot: {
      defaultProfile: 'disk',
      ...(o.bound ? { admission: { enabled: true, maxInHeavyPhase: o.bound, releaseOn: ['booted'] } } : {}),
    },
    profiles: { disk: { sanboot: 'rootos' } },
    tftp: { root: o.root },
    http: { port: 80, root: o.root },
    iscsi: { images: { rootos: o.image }, overlays: { defaultMode: 'discard' } },
    api: { listen: '127.0.0.1:8443' },
  };
}

export async function startBootgate(net: StormNet, work: string, cfg: Record<string, unknown>): Promise<Running> {
  const file = join(work, 'bootgate.yaml');
  const log = join(work, 'bootgate.log');
  writeFileSync(file, stringify(cfg));
  writeFileSync(log, '');
  const c = net.spawnServer(process.execPath, [join(ROOT, 'bin/bootgate.js'), 'serve', '--config', file], log);
  await until('bootgate', () => {
    if (c.exitCode !== null) throw new Error(`bootgate exited: ${readFileSync(log, 'utf8').slice(-2000)}`);
    return readFileSync(log, 'utf8').includes('bootgate started');
  });
  return { groups: [c] };
}

/**
 * A storm bench's files under `out` (emptied first): the root-on-iSCSI image (built or cached), the boot files
 * bootgate serves (undionly.kpxe, vmlinuz, initrd.gz copied from the built images) and the peer's root for n terminals.
 */
export function prepareFiles(out: string, n: number): { image: string; bootRoot: string; peerDir: string } {
  const images = process.env.BOOTGATE_IMAGES ?? join(ROOT, '.lab/images');
  const image = execFileSync('bash', [join(ROOT, 'boot-images/build-rootdisk.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  rmSync(out, { recursive: true, force: true });
  const bootRoot = join(out, 'boot');
  mkdirSync(bootRoot, { recursive: true });
  for (const f of ['undionly.kpxe', 'vmlinuz', 'initrd.gz']) copyFileSync(join(images, f), join(bootRoot, f));
  const peerDir = join(out, 'peer-root');
  peerRoot(peerDir, bootRoot, n);
  return { image, bootRoot, peerDir };
}

/** The peer's files: the boot files (hard links, same page cache) and a static script per terminal. */
export function peerRoot(dir: string, bootRoot: string, n: number): void {
  mkdirSync(dir, { recursive: true });
  for (const f of ['undionly.kpxe', 'vmlinuz', 'initrd.gz']) if (!existsSync(join(dir, f))) linkSync(join(bootRoot, f), join(dir, f));
  writeFileSync(join(dir, 'boot.ipxe'), `#!ipxe\nchain http://${SERVER}/\${net0/mac:hexhyp}.ipxe\n`);
  writeFileSync(join(dir, 'booted'), 'ok\n');
  for (let i = 0; i < n; i++) {
    const m = hy(stormMac(i));
    writeFileSync(join(dir, `${m}.ipxe`), `#!ipxe\nset initiator-iqn ${IQN_I}:${m}\nsanboot iscsi:${SERVER}:::1:${IQN_T}:${m}\n`);
  }
}

/**
 * dnsmasq + nginx + tgtd with a disk per terminal. `ipxe`: real iPXE terminals (QEMU) also get the HTTP script as
 * their DHCP filename (option 175 present) and router advertisements, as bench/rootfs/run.ts sets dnsmasq up
 * (without an RA iPXE's IPv6 autoconfiguration waits ~13 s).
 */
export async function startPeer(net: StormNet, work: string, root: string, image: string, n: number, ipxe = false): Promise<Running> {
  if (ipxe) execFileSync('ip', ['-n', net.srv, 'addr', 'add', 'fd00:223::1/64', 'dev', 'br0', 'nodad']);
  const conf = [
    'port=0',
    'interface=br0',
    'bind-interfaces',
    'user=root',
    'keep-in-foreground',
    'log-facility=-',
    `dhcp-leasefile=${work}/dnsmasq.leases`,
    'dhcp-range=10.223.1.0,10.223.3.250,255.255.252.0,1h',
    'dhcp-authoritative',
    'dhcp-lease-max=1000',
    'no-ping',
    'dhcp-match=set:ipxe,175',
    `dhcp-boot=tag:ipxe,http://${SERVER}/boot.ipxe`,
    `dhcp-boot=tag:!ipxe,undionly.kpxe,,${SERVER}`,
    ...(ipxe ? ['enable-ra', 'dhcp-range=fd00:223::,ra-only,64,10m'] : []),
    'enable-tftp',
    `tftp-root=${root}`,
    'tftp-max=1000',
    '',
  ].join('\n');
  writeFileSync(join(work, 'dnsmasq.conf'), conf);
  rmSync(join(work, 'dnsmasq.leases'), { force: true });
  const nginxTmp = join(work, 'nginx-tmp');
  mkdirSync(nginxTmp, { recursive: true });
  writeFileSync(
    join(work, 'nginx.conf'),
    `worker_processes auto; pid ${work}/nginx.pid; error_log ${work}/nginx-error.log warn; daemon off;
events { worker_connections 4096; }
http { types { } default_type application/octet-stream; sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_timeout 65; keepalive_requests 100000; access_log off;
  client_body_temp_path ${nginxTmp}/b; proxy_temp_path ${nginxTmp}/p; fastcgi_temp_path ${nginxTmp}/f;
  uwsgi_temp_path ${nginxTmp}/u; scgi_temp_path ${nginxTmp}/s;
  server { listen ${SERVER}:80; root ${root}; } }
`,
  );
  // a fresh disk per terminal, on tmpfs (4 GB of copies at N = 200 would otherwise be written back during the storm)
  rmSync(SHM, { recursive: true, force: true });
  mkdirSync(SHM, { recursive: true });
  for (let i = 0; i < n; i++) execFileSync('cp', ['--sparse=always', image, join(SHM, `${i}.img`)]);
  const groups = [
    net.spawnServer('dnsmasq', [`--conf-file=${join(work, 'dnsmasq.conf')}`], join(work, 'dnsmasq.log')),
    net.spawnServer('nginx', ['-c', join(work, 'nginx.conf')], join(work, 'nginx.log')),
    net.spawnServer('tgtd', ['-f', '-C', TGT_CTL, '--iscsi', `portal=${SERVER}:3260`], join(work, 'tgtd.log')),
  ];
  const tgtadm = (...a: string[]): string => execFileSync('tgtadm', ['-C', TGT_CTL, '--lld', 'iscsi', ...a], { encoding: 'utf8', stdio: 'pipe' });
  await until('tgtd', () => succeeds(() => tgtadm('--op', 'show', '--mode', 'sys')));
  for (let i = 0; i < n; i++) {
    const m = hy(stormMac(i));
    const tid = String(i + 1);
    tgtadm('--op', 'new', '--mode', 'target', '--tid', tid, '-T', `${IQN_T}:${m}`);
    tgtadm('--op', 'new', '--mode', 'logicalunit', '--tid', tid, '--lun', '1', '-b', join(SHM, `${i}.img`));
    tgtadm('--op', 'bind', '--mode', 'target', '--tid', tid, '--initiator-name', `${IQN_I}:${m}`);
  }
  await until('nginx', () => succeeds(() => execFileSync('ip', ['netns', 'exec', net.srv, 'bash', '-c', `exec 3<>/dev/tcp/${SERVER}/80`])));
  await until('dnsmasq', () => readFileSync(join(work, 'dnsmasq.log'), 'utf8').includes('TFTP root'));
  return {
    groups,
    cleanup: () => {
      if (ipxe) execFileSync('ip', ['-n', net.srv, 'addr', 'del', 'fd00:223::1/64', 'dev', 'br0']);
      for (const f of [`socket.${TGT_CTL}`, `socket.${TGT_CTL}.lock`]) rmSync(join('/var/run/tgtd', f), { force: true });
      rmSync(SHM, { recursive: true, force: true });
    },
  };
}

/** Runs the terminals in the client namespace; resolves with the driver's JSON line. */
export function drive(
  net: StormNet,
  kind: 'bootgate' | 'peer',
  n: number,
  root: string,
  label: string,
  verify: boolean,
): Promise<Record<string, unknown>> {
  const args = ['netns', 'exec', net.cli, process.execPath, '--import', 'tsx', join(ROOT, 'bench/storm/full-storm.ts')];
  args.push('--server', SERVER, '--n', String(n), '--kind', kind, '--data', root, '--if-prefix', net.ifPrefix, '--label', label);
  if (verify) args.push('--verify');
  // asynchronous, so that a signal's cleanup can run while the terminals do
  return new Promise((resolve, reject) =>
    execFile('ip', args, { encoding: 'utf8', cwd: ROOT, timeout: 900_000, maxBuffer: 1 << 24 }, (err, out, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(out) as Record<string, unknown>),
    ),
  );
}
