/**
 * The pieces the edge cache's namespace tests share (cache-gateway, cache-dns): the counting origin in the WAN
 * namespace (cache-wan-origin.ts) and its request log, and a seat that gets a DHCP lease and a cashier's session.
 */
import { createHash } from 'node:crypto';
import type { NetnsLab } from '../../src/lab/netns.ts';
import { leaseWithUdhcpc } from './bootgate-process.ts';

export const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export interface OriginRequest {
  path: string;
  range: string | null;
  bytes: number;
}

/** The counting origin serving `file` on host:80 in `ns` (`/small/` paths: its first `smallMb` MiB); resolves once it listens. */
export async function startCountingOrigin(lab: NetnsLab, ns: string, host: string, file: string, smallMb?: number): Promise<void> {
  const origin = lab.spawnIn(
    ns,
    process.execPath,
    [
      '--import',
      'tsx',
      'test/helpers/cache-wan-origin.ts',
      '--host',
      host,
      '--port',
      '80',
      '--file',
      file,
      ...(smallMb ? ['--small-mb', String(smallMb)] : []),
    ],
    { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    origin.stdout!.on('data', (d: Buffer) => d.toString().includes('origin ready') && resolve());
    origin.once('exit', (c) => reject(new Error(`origin exited ${c}`)));
  });
}

/** The origin's log of content requests (its own /__ paths left out), and its reset. */
export function originLog(lab: NetnsLab, ns: string, host: string): { requests(): OriginRequest[]; reset(): void } {
  return {
    requests: () =>
      (JSON.parse(lab.exec(ns, 'curl', ['-s', `http://${host}/__stats`])) as { requests: OriginRequest[] }).requests.filter(
        (r) => !r.path.startsWith('/__'),
      ),
    reset: () => void lab.exec(ns, 'curl', ['-s', '-X', 'POST', `http://${host}/__reset`]),
  };
}

/** udhcpc in `ns` (address and default route from the lease), then a user, the seat of `mac` and a session for them. */
export function leaseAndOpenSession(
  lab: NetnsLab,
  ns: string,
  dir: string,
  cli: (...args: string[]) => string,
  seat: { name: string; mac: string },
): void {
  leaseWithUdhcpc(lab, ns, dir);
  const userId = cli('users', 'add', '--name', 'Ana Pérez', '--doc-type', 'passport', '--doc-number', 'X1234567', '--doc-country', 'ES');
  cli('seats', 'add', '--name', seat.name, '--mac', seat.mac);
  cli('sessions', 'open', '--user', userId, '--seat', seat.name);
}
