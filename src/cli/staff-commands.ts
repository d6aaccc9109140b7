import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { BootgateError } from '../errors.ts';
import { api, withApi, type ApiOpts } from './api-client.ts';
import { out, run, table } from './run.ts';

/**
 * The password for `staff add` / `staff passwd`: the first line of --password-file, else of stdin (a pipe or a
 * redirect). Never an argument: argv is visible to every user in `ps` and lands in shell history.
 */
export function readPassword(o: { passwordFile?: string }, stdin: () => string = () => readFileSync(0, 'utf8')): string {
  let text: string;
  try {
    if (o.passwordFile !== undefined) text = readFileSync(o.passwordFile, 'utf8');
    else if (process.stdin.isTTY) throw new BootgateError('PASSWORD_INPUT', 'pipe the password on stdin or name a --password-file');
    else text = stdin();
  } catch (e) {
    if (e instanceof BootgateError) throw e;
    throw new BootgateError('PASSWORD_INPUT', `cannot read the password: ${(e as Error).message}`);
  }
  const password = text.split(/\r?\n/, 1)[0] ?? '';
  if (password === '') throw new BootgateError('PASSWORD_INPUT', 'the password is empty');
  return password;
}

type PasswordOpts = ApiOpts & { passwordFile?: string };

/** staff add|passwd|remove|list: the staff accounts (web UI logins and operator Basic auth), admin only. */
export function registerStaffCommands(program: Command): void {
  const staff = program.command('staff').description('staff accounts (admin, cashier, auditor) for the web UI and the API');
  withApi(staff.command('add').description('create a staff account; the password is read from stdin or --password-file'))
    .argument('<username>', 'login name')
    .requiredOption('--role <role>', 'admin, cashier or auditor')
    .option('--password-file <file>', 'read the password from the first line of this file (default: stdin)')
    .action((username: string, o: PasswordOpts & { role: string }) =>
      run(async () => {
        const made = (await api(o, 'POST', '/staff', { username, role: o.role, password: readPassword(o) })) as { username: string; role: string };
        out(`${made.username} ${made.role}\n`);
      }),
    );
  withApi(staff.command('passwd').description("set a staff account's password (ends its browser sessions)"))
    .argument('<username>', 'login name')
    .option('--password-file <file>', 'read the password from the first line of this file (default: stdin)')
    .action((username: string, o: PasswordOpts) =>
      run(async () => {
        await api(o, 'PUT', `/staff/${encodeURIComponent(username)}/password`, { password: readPassword(o) });
      }),
    );
  withApi(staff.command('remove').description('remove a staff account (ends its browser sessions)'))
    .argument('<username>', 'login name')
    .action((username: string, o: ApiOpts) =>
      run(async () => {
        await api(o, 'DELETE', `/staff/${encodeURIComponent(username)}`);
      }),
    );
  withApi(staff.command('list').description('list staff accounts'))
    .option('--json', 'print JSON')
    .action((o: ApiOpts & { json?: boolean }) =>
      run(async () => {
        const rows = (await api(o, 'GET', '/staff')) as Array<Record<string, unknown>>;
        if (o.json) out(`${JSON.stringify(rows)}\n`);
        else table(rows, ['username', 'role', 'createdAt']);
      }),
    );
}
