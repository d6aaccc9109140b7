import { Command } from 'commander';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Appliance } from '../appliance.ts';
import { loadConfig } from '../config/load.ts';
import { BootgateError } from '../errors.ts';
import { createLogger } from '../log/logger.ts';
import { openDatabase } from '../store/database.ts';
import { LeaseRepository } from '../store/lease-repository.ts';
import { BootRepository } from '../store/boot-repository.ts';
import { formatTimeline } from '../boot/timeline.ts';
import { intToIp } from '../wire/ipv4.ts';
import { registerLabCommands } from './lab-commands.ts';
import { registerOverlayCommands } from './overlay-commands.ts';
import { registerIdentityCommands } from './identity-commands.ts';

function fail(e: unknown): never {
  if (e instanceof BootgateError) {
    process.stderr.write(`bootgate: ${e.code}: ${e.message}\n`);
    process.exit(2);
  }
  throw e;
}

const program = new Command('bootgate').description('Netboot gateway for rooms of diskless terminals').showHelpAfterError();

program
  .command('serve')
  .description('run the appliance in the foreground (SIGTERM or Ctrl-C stops it cleanly)')
  .requiredOption('-c, --config <file>', 'YAML configuration file')
  .action(async (opts: { config: string }) => {
    let appliance: Appliance;
    try {
      const config = loadConfig(opts.config);
      const logger = createLogger(config.log.level);
      appliance = new Appliance(config, { logger });
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
    } catch (e) {
      fail(e);
    }
  });

program
  .command('check-config')
  .description('validate a configuration file and print the effective configuration (defaults filled in)')
  .argument('<file>', 'YAML configuration file')
  .action((file: string) => {
    try {
      process.stdout.write(stringify(loadConfig(file)));
    } catch (e) {
      fail(e);
    }
  });

program
  .command('leases')
  .description('list DHCP leases from the appliance database')
  .requiredOption('-c, --config <file>', 'YAML configuration file (for dataDir)')
  .option('--json', 'print JSON instead of a table')
  .action((opts: { config: string; json?: boolean }) => {
    try {
      const config = loadConfig(opts.config);
      const db = openDatabase(join(config.dataDir, 'bootgate.db'), { readonly: true });
      const rows = new LeaseRepository(db).all();
      db.close();
      const view = rows.map((l) => ({
        ip: intToIp(l.ip),
        mac: l.mac,
        state: l.state,
        hostname: l.hostname ?? '',
        expires: new Date(l.expiresAt).toISOString(),
      }));
      if (opts.json) process.stdout.write(`${JSON.stringify(view)}\n`);
      else {
        process.stdout.write(`${'IP'.padEnd(16)}${'MAC'.padEnd(19)}${'STATE'.padEnd(10)}${'HOSTNAME'.padEnd(20)}EXPIRES\n`);
        for (const v of view)
          process.stdout.write(`${v.ip.padEnd(16)}${v.mac.padEnd(19)}${v.state.padEnd(10)}${v.hostname.padEnd(20)}${v.expires}\n`);
      }
    } catch (e) {
      fail(e);
    }
  });

program
  .command('terminals')
  .description('list terminals and the timeline of their latest boot')
  .requiredOption('-c, --config <file>', 'YAML configuration file (for dataDir)')
  .option('--json', 'print JSON instead of text')
  .action((opts: { config: string; json?: boolean }) => {
    try {
      const config = loadConfig(opts.config);
      const db = openDatabase(join(config.dataDir, 'bootgate.db'), { readonly: true });
      const repo = new BootRepository(db);
      const view = repo
        .terminals()
        .map((t) => ({ ...t, lastIp: t.lastIp === null ? null : intToIp(t.lastIp), lastBoot: repo.latestBoot(t.mac) ?? null }));
      db.close();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(view)}\n`);
        return;
      }
      for (const t of view) {
        const b = t.lastBoot;
        process.stdout.write(
          `${t.mac}  ${t.lastIp ?? '-'}  ${t.firmware ?? '-'}  ${b ? `${b.stage} (${new Date(b.startedAt).toISOString()})` : 'never booted'}\n`,
        );
        if (b) process.stdout.write(`    ${formatTimeline(b)}\n`);
      }
    } catch (e) {
      fail(e);
    }
  });

registerLabCommands(program);
registerOverlayCommands(program);
registerIdentityCommands(program);

await program.parseAsync(process.argv);
