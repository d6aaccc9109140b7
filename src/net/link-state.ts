import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/**
 * One network interface as the kernel sees it now. Node's `os.networkInterfaces()` is no use here: libuv lists
 * only interfaces that are up *and* running, so a bridge whose ports are all down (no carrier) is missing from
 * it even with its address configured.
 */
export interface LinkState {
  ifname: string;
  /** false: no such interface (a configuration error, not something to wait for) */
  exists: boolean;
  /** the kernel's index (0 when absent); a new index means the device was deleted and made again */
  ifindex: number;
  /** IFF_UP: administratively up */
  adminUp: boolean;
  /** the link layer is up (for a bridge: at least one port is forwarding) */
  carrier: boolean;
  /** RFC 2863 operational state as the kernel reports it: up, down, dormant, unknown, … */
  operstate: string;
  /** its IPv4 addresses, primary first */
  ipv4: string[];
}

const IFF_UP = 0x1;

/** What keeps an interface from serving, in words for the log ([] when it is ready). */
export function linkProblems(s: LinkState): string[] {
  if (!s.exists) return ['no such network interface'];
  const problems: string[] = [];
  if (!s.adminUp) problems.push('down');
  else if (!s.carrier) problems.push('no carrier');
  if (s.ipv4.length === 0) problems.push('no address');
  return problems;
}

export function linkReady(s: LinkState): boolean {
  return linkProblems(s).length === 0;
}

async function sysfs(ifname: string, attr: string): Promise<string | undefined> {
  try {
    return (await readFile(`/sys/class/net/${ifname}/${attr}`, 'utf8')).trim();
  } catch {
    // `carrier` reads EINVAL while the device is administratively down
    return undefined;
  }
}

/** `ip -j -4 addr show dev <if>`: the interface's IPv4 addresses (iproute2 JSON, stable since 4.14). */
function ipv4Addresses(ifname: string): Promise<string[]> {
  return new Promise((resolve) => {
    execFile('ip', ['-j', '-4', 'addr', 'show', 'dev', ifname], { timeout: 5000 }, (err, stdout) => {
      if (err) return resolve([]);
      try {
        const links = JSON.parse(stdout) as { addr_info?: { family?: string; local?: string }[] }[];
        resolve(links.flatMap((l) => (l.addr_info ?? []).filter((a) => a.family === 'inet' && a.local).map((a) => a.local!)));
      } catch {
        resolve([]);
      }
    });
  });
}

/** Reads an interface's state: flags, carrier, operstate and index from /sys/class/net, addresses from iproute2. */
export async function readLinkState(ifname: string): Promise<LinkState> {
  // a name with a slash or dots would read outside /sys/class/net; no interface is called that
  const index = /^[^/]+$/.test(ifname) && ifname !== '.' && ifname !== '..' ? await sysfs(ifname, 'ifindex') : undefined;
  if (index === undefined) return { ifname, exists: false, ifindex: 0, adminUp: false, carrier: false, operstate: 'absent', ipv4: [] };
  const [flags, carrier, operstate, ipv4] = await Promise.all([
    sysfs(ifname, 'flags'),
    sysfs(ifname, 'carrier'),
    sysfs(ifname, 'operstate'),
    ipv4Addresses(ifname),
  ]);
  return {
    ifname,
    exists: true,
    ifindex: Number(index),
    adminUp: (Number(flags ?? 0) & IFF_UP) !== 0,
    carrier: carrier === '1',
    operstate: operstate ?? 'unknown',
    ipv4,
  };
}
