import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, createWriteStream, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { addTap, deleteLink } from './netns.ts';

/**
 * A QEMU "thin client" that netboots on a lab LAN: QEMU runs inside namespace `ns` on tap device `tap`, which is
 * created on `bridge` (the terminal LAN) and removed again by stop(). The serial console (ttyS0) is read from
 * QEMU's stdout, so tests can wait for marker lines. KVM does not work on the lab machines: always TCG.
 *
 *   bios              SeaBIOS + the NIC's iPXE option ROM from ipxe-qemu (QEMU's default romfile)
 *   uefi, ipxe-rom    OVMF + the same ipxe-qemu ROM (its EFI image) — iPXE does DHCP itself
 *   uefi, edk2-pxe    OVMF's own PXE (romfile=""), which needs a NIC OVMF has a driver for: virtio-net-pci
 */
export type Firmware = 'bios' | 'uefi';
export type UefiNetboot = 'ipxe-rom' | 'edk2-pxe';

export interface TerminalOptions {
  /** namespace QEMU runs in (the one holding `bridge`) */
  ns: string;
  bridge: string;
  /** tap device name to create (≤ 15 characters) */
  tap: string;
  mac: string;
  firmware: Firmware;
  /** UEFI only; default 'ipxe-rom' */
  uefiNetboot?: UefiNetboot;
  /** default 256 */
  memoryMb?: number;
  /** also write the serial console, one line per line with seconds since start (like the lab's ts.py) */
  serialLogFile?: string;
  /**
   * QEMU NIC model; default virtio-net-pci for every mode. QEMU's e1000 model holds received frames for 1 s after
   * every RCTL write (hw/net/e1000.c flush_queue_timer), which costs ~1 s in iPXE's DHCP and again in the OS's
   * (docs/dhcp.md "Boot waits"); pass 'e1000' to see it.
   */
  nic?: string;
  /** QEMU binary; default qemu-system-x86_64 */
  qemu?: string;
  /** OVMF images; defaults are Debian's ovmf package (4 MiB variant) */
  ovmfCode?: string;
  ovmfVars?: string;
  /** appended to the QEMU command line */
  extraArgs?: string[];
}

export interface LineMatch {
  line: string;
  match: RegExpExecArray;
  /** milliseconds from QEMU start to the line */
  elapsedMs: number;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  elapsedMs: number;
}

export interface Terminal {
  readonly child: ChildProcess;
  readonly pid: number;
  /** the full QEMU argv (for reports and debugging) */
  readonly argv: readonly string[];
  /** serial console lines so far (ANSI escapes and CRs removed) */
  lines(): readonly string[];
  /** QEMU's own stderr so far */
  stderr(): string;
  /** resolves with the first serial line (already seen or future) matching `re`; rejects on timeout or QEMU exit */
  waitForLine(re: RegExp, timeoutMs: number): Promise<LineMatch>;
  /** resolves when QEMU exits (e.g. after the guest's poweroff with -no-reboot); rejects on timeout */
  waitForExit(timeoutMs: number): Promise<ExitStatus>;
  /** kills QEMU by PID (SIGTERM, then SIGKILL), removes the tap and the per-VM files; never throws */
  stop(): Promise<void>;
}

