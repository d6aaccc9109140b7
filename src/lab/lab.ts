import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { formatTimeline } from '../boot/timeline.ts';
import { BootRepository, type BootRecord } from '../store/boot-repository.ts';
import { openDatabase } from '../store/database.ts';
import { ip, run } from './netns.ts';
import { startTerminal, type Firmware, type UefiNetboot } from './qemu.ts';

export const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const BIN = join(ROOT, 'bin/bootgate.js');

/**
 * The lab: an isolated terminal LAN on this machine. A namespace holds a bridge (the LAN, 10.77.0.1/24), bootgate
 * serving on it, and QEMU terminals on tap devices. State lives in `<dir>/state.json` so `lab up`, `lab boot` and
 * `lab down` can be separate commands; everything is removed by `down()`.
 */
export interface LabOptions {
  /** scratch directory (default <checkout>/.lab) */
  dir?: string;
  /** namespace name (default bglab) */
  ns?: string;
  /** the built boot images (boot-images/build.sh output) */
  imagesDir?: string;
  /** merged over the lab's bootgate config (top-level keys replaced) */
  configOverrides?: Record<string, unknown>;
  /** bootgate's LAN address, the .1 of a /24 (default 10.77.0.1); benches pick their own subnet */
  server?: string;
  /**
   * A /30 for a veth between this machine and the lab namespace (host side .1, lab side .2), so the management
   * listener — the web UI — is reachable from the machine itself: bootgate's api.listen is the lab side's .2.
   * The `bootgate lab` commands use LAB_HOST_LINK (10.78.0.0/30); without it the UI is reachable only inside the
   * namespace (tests).
   */
  hostLink?: string;
}

/** The lab's web UI from this machine, and a login made for it (`Lab.uiLogin`). */
export interface LabUiLogin {
  url: string;
  username: string;
  password: string;
}

interface LabState {
  ns: string;
  bootgatePid: number;
  configFile: string;
}

export const LAB_BRIDGE = 'br0';
export const LAB_SERVER = '10.77.0.1';
export const LAB_HOST_LINK = '10.78.0.0/30';
const API_PORT = 8443;

export class Lab {
  readonly dir: string;
  readonly ns: string;
  readonly imagesDir: string;
  readonly configFile: string;
  /** bootgate's address on the LAN bridge (a /24) */
  readonly server: string;
  private readonly stateFile: string;
  private readonly overrides: Record<string, unknown>;
  /** [host side, lab side] of the host link, or undefined without one */
  private readonly hostLink: [string, string] | undefined;

  constructor(opts: LabOptions = {}) {
    this.overrides = opts.configOverrides ?? {};
    this.server = opts.server ?? LAB_SERVER;
    const link = opts.hostLink;
    if (link) {
      const m = /^(\d+\.\d+\.\d+)\.(\d+)\/30$/.exec(link);
      if (!m || Number(m[2]) % 4 !== 0) throw new Error(`lab host link ${link}: expected a /30 network such as 10.78.0.0/30`);
      this.hostLink = [`${m[1]}.${Number(m[2]) + 1}`, `${m[1]}.${Number(m[2]) + 2}`];
    }
    this.dir = opts.dir ?? join(ROOT, '.lab');
    this.ns = opts.ns ?? 'bglab';
    this.imagesDir = opts.imagesDir ?? process.env.BOOTGATE_IMAGES ?? join(this.dir, 'images');
    this.configFile = join(this.dir, 'bootgate.yaml');
    this.stateFile = join(this.dir, 'state.json');
  }

