import type { Command } from 'commander';
import { apiRequest } from './api-client.ts';

const print = (v: unknown): void => void process.stdout.write(`${typeof v === 'string' ? v : JSON.stringify(v, null, 2)}\n`);

async function run(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    process.stderr.write(`bootgate: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}

/** Images, versions and overlays on the running appliance (through its management API). */
export function registerOverlayCommands(program: Command): void {
  const images = program.command('images').description('golden disk images and their versions (iSCSI)');
  images
    .command('list')
    .description('list images, their versions and the current one')
    .requiredOption('-c, --config <file>', 'YAML configuration file')
    .action((o: { config: string }) => run(async () => print(await apiRequest(o.config, 'GET', '/images'))));
  images
    .command('commit')
    .description("make a super terminal's writes the image's new current version")
    .requiredOption('-c, --config <file>', 'YAML configuration file')
    .requiredOption('--image <name>', 'image name')
    .requiredOption('--mac <mac>', 'the super terminal')
    .option('--note <text>', 'what changed')
    .action((o: { config: string; image: string; mac: string; note?: string }) =>
      run(async () => print(await apiRequest(o.config, 'POST', `/images/${encodeURIComponent(o.image)}/commit`, { mac: o.mac, note: o.note }))),
    );
  images
    .command('rollback')
    .description('make an earlier version current again (terminals get it at their next boot)')
    .requiredOption('-c, --config <file>', 'YAML configuration file')
    .requiredOption('--image <name>', 'image name')
    .requiredOption('--version <n>', 'version number')
    .action((o: { config: string; image: string; version: string }) =>
      run(async () => {
        await apiRequest(o.config, 'POST', `/images/${encodeURIComponent(o.image)}/rollback`, { version: Number(o.version) });
        print(`${o.image}: version ${o.version} is current`);
      }),
    );

  const overlays = program.command('overlays').description("terminals' copy-on-write overlays");
  overlays
    .command('size')
    .description("a terminal's overlay size in bytes")
    .requiredOption('-c, --config <file>', 'YAML configuration file')
    .requiredOption('--image <name>', 'image name')
    .requiredOption('--mac <mac>', 'terminal MAC')
    .action((o: { config: string; image: string; mac: string }) =>
      run(async () => print(await apiRequest(o.config, 'GET', `/images/${encodeURIComponent(o.image)}/overlays/${encodeURIComponent(o.mac)}`))),
    );
  overlays
    .command('reset')
    .description("discard a terminal's overlay (it sees the clean image)")
    .requiredOption('-c, --config <file>', 'YAML configuration file')
    .requiredOption('--image <name>', 'image name')
    .requiredOption('--mac <mac>', 'terminal MAC')
    .action((o: { config: string; image: string; mac: string }) =>
      run(async () => {
        await apiRequest(o.config, 'POST', `/images/${encodeURIComponent(o.image)}/overlays/${encodeURIComponent(o.mac)}/reset`);
        print(`overlay of ${o.mac} on ${o.image} reset`);
      }),
    );
  overlays
    .command('mode')
    .description("set a terminal's overlay mode: discard, keep or super")
    .requiredOption('-c, --config <file>', 'YAML configuration file')
    .requiredOption('--mac <mac>', 'terminal MAC')
    .requiredOption('--mode <mode>', 'discard | keep | super')
    .action((o: { config: string; mac: string; mode: string }) =>
      run(async () => {
        await apiRequest(o.config, 'PUT', `/overlays/${encodeURIComponent(o.mac)}/mode`, { mode: o.mode });
        print(`${o.mac}: ${o.mode}`);
      }),
    );
}