const DEFAULT_OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const DEFAULT_OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
// CSI / OSC sequences, "ESC c" (reset), ESC followed by one char, and backspaces, as SeaBIOS/iPXE/OVMF emit them.
const ANSI = /\x1b\[[0-9;?=]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[@-Z\\-_c]|\x08/g;
const TAIL_LINES = 25;

/** Builds the QEMU argument list for `opts`; `varsFile` is the per-VM copy of the OVMF variable store. */
export function qemuArgs(opts: TerminalOptions, varsFile?: string): string[] {
  const uefiNetboot = opts.uefiNetboot ?? 'ipxe-rom';
  const edk2 = opts.firmware === 'uefi' && uefiNetboot === 'edk2-pxe';
  const nic = opts.nic ?? 'virtio-net-pci';
  const args = ['-accel', 'tcg', '-m', String(opts.memoryMb ?? 256), '-smp', '1'];
  args.push('-nographic', '-monitor', 'none', '-serial', 'stdio', '-no-reboot');
  let device = `${nic},netdev=n0,mac=${opts.mac}`;
  if (opts.firmware === 'uefi') {
    if (varsFile === undefined) throw new Error('uefi firmware needs a copy of the OVMF variable store');
    args.push(
      '-machine',
      'q35',
      '-drive',
      `if=pflash,format=raw,unit=0,readonly=on,file=${opts.ovmfCode ?? DEFAULT_OVMF_CODE}`,
      '-drive',
      `if=pflash,format=raw,unit=1,file=${varsFile}`,
    );
    // OVMF ignores -boot n; bootindex puts the NIC first. romfile= (empty) leaves the NIC to edk2's own PXE.
    device += ',bootindex=1';
    if (edk2) device += ',romfile=';
  }
  args.push('-netdev', `tap,id=n0,ifname=${opts.tap},script=no,downscript=no`, '-device', device);
  if (opts.firmware === 'bios') args.push('-boot', 'n');
  args.push(...(opts.extraArgs ?? []));
  return args;
}

/** Creates the tap on the bridge and starts QEMU inside the namespace. */
export function startTerminal(opts: TerminalOptions): Terminal {
  if (opts.tap.length > 15) throw new Error(`tap name ${opts.tap} is longer than IFNAMSIZ-1 (15)`);
  const workDir = mkdtempSync(join(tmpdir(), 'bg-qemu-'));
  let varsFile: string | undefined;
  if (opts.firmware === 'uefi') {
    varsFile = join(workDir, 'OVMF_VARS.fd');
    copyFileSync(opts.ovmfVars ?? DEFAULT_OVMF_VARS, varsFile);
  }
  const argv = [opts.qemu ?? 'qemu-system-x86_64', ...qemuArgs(opts, varsFile)];
  addTap(opts.ns, opts.tap, opts.bridge);

  const t0 = performance.now();
  let child: ChildProcess;
  try {
    // `ip netns exec` execs QEMU itself, so child.pid is QEMU's PID; detached = its own process group.
    child = spawn('ip', ['netns', 'exec', opts.ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  } catch (err) {
    deleteLink(opts.ns, opts.tap);
    rmSync(workDir, { recursive: true, force: true });
    throw err;
  }
  if (child.pid === undefined) {
    deleteLink(opts.ns, opts.tap);
    rmSync(workDir, { recursive: true, force: true });
    throw new Error(`could not start ${argv[0]}`);
  }
  const pid = child.pid;

  const log: WriteStream | undefined = opts.serialLogFile ? createWriteStream(opts.serialLogFile) : undefined;
  const seen: string[] = [];
  const times: number[] = [];
  let partial = '';
  let stderr = '';
  let exit: ExitStatus | undefined;
  const lineWaiters = new Set<(line: string, elapsedMs: number) => void>();
  const exitWaiters = new Set<(status: ExitStatus) => void>();

  const addLine = (raw: string): void => {
    const line = raw.replace(ANSI, '').replace(/\r/g, '').trim();
    if (line === '') return;
    const elapsedMs = performance.now() - t0;
    seen.push(line);
    times.push(elapsedMs);
    log?.write(`${(elapsedMs / 1000).toFixed(2).padStart(7)} ${line}\n`);
    for (const w of [...lineWaiters]) w(line, elapsedMs);
  };
  child.stdout!.setEncoding('latin1');
  child.stdout!.on('data', (chunk: string) => {
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      addLine(partial.slice(0, nl));
      partial = partial.slice(nl + 1);
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr += chunk;
  });
  child.on('error', (err) => {
    stderr += `spawn error: ${err.message}\n`;
  });
  child.once('close', (code, signal) => {
    if (partial !== '') addLine(partial);
    partial = '';
    exit = { code, signal, elapsedMs: performance.now() - t0 };
    log?.end();
    for (const w of [...exitWaiters]) w(exit);
  });

  const describe = (): string =>
    `QEMU ${opts.firmware}${opts.firmware === 'uefi' ? `/${opts.uefiNetboot ?? 'ipxe-rom'}` : ''} mac=${opts.mac} pid=${pid}`;
  const tail = (): string => `serial (last ${TAIL_LINES} lines):\n${seen.slice(-TAIL_LINES).join('\n')}\nqemu stderr:\n${stderr}`;

  const terminal: Terminal = {
    child,
    pid,
    argv,
    lines: () => seen,
    stderr: () => stderr,

    waitForLine(re: RegExp, timeoutMs: number): Promise<LineMatch> {
      const test = (line: string): RegExpExecArray | null => {
        re.lastIndex = 0;
        return re.exec(line);
      };
      for (let i = 0; i < seen.length; i++) {
        const m = test(seen[i]!);
        if (m) return Promise.resolve({ line: seen[i]!, match: m, elapsedMs: times[i]! });
      }
      if (exit) return Promise.reject(new Error(`${describe()} exited (${exit.code ?? exit.signal}) without a line matching ${re}\n${tail()}`));
      return new Promise<LineMatch>((resolve, reject) => {
        const done = (): void => {
          clearTimeout(timer);
          lineWaiters.delete(onLine);
          exitWaiters.delete(onExit);
        };
        const onLine = (line: string, elapsedMs: number): void => {
          const m = test(line);
          if (!m) return;
          done();
          resolve({ line, match: m, elapsedMs });
        };
        const onExit = (s: ExitStatus): void => {
          done();
          reject(new Error(`${describe()} exited (${s.code ?? s.signal}) without a line matching ${re}\n${tail()}`));
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${describe()}: no line matching ${re} within ${timeoutMs} ms\n${tail()}`));
        }, timeoutMs);
        lineWaiters.add(onLine);
        exitWaiters.add(onExit);
      });
    },

    waitForExit(timeoutMs: number): Promise<ExitStatus> {
      if (exit) return Promise.resolve(exit);
      return new Promise<ExitStatus>((resolve, reject) => {
        const onExit = (s: ExitStatus): void => {
          clearTimeout(timer);
          resolve(s);
        };
        const timer = setTimeout(() => {
          exitWaiters.delete(onExit);
          reject(new Error(`${describe()} still running after ${timeoutMs} ms\n${tail()}`));
        }, timeoutMs);
        exitWaiters.add(onExit);
      });
    },

    async stop(): Promise<void> {
      if (!exit) {
        const gone = terminal.waitForExit(5_000).then(
          () => true,
          () => false,
        );
        signal(pid, 'SIGTERM');
        if (!(await gone)) {
          signal(pid, 'SIGKILL');
          await terminal.waitForExit(5_000).catch(() => undefined);
        }
      }
      deleteLink(opts.ns, opts.tap);
      rmSync(workDir, { recursive: true, force: true });
    },
  };
  return terminal;
}

/** Signals QEMU's process group (by PID; it was spawned detached); never throws. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}
