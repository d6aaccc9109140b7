import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { NetnsLab } from '../lab/netns.ts';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');

/** Writes a udhcpc hook script that prints what the client was given, one line per event. */
export function writeUdhcpcScript(dir: string): string {
  const file = join(dir, 'udhcpc-report.sh');
  writeFileSync(
    file,
    '#!/bin/sh\necho "udhcpc $1 ip=$ip mask=$mask router=$router dns=$dns lease=$lease serverid=$serverid siaddr=$siaddr boot_file=$boot_file"\n' +
      '[ "$1" = bound ] || [ "$1" = renew ] && ip addr replace "$ip/$mask" dev "$interface" 2>/dev/null\nexit 0\n',
  );
  chmodSync(file, 0o755);
  return file;
}

/**
 * `npm start`: a fresh machine has no terminal LAN, so this builds one in network namespaces (a gateway with a
 * bridge, a terminal on it), runs bootgate there and shows the terminal getting a lease.
 */
export async function runLabDemo(opts: { keepServing: boolean }): Promise<void> {
  const lab = new NetnsLab('bglab');
  const dir = mkdtempSync(join(tmpdir(), 'bootgate-lab-'));
  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (): void => {
    process.stdout.write('\nstopping the lab…\n');
    void cleanup().then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    lab.createServer('br0', '10.77.0.1/24');
    const client = lab.addClient({ name: 'term1', bridge: 'br0', mac: '52:54:00:77:00:01' });
    const configFile = join(dir, 'bootgate.yaml');
    writeFileSync(
      configFile,
      stringify({
        dataDir: join(dir, 'data'),
        interfaces: { lan: 'br0' },
        dhcp: { subnet: '10.77.0.0/24', range: { start: '10.77.0.100', end: '10.77.0.199' }, router: '10.77.0.1', dns: ['10.77.0.1'], leaseSeconds: 3600 },
        api: { listen: '127.0.0.1:8443' },
      }),
    );
    process.stdout.write(`lab: gateway namespace ${lab.server} (br0 10.77.0.1/24), terminal namespace ${client}\n`);
    const server = lab.spawnIn(lab.server, process.execPath, [join(ROOT, 'bin/bootgate.js'), 'serve', '--config', configFile], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolveReady, reject) => {
      let buf = '';
      server.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('bootgate started')) resolveReady();
      });
      server.once('exit', (code) => reject(new Error(`bootgate exited with ${code} before it started`)));
    });
    process.stdout.write('lab: bootgate is serving DHCP on br0; terminal asks for a lease with busybox udhcpc…\n');
    const out = lab.exec(client, 'busybox', ['udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '5', '-T', '1', '-s', writeUdhcpcScript(dir)]);
    process.stdout.write(out.split('\n').filter((l) => l.includes('bound')).join('\n') + '\n');
    process.stdout.write(lab.exec(lab.server, process.execPath, [join(ROOT, 'bin/bootgate.js'), 'leases', '--config', configFile]));
    if (!opts.keepServing) return;
    process.stdout.write('lab: bootgate keeps serving; Ctrl-C stops it and removes the lab.\n');
    server.stdout!.pipe(process.stdout);
    await new Promise<void>((r) => server.once('exit', () => r()));
  } finally {
    await cleanup();
  }
}
