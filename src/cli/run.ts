import type { Command } from 'commander';
import { BootgateError } from '../errors.ts';

/** Where the CLI looks for its configuration when neither `-c` nor $BOOTGATE_CONFIG names one (as dnsmasq, Kea). */
export const DEFAULT_CONFIG_FILE = '/etc/bootgate/bootgate.yaml';

/** `-c/--config` (anywhere on the command line: the program owns the option), else $BOOTGATE_CONFIG, else /etc. */
export function configFileOf(cmd: Command): string {
  const given = (cmd.optsWithGlobals() as { config?: string }).config;
  return given ?? process.env.BOOTGATE_CONFIG ?? DEFAULT_CONFIG_FILE;
}

/**
 * The CLI's one error path: a BootgateError (bad config, the appliance's coded API reply, a CLI check) is printed
 * as `bootgate: CODE: message` with exit status 2; anything else is a bug and keeps its stack, with status 1.
 */
export async function run(fn: () => Promise<void> | void): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof BootgateError) {
      process.stderr.write(`bootgate: ${e.code}: ${e.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`bootgate: INTERNAL: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = 1;
    }
  }
}

export const out = (s: string): void => void process.stdout.write(s);

/** A table with a header row; null and undefined cells print as `-`. */
export function table(rows: ReadonlyArray<Record<string, unknown>>, cols: readonly string[]): void {
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)) + 2);
  const line = (cells: string[]) =>
    `${cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('')
      .trimEnd()}\n`;
  out(line(cols.map((c) => c.toUpperCase())));
  for (const r of rows) out(line(cols.map((c) => cell(r[c]))));
}
