import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** Runs `ip …` (or any command) and returns stdout; throws with stderr on failure. */
export function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export function ip(...args: string[]): string {
  return run('ip', args);
}

/** Quietly runs a cleanup command; cleanup must go on when one step fails. */
function tryRun(cmd: string, args: string[]): void {
  try {
    run(cmd, args);
  } catch {
    /* already gone */
  }
}

export interface HostSpec {
  /** namespace name suffix */
  name: string;
  /** interface name inside the namespace */
  ifname?: string;
  /** address with prefix, e.g. 10.77.0.10/24; omit for a DHCP client */
  address?: string;
  /** fixed MAC (so tests can reserve it) */
  mac?: string;
}

/**
 * A throwaway network: a server namespace with a bridge (the terminal LAN) and client namespaces wired to it by
 * veth pairs. Everything is named with a unique prefix and removed by `destroy()`, which never throws.
 */
export class NetnsLab {
  readonly server: string;
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private vethCount = 0;

  constructor(readonly prefix: string) {
    this.server = `${prefix}-srv`;
  }

  ns(name: string): string {
    return `${this.prefix}-${name}`;
  }

  private addNamespace(ns: string): void {
    tryRun('ip', ['netns', 'del', ns]);
    ip('netns', 'add', ns);
    this.namespaces.push(ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }

  /** Creates the server namespace with a bridge `bridge` carrying `address` (the LAN side of the gateway). */
  createServer(bridge: string, address: string): void {
    this.addNamespace(this.server);
    ip('-n', this.server, 'link', 'add', bridge, 'type', 'bridge');
    ip('-n', this.server, 'addr', 'add', address, 'dev', bridge);
    ip('-n', this.server, 'link', 'set', bridge, 'up');
  }

  /** Adds a client namespace joined to the server by a veth pair; the server end goes on `bridge`, or stands alone. */
  addClient(spec: HostSpec & { bridge?: string; serverIfname?: string; serverAddress?: string }): string {
    const ns = this.ns(spec.name);
    this.addNamespace(ns);
    const n = this.vethCount++;
    const a = `${this.prefix.slice(0, 6)}a${n}`;
    const b = `${this.prefix.slice(0, 6)}b${n}`;
    ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
    ip('link', 'set', a, 'netns', this.server);
    ip('link', 'set', b, 'netns', ns);
    const serverIf = spec.serverIfname ?? a;
    if (spec.serverIfname) ip('-n', this.server, 'link', 'set', a, 'name', spec.serverIfname);
    if (spec.bridge) ip('-n', this.server, 'link', 'set', serverIf, 'master', spec.bridge);
    if (spec.serverAddress) ip('-n', this.server, 'addr', 'add', spec.serverAddress, 'dev', serverIf);
    ip('-n', this.server, 'link', 'set', serverIf, 'up');
    const ifname = spec.ifname ?? 'eth0';
    ip('-n', ns, 'link', 'set', b, 'name', ifname);
    if (spec.mac) ip('-n', ns, 'link', 'set', ifname, 'address', spec.mac);
    if (spec.address) ip('-n', ns, 'addr', 'add', spec.address, 'dev', ifname);
    ip('-n', ns, 'link', 'set', ifname, 'up');
    return ns;
  }

  /** Spawns a process inside a namespace; it is killed (by PID, with its process group) on destroy(). */
  spawnIn(ns: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...opts });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Runs a command inside a namespace to completion. */
  exec(ns: string, cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): string {
    return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], {
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 30_000,
      input: opts.input,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  async destroy(): Promise<void> {
    for (const child of this.children) {
      if (child.pid !== undefined && child.exitCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    await Promise.all(
      [...this.children].map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))),
    );
    for (const ns of this.namespaces.reverse()) tryRun('ip', ['netns', 'del', ns]);
    this.namespaces.length = 0;
  }
}

/** Creates tap device `tap` inside namespace `ns` (for a QEMU started in that namespace) and enslaves it to `bridge`. */
export function addTap(ns: string, tap: string, bridge: string): void {
  tryRun('ip', ['-n', ns, 'link', 'del', tap]);
  ip('-n', ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap');
  ip('-n', ns, 'link', 'set', tap, 'master', bridge, 'up');
}

/** Removes a link (tap, veth, bridge) from a namespace; never throws (it may already be gone with its namespace). */
export function deleteLink(ns: string, name: string): void {
  tryRun('ip', ['-n', ns, 'link', 'del', name]);
}
