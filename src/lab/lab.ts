import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
}

interface LabState {
  ns: string;
  bootgatePid: number;
  configFile: string;
}

export const LAB_BRIDGE = 'br0';
export const LAB_SERVER = '10.77.0.1';

export class Lab {
  readonly dir: string;
  readonly ns: string;
  readonly imagesDir: string;
  readonly configFile: string;
  /** bootgate's address on the LAN bridge (a /24) */
  readonly server: string;
  private readonly stateFile: string;
  private readonly overrides: Record<string, unknown>;

  constructor(opts: LabOptions = {}) {
    this.overrides = opts.configOverrides ?? {};
    this.server = opts.server ?? LAB_SERVER;
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
      api: { listen: '127.0.0.1:8443' },
      ...this.overrides,
    };
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
    writeFileSync(this.configFile, stringify(this.config()));
    const logFd = openSync(join(this.dir, 'bootgate.log'), 'a');
    const child = spawn('ip', ['netns', 'exec', this.ns, process.execPath, BIN, 'serve', '--config', this.configFile], {
      stdio: ['ignore', logFd, logFd],
      detached: true,
    });
    child.unref();
    writeFileSync(this.stateFile, JSON.stringify({ ns: this.ns, bootgatePid: child.pid!, configFile: this.configFile } satisfies LabState));
    for (let i = 0; i < 200; i++) {
      if (readFileSync(join(this.dir, 'bootgate.log'), 'utf8').includes('bootgate started')) break;
      if (child.exitCode !== null) throw new Error(`bootgate exited: see ${join(this.dir, 'bootgate.log')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    log(`lab: up — namespace ${this.ns}, LAN ${LAB_BRIDGE} ${this.server}/24, bootgate pid ${child.pid} (log ${join(this.dir, 'bootgate.log')})\n`);
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

  latestBoot(mac: string): BootRecord | undefined {
    const db = openDatabase(join(this.dir, 'data/bootgate.db'), { readonly: true });
    try {
      return new BootRepository(db).latestBoot(mac);
    } finally {
      db.close();
    }
  }

  private removeNamespace(): void {
    try {
      run('ip', ['netns', 'del', this.ns]);
    } catch {
      /* not there */
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

export { formatTimeline };
