import type { Command } from 'commander';
import { BootgateError } from '../errors.ts';
import { api, withApi, type ApiOpts } from './api-client.ts';
import { out, run, table } from './run.ts';

interface InstanceRow {
  id: string;
  class: string;
  name: string;
  url: string;
  capacity: number;
  weight: number;
  source: string;
  health: { status: string; drained: boolean };
  load: number;
  activeSessions: number;
  decisions: number;
  trafficShare: number;
}

const positiveInt = (flag: string, v: string): number => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new BootgateError('VALIDATION', `${flag} must be a positive integer, got ${JSON.stringify(v)}`);
  return Number(v);
};

/** platforms … and wake: service platform instances and Wake-on-LAN on the running appliance. */
export function registerPlatformCommands(program: Command): void {
  const platforms = program.command('platforms').description('service platform instances (game, video, web, billing, monitoring, …)');
  withApi(platforms.command('add').description('register an instance; prints its id and its heartbeat token'))
    .requiredOption('--class <class>', 'service class, e.g. game')
    .requiredOption('--name <name>', 'instance name, unique in its class')
    .requiredOption('--url <url>', 'base URL terminals are sent to, e.g. http://10.0.0.21:8080/')
    .requiredOption('--capacity <n>', 'sessions it is sized for')
    .option('--weight <w>', 'relative weight (default 1)')
    .action((o: ApiOpts & { class: string; name: string; url: string; capacity: string; weight?: string }) =>
      run(async () => {
        const r = (await api(o, 'POST', '/platforms', {
          class: o.class,
          name: o.name,
          url: o.url,
          capacity: positiveInt('--capacity', o.capacity),
          ...(o.weight !== undefined ? { weight: Number(o.weight) } : {}),
        })) as { id: string; token: string };
        out(`id: ${r.id}\ntoken: ${r.token}\n`);
      }),
    );
  withApi(platforms.command('list').description('instances with health, load and traffic share'))
    .option('--json', 'print JSON')
    .action((o: ApiOpts & { json?: boolean }) =>
      run(async () => {
        const rows = (await api(o, 'GET', '/platforms')) as InstanceRow[];
        if (o.json) return out(`${JSON.stringify(rows)}\n`);
        table(
          rows.map((r) => ({
            ...r,
            health: r.health.drained ? `${r.health.status},drained` : r.health.status,
            load: r.load.toFixed(2),
            share: `${(r.trafficShare * 100).toFixed(1)}%`,
          })),
          ['id', 'class', 'name', 'url', 'capacity', 'health', 'activeSessions', 'load', 'decisions', 'share', 'source'],
        );
      }),
    );
  for (const [verb, description] of [
    ['drain', 'send no new requests to the instance (requests under way finish)'],
    ['undrain', 'take the instance back into the choice'],
  ] as const)
    withApi(platforms.command(verb).description(description))
      .argument('<id>', 'instance id')
      .action((id: string, o: ApiOpts) =>
        run(async () => {
          await api(o, 'POST', `/platforms/${encodeURIComponent(id)}/${verb}`);
          out(`${id}: ${verb === 'drain' ? 'drained' : 'in service'}\n`);
        }),
      );
  withApi(platforms.command('remove').description('deregister an instance added by the CLI or API'))
    .argument('<id>', 'instance id')
    .action((id: string, o: ApiOpts) =>
      run(async () => {
        await api(o, 'DELETE', `/platforms/${encodeURIComponent(id)}`);
        out(`${id}: removed\n`);
      }),
    );
  withApi(platforms.command('token').description('a new heartbeat token for an instance (the old one stops working)'))
    .argument('<id>', 'instance id')
    .action((id: string, o: ApiOpts) =>
      run(async () => {
        const r = (await api(o, 'POST', `/platforms/${encodeURIComponent(id)}/token`)) as { token: string };
        out(`token: ${r.token}\n`);
      }),
    );
  withApi(platforms.command('advice').description("the scaling advisor's recommendations and recent events")).action((o: ApiOpts) =>
    run(async () => out(`${JSON.stringify(await api(o, 'GET', '/platforms/advice'), null, 2)}\n`)),
  );

  withApi(program.command('wake').description('Wake-on-LAN: magic packets to one terminal, a seat group or every seat'))
    .option('--mac <mac>', 'one MAC address')
    .option('--group <group>', 'every seat of a seat group')
    .option('--all', 'every seat')
    .option('--spread <ms>', 'spread the packets over this many milliseconds (a wake-up is not a boot storm)', '0')
    .action((o: ApiOpts & { mac?: string; group?: string; all?: boolean; spread: string }) =>
      run(async () => {
        const chosen = [o.mac !== undefined, o.group !== undefined, o.all === true].filter(Boolean).length;
        if (chosen !== 1) throw new BootgateError('VALIDATION', 'give exactly one of --mac, --group, --all');
        const body = o.mac !== undefined ? { mac: o.mac } : o.group !== undefined ? { group: o.group } : { all: true };
        const r = (await api(o, 'POST', '/wake', { ...body, spreadMs: Number(o.spread) })) as { sent: number; failed: number; macs: string[] };
        out(`woke ${r.sent} of ${r.macs.length}${r.failed ? ` (${r.failed} failed)` : ''}: ${r.macs.join(' ')}\n`);
      }),
    );
}
