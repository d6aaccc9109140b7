import type { Command } from 'commander';
import { api, withApi, type ApiOpts } from './api-client.ts';
import { run } from './run.ts';

const print = (v: unknown): void => void process.stdout.write(`${typeof v === 'string' ? v : JSON.stringify(v, null, 2)}\n`);

/** Images, versions and overlays on the running appliance (through its management API, as admin or auditor). */
export function registerOverlayCommands(program: Command): void {
  const images = program.command('images').description('golden disk images and their versions (iSCSI)');
  withApi(images.command('list').description('list images, their versions and the current one')).action((o: ApiOpts) =>
    run(async () => print(await api(o, 'GET', '/images'))),
  );
  withApi(images.command('commit').description("make a super terminal's writes the image's new current version"))
    .requiredOption('--image <name>', 'image name')
    .requiredOption('--mac <mac>', 'the super terminal')
    .option('--note <text>', 'what changed')
    .action((o: ApiOpts & { image: string; mac: string; note?: string }) =>
      run(async () => print(await api(o, 'POST', `/images/${encodeURIComponent(o.image)}/commit`, { mac: o.mac, note: o.note }))),
    );
  withApi(images.command('rollback').description('make an earlier version current again (terminals get it at their next boot)'))
    .requiredOption('--image <name>', 'image name')
    .requiredOption('--version <n>', 'version number')
    .action((o: ApiOpts & { image: string; version: string }) =>
      run(async () => {
        await api(o, 'POST', `/images/${encodeURIComponent(o.image)}/rollback`, { version: Number(o.version) });
        print(`${o.image}: version ${o.version} is current`);
      }),
    );

  const overlays = program.command('overlays').description("terminals' copy-on-write overlays");
  withApi(overlays.command('size').description("a terminal's overlay size in bytes"))
    .requiredOption('--image <name>', 'image name')
    .requiredOption('--mac <mac>', 'terminal MAC')
    .action((o: ApiOpts & { image: string; mac: string }) =>
      run(async () => print(await api(o, 'GET', `/images/${encodeURIComponent(o.image)}/overlays/${encodeURIComponent(o.mac)}`))),
    );
  withApi(overlays.command('reset').description("discard a terminal's overlay (it sees the clean image)"))
    .requiredOption('--image <name>', 'image name')
    .requiredOption('--mac <mac>', 'terminal MAC')
    .action((o: ApiOpts & { image: string; mac: string }) =>
      run(async () => {
        await api(o, 'POST', `/images/${encodeURIComponent(o.image)}/overlays/${encodeURIComponent(o.mac)}/reset`);
        print(`overlay of ${o.mac} on ${o.image} reset`);
      }),
    );
  withApi(overlays.command('mode').description("set a terminal's overlay mode: discard, keep or super"))
    .requiredOption('--mac <mac>', 'terminal MAC')
    .requiredOption('--mode <mode>', 'discard | keep | super')
    .action((o: ApiOpts & { mac: string; mode: string }) =>
      run(async () => {
        await api(o, 'PUT', `/overlays/${encodeURIComponent(o.mac)}/mode`, { mode: o.mode });
        print(`${o.mac}: ${o.mode}`);
      }),
    );
}