  /** Builds the demo thin-client OS and the iPXE binaries into imagesDir when missing. */
  ensureImages(log: (s: string) => void = () => {}): void {
    if (existsSync(join(this.imagesDir, 'vmlinuz')) && existsSync(join(this.imagesDir, 'initrd.gz'))) return;
    log(`lab: building the demo thin-client OS into ${this.imagesDir} (Debian kernel + busybox initramfs)…\n`);
    execFileSync('bash', [join(ROOT, 'boot-images/build.sh')], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, BOOTGATE_IMAGES: this.imagesDir },
    });
  }

  private state(): LabState | undefined {
    if (!existsSync(this.stateFile)) return undefined;
    return JSON.parse(readFileSync(this.stateFile, 'utf8')) as LabState;
  }

  /** True when our bootgate (by the PID we recorded) is still running. */
  isUp(): boolean {
    const s = this.state();
    if (!s) return false;
    try {
      return readFileSync(`/proc/${s.bootgatePid}/cmdline`, 'utf8').includes('bootgate');
    } catch {
      return false;
    }
  }

  config(): Record<string, unknown> {
    const net = this.server.replace(/\.\d+$/, '');
    return {
      dataDir: join(this.dir, 'data'),
      interfaces: { lan: LAB_BRIDGE },
      log: { level: 'info' },
      dhcp: {
        subnet: `${net}.0/24`,
        range: { start: `${net}.100`, end: `${net}.199` },
        router: this.server,
        dns: [this.server],
        leaseSeconds: 3600,
      },
      boot: { defaultProfile: 'demo' },
      profiles: {
        demo: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'console=ttyS0 quiet bootgate=${bootgate}' },
      },
      tftp: { root: this.imagesDir },
      http: { port: 80, root: this.imagesDir },
      api: { listen: `${this.apiAddress}:${API_PORT}` },
      ...this.overrides,
    };
  }

  /** Where the management listener is: the lab side of the host link, else the namespace's loopback. */
  get apiAddress(): string {
    return this.hostLink?.[1] ?? '127.0.0.1';
  }

  /** The host-side name of the host link's veth (the lab side is `host0` in the namespace). */
  private get hostIfname(): string {
    return `${this.ns.slice(0, 10)}-host`;
  }

  async up(log: (s: string) => void = () => {}): Promise<void> {
    if (this.isUp()) {
      log(`lab: already up (bootgate pid ${this.state()!.bootgatePid})\n`);
      return;
    }
    this.removeNamespace();
    mkdirSync(this.dir, { recursive: true });
    this.ensureImages(log);
    ip('netns', 'add', this.ns);
    ip('-n', this.ns, 'link', 'set', 'lo', 'up');
    ip('-n', this.ns, 'link', 'add', LAB_BRIDGE, 'type', 'bridge');
    ip('-n', this.ns, 'addr', 'add', `${this.server}/24`, 'dev', LAB_BRIDGE);
    ip('-n', this.ns, 'link', 'set', LAB_BRIDGE, 'up');
    if (this.hostLink) {
      const taken = ip('-4', '-o', 'addr', 'show', 'to', `${this.hostLink[0]}/30`).trim();
      if (taken) throw new Error(`lab: the host link ${this.hostLink[0]}/30 is already in use on this machine: ${taken}`);
      // removed with the namespace (deleting one end of a veth deletes both)
      ip('link', 'add', this.hostIfname, 'type', 'veth', 'peer', 'name', 'host0', 'netns', this.ns);
      ip('addr', 'add', `${this.hostLink[0]}/30`, 'dev', this.hostIfname);
      ip('link', 'set', this.hostIfname, 'up');
      ip('-n', this.ns, 'addr', 'add', `${this.hostLink[1]}/30`, 'dev', 'host0');
      ip('-n', this.ns, 'link', 'set', 'host0', 'up');
    }
    writeFileSync(this.configFile, stringify(this.config()));
    // the log is appended across runs: only what this run writes counts as this bootgate having started
    const logFile = join(this.dir, 'bootgate.log');
    const logStart = existsSync(logFile) ? statSync(logFile).size : 0;
    const logFd = openSync(logFile, 'a');
    const child = spawn('ip', ['netns', 'exec', this.ns, process.execPath, BIN, 'serve', '--config', this.configFile], {
      stdio: ['ignore', logFd, logFd],
      detached: true,
    });
    child.unref();
    writeFileSync(this.stateFile, JSON.stringify({ ns: this.ns, bootgatePid: child.pid!, configFile: this.configFile } satisfies LabState));
    let started = false;
    for (let i = 0; i < 400 && !started; i++) {
      started = readFrom(logFile, logStart).includes('bootgate started');
      if (child.exitCode !== null) throw new Error(`bootgate exited: see ${logFile}`);
      if (!started) await new Promise((r) => setTimeout(r, 50));
    }
    if (!started) throw new Error(`bootgate did not start within 20 s: see ${logFile}`);
    log(`lab: up — namespace ${this.ns}, LAN ${LAB_BRIDGE} ${this.server}/24, bootgate pid ${child.pid} (log ${logFile})\n`);
  }

  /** Boots one QEMU terminal through bootgate and resolves with its boot timeline once the OS reports in. */
  async boot(opts: {
    firmware: Firmware;
    uefiNetboot?: UefiNetboot;
    mac: string;
    tap: string;
    timeoutMs?: number;
    log?: (s: string) => void;
  }): Promise<{ seconds: number; boot: BootRecord | undefined; serial: string }> {
    if (!this.isUp()) throw new Error('the lab is not up (run: bootgate lab up)');
    const term = startTerminal({
      ns: this.ns,
      bridge: LAB_BRIDGE,
      tap: opts.tap,
      mac: opts.mac,
      firmware: opts.firmware,
      ...(opts.uefiNetboot ? { uefiNetboot: opts.uefiNetboot } : {}),
      serialLogFile: join(this.dir, `serial-${opts.mac.replaceAll(':', '')}.log`),
    });
    try {
      const m = await term.waitForLine(/BOOTGATE-TERMINAL-BOOTED/, opts.timeoutMs ?? 120_000);
      // The OS reports "booted" over HTTP just before it prints the marker; give the store a moment.
      let boot: BootRecord | undefined;
      for (let i = 0; i < 40; i++) {
        boot = this.latestBoot(opts.mac);
        if (boot?.stage === 'booted') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      return { seconds: m.elapsedMs / 1000, boot, serial: term.lines().join('\n') };
    } finally {
      await term.stop();
    }
  }

  /**
   * A staff login for the web UI, reachable from this machine over the host link: an admin account `lab` with a
   * fresh random password (created, or its password reset, through the API with the appliance's admin token).
   */
  async uiLogin(): Promise<LabUiLogin> {
    if (!this.hostLink) throw new Error('this lab has no host link: its UI is reachable only inside the namespace');
    const base = `http://${this.apiAddress}:${API_PORT}`;
    const token = readFileSync(join(this.dir, 'data/keys/admin.token'), 'utf8').trim();
    const password = randomBytes(12).toString('base64url');
    const call = (method: string, path: string, body: unknown): Promise<Response> =>
      fetch(`${base}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    let r = await call('POST', '/staff', { username: 'lab', role: 'admin', password });
    if (r.status === 409) r = await call('PUT', '/staff/lab/password', { password });
    if (!r.ok) throw new Error(`lab: could not make the UI login: ${r.status} ${await r.text()}`);
    return { url: `${base}/ui/`, username: 'lab', password };
  }

  latestBoot(mac: string): BootRecord | undefined {
    const db = openDatabase(join(this.dir, 'data/bootgate.db'), { readonly: true });
    try {
      return new BootRepository(db).latestBoot(mac);
    } finally {
      db.close();
    }
  }

  private removeNamespace(): void {
    // the host link's end here goes at once (the namespace, and its end, only once nothing holds it any more)
    for (const args of [...(this.hostLink ? [['link', 'del', this.hostIfname]] : []), ['netns', 'del', this.ns]]) {
      try {
        run('ip', args);
      } catch {
        /* not there */
      }
    }
  }

  /** Stops our bootgate (by recorded PID) and removes the namespace with everything in it. */
  async down(): Promise<void> {
    const s = this.state();
    if (s && this.isUp()) {
      try {
        process.kill(s.bootgatePid, 'SIGTERM');
      } catch {
        /* gone */
      }
      for (let i = 0; i < 100 && this.isUp(); i++) await new Promise((r) => setTimeout(r, 50));
      if (this.isUp()) process.kill(s.bootgatePid, 'SIGKILL');
    }
    this.removeNamespace();
    rmSync(this.stateFile, { force: true });
  }
}

/** The text of a file from byte `offset` on. */
function readFrom(file: string, offset: number): string {
  const fd = openSync(file, 'r');
  try {
    const size = statSync(file).size;
    const buf = Buffer.alloc(Math.max(0, size - offset));
    readSync(fd, buf, 0, buf.length, offset);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

export { formatTimeline };
