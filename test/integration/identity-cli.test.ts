import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { NetnsLab } from '../../src/lab/netns.ts';
import { AuditRepository } from '../../src/store/audit-repository.ts';
import { verifyStoredChain } from '../../src/audit/verify-store.ts';
import { createPublicKey } from 'node:crypto';
import { BIN, BootgateProcess, writeScript } from '../helpers/bootgate-process.ts';

/**
 * `bootgate serve` in a namespace (bgid-srv, LAN br0 10.75.0.1/24) driven end to end by the bootgate CLI, as an
 * operator's script would: users, seats, sessions, signed audit exports verified offline, and kill -9 during a
 * storm of API changes.
 */
const API = '127.0.0.1:18475';
const MAC1 = '52:54:00:75:00:01';

describe('identity and audit through the CLI against a running bootgate', () => {
  const lab = new NetnsLab('bgid');
  let bg: BootgateProcess;
  let seatNs: string;

  before(async () => {
    lab.createServer('br0', '10.75.0.1/24');
    seatNs = lab.addClient({ name: 'seat1', bridge: 'br0', mac: MAC1 });
    bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0' },
      log: { level: 'info' },
      dhcp: {
        subnet: '10.75.0.0/24',
        range: { start: '10.75.0.10', end: '10.75.0.200' },
        router: '10.75.0.1',
        dns: ['10.75.0.1'],
        leaseSeconds: 600,
      },
      http: { port: 18476 },
      api: { listen: API },
    });
    await bg.start();
  });

  after(async () => {
    await lab.destroy();
  });

  /** Runs the bootgate CLI inside the gateway namespace; returns stdout, stderr and the exit status. */
  function cli(...args: string[]): { stdout: string; stderr: string; status: number } {
    try {
      const stdout = lab.exec(lab.server, process.execPath, [BIN, ...args], { timeoutMs: 30_000 });
      return { stdout, stderr: '', status: 0 };
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; status?: number };
      return { stdout: err.stdout ?? '', stderr: err.stderr ?? '', status: err.status ?? -1 };
    }
  }
  const ok = (...args: string[]): string => {
    const r = cli(...args);
    assert.equal(r.status, 0, `bootgate ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const c = () => ['-c', bg.configFile];
  const dataDir = () => join(bg.dir, 'data');
  const pubKey = () => join(dataDir(), 'keys/audit-ed25519.pub.pem');

  it('creates the signing key and the admin token (0600) on first start', () => {
    const mode = (f: string) => Number(execFileSync('stat', ['-c', '%a', f], { encoding: 'utf8' }).trim());
    assert.equal(mode(join(dataDir(), 'keys/admin.token')), 600);
    assert.equal(mode(join(dataDir(), 'keys/audit-ed25519.key.pem')), 600);
    assert.match(readFileSync(pubKey(), 'utf8'), /BEGIN PUBLIC KEY/);
  });

  it('users add → seats add → sessions open/list/close; the seat rule holds; every change is on the trail', () => {
    const userId = ok(
      'users',
      'add',
      ...c(),
      '--name',
      'Ann Example',
      '--doc-type',
      'passport',
      '--doc-number',
      'P1234567',
      '--doc-country',
      'FR',
    ).trim();
    assert.match(userId, /^[0-9a-f-]{36}$/);
    const other = ok('users', 'add', ...c(), '--name', 'Bob', '--doc-type', 'id-card', '--doc-number', 'ID42').trim();
    assert.match(ok('seats', 'add', ...c(), '--name', 'A1', '--mac', MAC1.toUpperCase()), /^A1 52:54:00:75:00:01$/m);
    const sessionId = ok('sessions', 'open', ...c(), '--user', userId, '--seat', 'A1').trim();
    const busy = cli('sessions', 'open', ...c(), '--user', other, '--seat', 'A1');
    assert.equal(busy.status, 2);
    assert.match(busy.stderr, /SEAT_BUSY/);
    const list = JSON.parse(ok('sessions', 'list', ...c(), '--json')) as Array<{ id: string; seat: string; userName: string }>;
    assert.deepEqual(
      list.map((s) => [s.id, s.seat, s.userName]),
      [[sessionId, 'A1', 'Ann Example']],
    );
    assert.match(ok('sessions', 'list', ...c()), /A1\s+\S+\s+Ann Example/);
    assert.match(ok('sessions', 'close', ...c(), '--seat', 'A1'), new RegExp(`^${sessionId} minutes=1 charge=0 payment=desk$`, 'm'));
    assert.deepEqual(JSON.parse(ok('sessions', 'list', ...c(), '--json')), []);
    const none = cli('sessions', 'close', ...c(), '--seat', 'A1');
    assert.match(none.stderr, /NO_OPEN_SESSION/);
    const badToken = join(bg.dir, 'bad.token');
    writeFileSync(badToken, 'bg_nope\n');
    assert.match(cli('users', 'list', ...c(), '--token', badToken).stderr, /UNAUTHENTICATED/);
  });

  it('seat-classes set/list: a new class, a change that keeps what is not given, the profile checked against the configuration', () => {
    assert.match(
      ok('seat-classes', 'set', 'vip', ...c(), '--rate', '500', '--overlay-limit', '2GiB'),
      /^vip rate=500 profile=- overlayLimitBytes=2147483648$/m,
    );
    assert.match(
      ok('seat-classes', 'set', 'vip', ...c(), '--rate', '650'),
      /^vip rate=650 profile=- overlayLimitBytes=2147483648$/m,
      'the limit is kept',
    );
    const bad = cli('seat-classes', 'set', 'vip', ...c(), '--profile', 'no-such-profile');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /VALIDATION: profile "no-such-profile" is not under profiles/);
    assert.match(cli('seat-classes', 'set', 'new', ...c(), '--overlay-limit', '1GiB').stderr, /--rate is required for a new class new/);
    assert.match(ok('seat-classes', 'set', 'vip', ...c(), '--overlay-limit', '-'), /^vip rate=650 profile=- overlayLimitBytes=-$/m);
    const list = JSON.parse(ok('seat-classes', 'list', ...c(), '--json')) as { classes: Array<{ name: string; rateMinorPerHour: number }> };
    assert.deepEqual(
      list.classes.map((x) => [x.name, x.rateMinorPerHour]),
      [
        ['default', 0],
        ['vip', 650],
      ],
    );
    assert.match(ok('seat-classes', 'list', ...c()), /^vip\s+0\s+650\s/m);
  });

  it('whois: the DHCP lease of a real terminal (udhcpc) maps its address to the seat and the open session', () => {
    const script = writeScript(bg.dir, 'udhcpc.sh', 'echo "EVENT $1 ip=$ip"');
    const out = lab.exec(seatNs, 'busybox', ['udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '4', '-T', '1', '-s', script], { timeoutMs: 20_000 });
    const ip = /EVENT bound ip=(\S+)/.exec(out)?.[1];
    assert.ok(ip, out);
    const token = readFileSync(join(dataDir(), 'keys/admin.token'), 'utf8').trim();
    const whois = (addr: string) =>
      JSON.parse(lab.exec(lab.server, 'curl', ['-s', '-H', `authorization: Bearer ${token}`, `http://${API}/api/v1/whois?ip=${addr}`])) as {
        seat?: string;
        mac?: string;
        user: { name: string; docNumber: string } | null;
        session: { id: string } | null;
        error?: string;
      };
    const free = whois(ip);
    assert.deepEqual([free.seat, free.mac, free.user, free.session], ['A1', MAC1, null, null]);
    const users = JSON.parse(ok('users', 'list', ...c(), '--json')) as Array<{ id: string; name: string }>;
    const ann = users.find((u) => u.name === 'Ann Example')!;
    const sessionId = ok('sessions', 'open', ...c(), '--user', ann.id, '--seat', 'A1').trim();
    const busy = whois(ip);
    assert.deepEqual([busy.seat, busy.user?.name, busy.user?.docNumber, busy.session?.id], ['A1', 'Ann Example', 'P1234567', sessionId]);
    ok('sessions', 'close', ...c(), '--seat', 'A1');
    assert.equal(whois(ip).session, null);
    assert.equal(whois('10.75.0.250').error, 'SEAT_NOT_FOUND');
  });

  it('the CLI finds its configuration: -c before or after the subcommand, else $BOOTGATE_CONFIG, else /etc; leases come from the API', () => {
    const after = JSON.parse(ok('leases', ...c(), '--json')) as Array<{ ip: string; mac: string; state: string }>;
    assert.ok(
      after.some((l) => l.mac === MAC1 && l.state === 'bound'),
      JSON.stringify(after),
    );
    assert.deepEqual(JSON.parse(ok(...c(), 'leases', '--json')), after);
    const fromEnv = lab.exec(lab.server, 'env', [`BOOTGATE_CONFIG=${bg.configFile}`, process.execPath, BIN, 'leases', '--json'], {
      timeoutMs: 30_000,
    });
    assert.deepEqual(JSON.parse(fromEnv), after);
    assert.match(ok(...c(), 'leases'), new RegExp(`^IP\\s+MAC\\s+STATE\\s+HOSTNAME\\s+EXPIRESAT\\n(.*\\n)*\\S+\\s+${MAC1}\\s+bound`, 'm'));
    const noConfig = cli('leases'); // the test process has no $BOOTGATE_CONFIG, and the machine no /etc/bootgate
    assert.equal(noConfig.status, 2);
    assert.match(noConfig.stderr, /^bootgate: CONFIG_UNREADABLE: .*\/etc\/bootgate\/bootgate\.yaml/m);
    // the API's coded refusal is the CLI's error, on the same path as a config error
    assert.match(cli(...c(), 'users', 'list', '--token', join(bg.dir, 'missing.token')).stderr, /^bootgate: TOKEN_UNREADABLE: /m);
  });
  it('audit export (ndjson and csv) verifies offline with the public key; edited, dropped and swapped lines fail with their reason', () => {
    for (const format of ['ndjson', 'csv']) {
      const file = join(bg.dir, `export.${format}`);
      assert.match(
        ok('audit', 'export', ...c(), '--from', '2020-01-01', '--to', '2100-01-01', '--format', format, '--out', file),
        /records \(seq 1\.\./,
      );
      assert.match(ok('audit', 'verify', file, '--public-key', pubKey()), /OK — \d+ records/);
      const text = readFileSync(file, 'utf8');
      const nl = format === 'csv' ? '\r\n' : '\n';
      const lines = text.split(nl);
      const head = format === 'csv' ? 1 : 0;
      const tamper = (name: string, content: string, code: RegExp) => {
        const f = join(bg.dir, `t-${name}.${format}`);
        writeFileSync(f, content);
        writeFileSync(`${f}.manifest.json`, readFileSync(`${file}.manifest.json`));
        const r = cli('audit', 'verify', f, '--public-key', pubKey());
        assert.equal(r.status, 2, `${format} ${name} must fail`);
        assert.match(r.stderr, code, `${format} ${name}`);
      };
      const i = text.indexOf('P1234567');
      tamper('byte', `${text.slice(0, i)}Q${text.slice(i + 1)}`, /RECORD_ALTERED: line \d+ \(seq \d+\)/);
      tamper('drop', lines.filter((_, j) => j !== head + 1).join(nl), /RECORD_MISSING: line \d+: seq 2 missing/);
      const sw = [...lines];
      [sw[head + 1], sw[head + 2]] = [sw[head + 2]!, sw[head + 1]!];
      tamper('swap', sw.join(nl), /RECORD_REORDERED/);
      const wrongKey = join(bg.dir, 'other.pem');
      writeFileSync(wrongKey, execFileSync('openssl', ['pkey', '-pubout'], { input: execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519']) }));
      const r = cli('audit', 'verify', file, '--public-key', wrongKey);
      assert.match(r.stderr, /KEY_MISMATCH/);
    }
    // Filtered by seat: only that seat's records, still verifying.
    const userFile = join(bg.dir, 'seat.ndjson');
    ok('audit', 'export', ...c(), '--seat', 'A1', '--format', 'ndjson', '--out', userFile);
    const recs = readFileSync(userFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seat: string; action: string });
    assert.deepEqual(
      recs.map((r) => r.action),
      ['seat.add', 'session.open', 'session.close', 'session.open', 'session.close'],
    );
    assert.match(ok('audit', 'verify', userFile, '--public-key', pubKey()), /OK — 5 records/);
  });

  it('kill -9 during a storm of API changes: after restart the chain verifies and every acknowledged change is recorded', async (t) => {
    const token = readFileSync(join(dataDir(), 'keys/admin.token'), 'utf8').trim();
    // A client inside the namespace: 32 concurrent request loops, one line per acknowledged (201) user.
    const storm = `
      const token = ${JSON.stringify(token)};
      let n = 0;
      async function loop(w) {
        for (;;) {
          const i = n++;
          let res;
          try {
            res = await fetch('http://${API}/api/v1/users', { method: 'POST', headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' },
              body: JSON.stringify({ name: 'storm ' + i, docType: 'passport', docNumber: 'S' + i }) });
          } catch { return; }
          if (res.status !== 201) { process.stdout.write('STATUS ' + res.status + '\\n'); return; }
          const u = await res.json();
          process.stdout.write('ACK ' + u.id + '\\n');
        }
      }
      await Promise.all(Array.from({ length: 32 }, (_, w) => loop(w)));
    `;
    const client = lab.spawnIn(lab.server, process.execPath, ['--input-type=module', '-e', storm]);
    let acked = '';
    const enough = new Promise<void>((resolve) => {
      client.stdout!.on('data', (d: Buffer) => {
        acked += d.toString();
        if ((acked.match(/^ACK /gm) ?? []).length >= 400) resolve();
      });
    });
    const clientDone = new Promise((r) => client.once('exit', r));
    await enough;
    await bg.kill9();
    await clientDone;
    const ackIds = [...acked.matchAll(/^ACK (\S+)$/gm)].map((m) => m[1]!);
    assert.ok(ackIds.length >= 400);
    assert.doesNotMatch(acked, /STATUS/);

    bg.output = '';
    await bg.start();
    const db = new Database(join(dataDir(), 'bootgate.db'), { readonly: true });
    const users = new Set(db.prepare('SELECT id FROM users').pluck().all() as string[]);
    const recorded = new Set(db.prepare("SELECT target FROM audit WHERE action = 'user.add'").pluck().all() as string[]);
    const chain = verifyStoredChain(new AuditRepository(db), createPublicKey(readFileSync(pubKey())));
    db.close();
    const lost = ackIds.filter((id) => !users.has(id) || !recorded.has(id));
    assert.deepEqual(lost, [], 'every acknowledged change survives kill -9 with its audit record');
    assert.equal(users.size, recorded.size, 'no change without its record, no record without its change');
    assert.equal(chain.ok, true, JSON.stringify(chain));
    t.diagnostic(`acknowledged before kill -9: ${ackIds.length}; users after restart: ${users.size}; chain records: ${chain.ok ? chain.count : '-'}`);
    // And the full export from the restarted appliance verifies offline.
    const file = join(bg.dir, 'after-kill.ndjson');
    ok('audit', 'export', ...c(), '--format', 'ndjson', '--out', file);
    assert.match(ok('audit', 'verify', file, '--public-key', pubKey()), /OK — \d+ records/);
    assert.equal(await bg.stop(), 0);
  });
});
