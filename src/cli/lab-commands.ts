import type { Command } from 'commander';
import { BootgateError } from '../errors.ts';
import { formatTimeline, Lab, LAB_HOST_LINK } from '../lab/lab.ts';
import type { Firmware, UefiNetboot } from '../lab/qemu.ts';
import { out, run } from './run.ts';

/** Terminals the lab boots: fixed MACs so their timelines are easy to find. */
const TERMINALS: Record<string, { mac: string; tap: string; firmware: Firmware; uefiNetboot?: UefiNetboot; label: string }> = {
  bios: { mac: '52:54:00:77:01:01', tap: 'tapbios', firmware: 'bios', label: 'BIOS (SeaBIOS + iPXE ROM)' },
  uefi: { mac: '52:54:00:77:02:01', tap: 'tapuefi', firmware: 'uefi', uefiNetboot: 'edk2-pxe', label: 'UEFI (OVMF PXE → ipxe.efi)' },
};

async function bootAndReport(lab: Lab, which: string): Promise<boolean> {
  const t = TERMINALS[which];
  if (!t) throw new BootgateError('VALIDATION', `unknown terminal kind ${which} (bios or uefi)`);
  out(`lab: booting a ${t.label} terminal ${t.mac} through bootgate…\n`);
  try {
    const r = await lab.boot({ firmware: t.firmware, mac: t.mac, tap: t.tap, ...(t.uefiNetboot ? { uefiNetboot: t.uefiNetboot } : {}) });
    out(`lab: ${t.label} booted in ${r.seconds.toFixed(1)} s (QEMU start to the OS marker, TCG)\n`);
    if (r.boot) out(`     timeline: ${formatTimeline(r.boot)}\n`);
    return true;
  } catch (e) {
    out(`lab: ${t.label} did not boot: ${(e as Error).message}\n`);
    return false;
  }
}

/** The lab of the `lab` commands: the checkout's .lab, namespace bglab, its UI reachable from this machine. */
const cliLab = (): Lab => new Lab({ hostLink: LAB_HOST_LINK });

/** Makes the lab's UI login and says where to open it. */
async function reportUi(l: Lab): Promise<void> {
  const login = await l.uiLogin();
  out(`lab: web UI ${login.url} — log in as ${login.username} / ${login.password} (reachable from this machine only)\n`);
}

export function registerLabCommands(program: Command): void {
  const lab = program.command('lab').description('an isolated lab LAN on this machine: bootgate plus QEMU terminals in a network namespace');
  lab
    .command('up')
    .description('create the lab namespace and bridge, build the demo OS if needed, start bootgate on it')
    .action(() =>
      run(async () => {
        const l = cliLab();
        await l.up(out);
        await reportUi(l);
      }),
    );
  lab
    .command('boot')
    .description('boot a QEMU terminal through bootgate and print its boot timeline')
    .option('--firmware <kind>', 'bios or uefi', 'bios')
    .action((opts: { firmware: string }) =>
      run(async () => {
        if (!(await bootAndReport(cliLab(), opts.firmware))) process.exitCode = 1;
      }),
    );
  lab
    .command('down')
    .description('stop the lab bootgate and remove the namespace')
    .action(() =>
      run(async () => {
        await cliLab().down();
        out('lab: down\n');
      }),
    );
  lab
    .command('demo')
    .description('npm start: lab up, boot a BIOS and a UEFI terminal, print their timelines, serve until Ctrl-C, lab down')
    .option('--exit', 'take the lab down after the boots instead of serving on')
    .action((opts: { exit?: boolean }) =>
      run(async () => {
        const l = cliLab();
        let stopping = false;
        const stop = async (): Promise<void> => {
          if (stopping) return;
          stopping = true;
          out('\nlab: stopping…\n');
          await l.down();
          out('lab: down\n');
          process.exit(0);
        };
        process.on('SIGINT', () => void stop());
        process.on('SIGTERM', () => void stop());
        try {
          await l.up(out);
          // before the boots, so the room screen can be opened to watch them
          await reportUi(l);
          const ok = [await bootAndReport(l, 'bios'), await bootAndReport(l, 'uefi')];
          if (!ok.every(Boolean)) process.exitCode = 1;
        } catch (e) {
          await l.down();
          throw e;
        }
        if (opts.exit) {
          await l.down();
          return;
        }
        out(`lab: bootgate keeps serving the lab LAN (log: ${l.dir}/bootgate.log). Ctrl-C stops it and removes the lab.\n`);
        // a pending promise alone does not keep Node running: an interval does, until Ctrl-C or bootgate ends
        await new Promise<void>((resolve) => {
          const watch = setInterval(() => {
            if (l.isUp()) return;
            clearInterval(watch);
            resolve();
          }, 1000);
        });
        if (stopping) return;
        out(`lab: bootgate is no longer running (see ${l.dir}/bootgate.log); removing the lab\n`);
        await l.down();
        process.exitCode = 1;
      }),
    );
}
