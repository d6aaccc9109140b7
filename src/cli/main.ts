import { Command } from 'commander';
import { stringify } from 'yaml';
import { Appliance } from '../appliance.ts';
import { formatTimeline } from '../boot/timeline.ts';
import { describeMissingFile, missingProfileFiles } from '../boot/profile-files.ts';
import type { BootRecord } from '../store/boot-repository.ts';
import { loadConfig } from '../config/load.ts';
import { createLogger } from '../log/logger.ts';
import { api, withApi, type ApiOpts } from './api-client.ts';
import { registerIdentityCommands } from './identity-commands.ts';
import { registerLabCommands } from './lab-commands.ts';
import { registerOverlayCommands } from './overlay-commands.ts';
import { registerPlatformCommands } from './platform-commands.ts';
import { registerCacheCommands } from './cache-commands.ts';
import { registerStaffCommands } from './staff-commands.ts';
import { configFileOf, DEFAULT_CONFIG_FILE, out, run, table } from './run.ts';

/*
 * One rule for how a command reaches state: `serve`, `check-config` and `lab` run here; every other command asks
 * the running appliance through its management API (api.listen, with a token), reads included. The appliance owns
 * its database; the CLI never opens it, so a reader sees exactly what the API shows and needs the same role.
 */
const program = new Command('bootgate')
  .description('Netboot gateway for rooms of diskless terminals')
  .option('-c, --config <file>', `YAML configuration file (default: $BOOTGATE_CONFIG, else ${DEFAULT_CONFIG_FILE})`)
  .configureHelp({ showGlobalOptions: true })
  .showHelpAfterError();
// -c is the program's option, accepted before or after the subcommand; every action sees the resolved file as opts.config
program.hook('preAction', (_program, action) => void action.setOptionValue('config', configFileOf(action)));

program
  .command('serve')
  .description('run the appliance in the foreground (SIGTERM or Ctrl-C stops it cleanly)')
  .action((opts: { config: string }) =>
    run(async () => {
      const config = loadConfig(opts.config);
      const logger = createLogger(config.log.level);
      const appliance = new Appliance(config, { logger });
      await appliance.start();
      let stopping = false;
      const stop = async (signal: string): Promise<void> => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'stopping');
        await appliance.stop();
        logger.flush();
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
    }),
  );

program
  .command('check-config')
  .description('validate a configuration file and print the effective configuration (defaults filled in)')
  .argument('[file]', 'YAML configuration file (default: the -c file)')
  .action((file: string | undefined, opts: { config: string }) =>
    run(() => {
      const config = loadConfig(file ?? opts.config);
      out(stringify(config));
      // valid, but a terminal would get a 404: said on stderr (stdout stays the effective config)
      const root = config.http.root ?? config.tftp.root;
      for (const m of missingProfileFiles(config.profiles, root)) process.stderr.write(`bootgate: warning: ${describeMissingFile(m, root)}\n`);
    }),
  );

type LeaseView = {
  ip: string;
  mac: string;
  state: string;
  hostname: string | null;
  expiresAt: string;
};

withApi(program.command('leases').description('list DHCP leases'))
  .option('--json', 'print JSON instead of a table')
  .action((o: ApiOpts & { json?: boolean }) =>
    run(async () => {
      const leases = (await api(o, 'GET', '/leases')) as LeaseView[];
      if (o.json)
        return out(
          `${JSON.stringify(leases.map((l) => ({ ip: l.ip, mac: l.mac, state: l.state, hostname: l.hostname ?? '', expires: l.expiresAt })))}\n`,
        );
      table(leases, ['ip', 'mac', 'state', 'hostname', 'expiresAt']);
    }),
  );

interface TerminalView {
  mac: string;
  lastIp: string | null;
  firmware: string | null;
  lastBoot: BootRecord | null;
}

withApi(program.command('terminals').description('list terminals and the timeline of their latest boot'))
  .option('--json', 'print JSON instead of text')
  .action((o: ApiOpts & { json?: boolean }) =>
    run(async () => {
      const view = (await api(o, 'GET', '/terminals')) as TerminalView[];
      if (o.json) return out(`${JSON.stringify(view)}\n`);
      for (const t of view) {
        const b = t.lastBoot;
        out(`${t.mac}  ${t.lastIp ?? '-'}  ${t.firmware ?? '-'}  ${b ? `${b.stage} (${new Date(b.startedAt).toISOString()})` : 'never booted'}\n`);
        if (b) out(`    ${formatTimeline(b)}\n`);
      }
    }),
  );

registerLabCommands(program);
registerOverlayCommands(program);
registerIdentityCommands(program);
registerPlatformCommands(program);
registerCacheCommands(program);
registerStaffCommands(program);

await program.parseAsync(process.argv);
