import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { verifyExportFile } from '../audit/verify.ts';

import { BootgateError } from '../errors.ts';
import { api, apiRequest, withApi, type ApiOpts } from './api-client.ts';
import { out, run, table } from './run.ts';
import { receiveExport } from './audit-export-file.ts';

/** "1073741824", "512MiB", "2GiB", "1.5GiB" → bytes */
function sizeBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(MiB|GiB)?$/i.exec(text.trim());
  if (!m) throw new BootgateError('VALIDATION', `--overlay-limit ${text}: bytes, or a number with MiB or GiB`);
  const unit = m[2]?.toLowerCase() === 'gib' ? 2 ** 30 : m[2]?.toLowerCase() === 'mib' ? 2 ** 20 : 1;
  return Math.round(Number(m[1]) * unit);
}

function isoDate(label: string, v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (Number.isNaN(Date.parse(v)))
    throw new BootgateError('VALIDATION', `${label} ${JSON.stringify(v)} is not a date (ISO-8601, e.g. 2026-01-31 or 2026-01-31T12:00:00Z)`);
  return new Date(Date.parse(v)).toISOString();
}

/** users / seats / sessions / audit: cashier and auditor operations on the running appliance. */
export function registerIdentityCommands(program: Command): void {
  const users = program.command('users').description('customers: identity and member accounts');
  withApi(users.command('add').description('register a customer; prints the new user id'))
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--doc-type <type>', 'identity document type (passport, id-card, …)')
    .requiredOption('--doc-number <number>', 'identity document number')
    .option('--doc-country <country>', 'issuing country')
    .option('--balance <minor>', 'open a member account with this balance (integer minor units)')
    .action((o: ApiOpts & { name: string; docType: string; docNumber: string; docCountry?: string; balance?: string }) =>
      run(async () => {
        if (o.balance !== undefined && !/^\d+$/.test(o.balance))
          throw new BootgateError('VALIDATION', '--balance must be a non-negative integer of minor units');
        const u = (await api(o, 'POST', '/users', {
          name: o.name,
          docType: o.docType,
          docNumber: o.docNumber,
          ...(o.docCountry ? { docCountry: o.docCountry } : {}),
          ...(o.balance !== undefined ? { member: true, balanceMinor: Number(o.balance) } : {}),
        })) as { id: string };
        out(`${u.id}\n`);
      }),
    );
  withApi(users.command('list').description('list customers'))
    .option('--json', 'print JSON')
    .action((o: ApiOpts & { json?: boolean }) =>
      run(async () => {
        const rows = (await api(o, 'GET', '/users')) as Array<Record<string, unknown>>;
        if (o.json) out(`${JSON.stringify(rows)}\n`);
        else table(rows, ['id', 'name', 'docType', 'docNumber', 'docCountry', 'balanceMinor']);
      }),
    );

  const seats = program.command('seats').description('seats: a name bound to a terminal MAC');
  withApi(seats.command('add').description('bind a seat name to a terminal MAC'))
    .requiredOption('--name <name>', 'seat name')
    .requiredOption('--mac <mac>', 'terminal MAC address')
    .option('--group <group>', 'seat group (billing rate)')
    .action((o: ApiOpts & { name: string; mac: string; group?: string }) =>
      run(async () => {
        const s = (await api(o, 'POST', '/seats', { name: o.name, mac: o.mac, ...(o.group ? { group: o.group } : {}) })) as {
          name: string;
          mac: string;
        };
        out(`${s.name} ${s.mac}\n`);
      }),
    );
  withApi(seats.command('list').description('list seats'))
    .option('--json', 'print JSON')
    .action((o: ApiOpts & { json?: boolean }) =>
      run(async () => {
        const rows = (await api(o, 'GET', '/seats')) as Array<Record<string, unknown>>;
        if (o.json) out(`${JSON.stringify(rows)}\n`);
        else table(rows, ['name', 'mac', 'group']);
      }),
    );

  const sessions = program.command('sessions').description('cashier sessions: a customer at a seat');
  withApi(sessions.command('open').description('open a session (the seat gets internet access)'))
    .requiredOption('--user <id>', 'user id')
    .requiredOption('--seat <name>', 'seat name')
    .action((o: ApiOpts & { user: string; seat: string }) =>
      run(async () => {
        const s = (await api(o, 'POST', '/sessions', { userId: o.user, seat: o.seat })) as { id: string };
        out(`${s.id}\n`);
      }),
    );
  withApi(sessions.command('close').description("close the seat's session and print the charge"))
    .requiredOption('--seat <name>', 'seat name')
    .option('--payment <how>', 'member | desk (default: member balance if it covers the charge)')
    .action((o: ApiOpts & { seat: string; payment?: string }) =>
      run(async () => {
        const s = (await api(o, 'POST', '/sessions/close', { seat: o.seat, ...(o.payment ? { payment: o.payment } : {}) })) as Record<
          string,
          unknown
        >;
        out(`${String(s.id)} minutes=${String(s.minutes)} charge=${String(s.chargeMinor)} payment=${String(s.payment)}\n`);
      }),
    );
  for (const [verb, what] of [
    ['pause', "pause the seat's session: its time is not charged and the seat has no internet until resume"],
    ['resume', "resume the seat's paused session"],
  ] as const) {
    withApi(sessions.command(verb).description(what))
      .requiredOption('--seat <name>', 'seat name')
      .action((o: ApiOpts & { seat: string }) =>
        run(async () => {
          const s = (await api(o, 'POST', `/sessions/${verb}`, { seat: o.seat })) as Record<string, unknown>;
          out(`${String(s.id)} ${verb === 'pause' ? 'paused' : 'resumed'} pausedMs=${String(s.pausedMs)}\n`);
        }),
      );
  }
  withApi(sessions.command('list').description('list open sessions'))
    .option('--all', 'recent sessions, closed ones too')
    .option('--json', 'print JSON')
    .action((o: ApiOpts & { all?: boolean; json?: boolean }) =>
      run(async () => {
        const rows = (await api(o, 'GET', `/sessions${o.all ? '?all=true' : ''}`)) as Array<Record<string, unknown>>;
        if (o.json) out(`${JSON.stringify(rows)}\n`);
        else table(rows, ['seat', 'userId', 'userName', 'openedAt', 'pausedAt', 'closedAt', 'chargeMinor', 'id']);
      }),
    );

  const classes = program.command('seat-classes').description("seat classes: a seat group's rate, boot profile and overlay limit (docs/ui.md)");
  withApi(classes.command('list').description('list classes with their seats, image and recommended overlay size'))
    .option('--json', 'print JSON')
    .action((o: ApiOpts & { json?: boolean }) =>
      run(async () => {
        const v = (await api(o, 'GET', '/seat-classes')) as {
          classes: Array<Record<string, unknown> & { recommendation: { recommendedBytes: number | null } | null }>;
        };
        if (o.json) out(`${JSON.stringify(v)}\n`);
        else
          table(
            v.classes.map((c) => ({ ...c, recommendedBytes: c.recommendation?.recommendedBytes ?? null })),
            ['name', 'seats', 'rateMinorPerHour', 'profile', 'image', 'overlayLimitBytes', 'recommendedBytes'],
          );
      }),
    );
  withApi(classes.command('set <name>').description('create or change a class; options not given keep their value'))
    .option('--rate <minor>', 'rate per hour in minor units (cents)')
    .option('--profile <name>', 'the boot profile of its seats; - for boot.defaultProfile')
    .option('--overlay-limit <size>', 'overlay limit: bytes, or with MiB/GiB (e.g. 2GiB); - for iscsi.overlays.limitBytes')
    .action((name: string, o: ApiOpts & { rate?: string; profile?: string; overlayLimit?: string }) =>
      run(async () => {
        const v = (await api(o, 'GET', '/seat-classes')) as {
          classes: Array<{ name: string; rateMinorPerHour: number; profile: string | null; overlayLimitBytes: number | null }>;
        };
        const cur = v.classes.find((c) => c.name === name);
        const rate = o.rate === undefined ? cur?.rateMinorPerHour : Number(o.rate);
        if (rate === undefined) throw new BootgateError('VALIDATION', `--rate is required for a new class ${name}`);
        const profile = o.profile === undefined ? (cur?.profile ?? null) : o.profile === '-' ? null : o.profile;
        const limit = o.overlayLimit === undefined ? (cur?.overlayLimitBytes ?? null) : o.overlayLimit === '-' ? null : sizeBytes(o.overlayLimit);
        const after = (await api(o, 'PUT', `/seat-classes/${encodeURIComponent(name)}`, {
          rateMinorPerHour: rate,
          profile,
          overlayLimitBytes: limit,
        })) as typeof v;
        const c = after.classes.find((x) => x.name === name)!;
        out(`${c.name} rate=${c.rateMinorPerHour} profile=${c.profile ?? '-'} overlayLimitBytes=${c.overlayLimitBytes ?? '-'}\n`);
      }),
    );

  const audit = program.command('audit').description('the audit trail: signed exports and their offline verification');
  withApi(audit.command('export').description('export records to FILE and a signed FILE.manifest.json'))
    .option('--from <date>', 'first instant (inclusive, ISO-8601)')
    .option('--to <date>', 'last instant (exclusive, ISO-8601)')
    .option('--user <id>', 'only this user')
    .option('--seat <name>', 'only this seat')
    .option('--format <format>', 'csv | ndjson', 'ndjson')
    .requiredOption('--out <file>', 'output file')
    .action((o: ApiOpts & { from?: string; to?: string; user?: string; seat?: string; format: string; out: string }) =>
      run(async () => {
        if (o.format !== 'csv' && o.format !== 'ndjson') throw new BootgateError('VALIDATION', '--format must be csv or ndjson');
        const from = isoDate('--from', o.from);
        const to = isoDate('--to', o.to);
        // Streamed to disk as it arrives (records, then the manifest); see receiveExport().
        const res = await apiRequest(o, 'POST', '/audit/export', {
          format: o.format,
          fileName: basename(o.out),
          ...(from ? { from } : {}),
          ...(to ? { to } : {}),
          ...(o.user ? { user: o.user } : {}),
          ...(o.seat ? { seat: o.seat } : {}),
        });
        const m = await receiveExport(res, o.out);
        out(`${o.out}: ${m.count} records (seq ${m.firstSeq ?? '-'}..${m.lastSeq ?? '-'}), signed by ${m.keyFingerprint}\n`);
      }),
    );
  audit
    .command('verify')
    .description('check an export offline: manifest signature, every record hash, order and chain links')
    .argument('<file>', 'export file (FILE.manifest.json beside it)')
    .option('--public-key <pem>', "the appliance's public key (<dataDir>/keys/audit-ed25519.pub.pem); without it the key in the manifest is used")
    .action((file: string, o: { publicKey?: string }) =>
      run(() => {
        let pem: string | undefined;
        if (o.publicKey) {
          try {
            pem = readFileSync(o.publicKey, 'utf8');
          } catch (e) {
            throw new BootgateError('KEY_UNREADABLE', `${o.publicKey}: ${(e as Error).message}`);
          }
        }
        const r = verifyExportFile(file, pem);
        if (!r.ok) throw new BootgateError(r.code, r.reason);
        out(`${file}: OK — ${r.count} records (seq ${r.firstSeq ?? '-'}..${r.lastSeq ?? '-'}), chain intact, signed by ${r.keyFingerprint}\n`);
        if (r.embeddedKey) out('note: checked against the key embedded in the manifest; pass --public-key to prove it came from this appliance\n');
      }),
    );
}
