import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetnsLab } from '../../src/lab/netns.ts';
import { BIN, BootgateProcess, writeScript } from '../helpers/bootgate-process.ts';

/**
 * Service platforms end to end in namespaces: two real HTTP instances of the `game` class on the LAN (bgpf-plat,
 * 10.76.0.50) with an agent heartbeating to the gateway's HTTP boot port, a terminal (bgpf-term, a udhcpc lease)
 * using curl on /svc/game/…, the operator using the bootgate CLI. Health interval 300 ms, fall 3, rise 2.
 */
const GW = '10.76.0.1';
const HTTP_PORT = 18477;
const API = '127.0.0.1:18478';
const PROXY_PORT = 18479;
const TERM_MAC = '52:54:00:76:00:01';
const AGENT = fileURLToPath(new URL('../helpers/platform-agent.ts', import.meta.url));

describe('service platforms: registry, health and least-loaded redirection against real HTTP instances', () => {
  const lab = new NetnsLab('bgpf');
  let bg: BootgateProcess;
  let term: string;
  let plat: string;
  let agent: ChildProcess | undefined;
  let agentOut = '';
  const ids: Record<string, string> = {};
  const tokens: Record<string, string> = {};

  const cli = (...args: string[]): { stdout: string; stderr: string; status: number } => {
    try {
      return { stdout: lab.exec(lab.server, process.execPath, [BIN, '-c', bg.configFile, ...args], { timeoutMs: 30_000 }), stderr: '', status: 0 };
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; status?: number };
      return { stdout: err.stdout ?? '', stderr: err.stderr ?? '', status: err.status ?? -1 };
    }
  };
  const ok = (...args: string[]): string => {
    const r = cli(...args);
    assert.equal(r.status, 0, `bootgate ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  /** curl from the terminal: status, Location and (with follow) the body */
  const svc = (path: string, extra: string[] = []): { status: number; location: string; retryAfter?: string; body: string } => {
    const out = lab.exec(term, 'curl', ['-s', '-i', '--max-time', '5', ...extra, `http://${GW}:${HTTP_PORT}${path}`], { timeoutMs: 10_000 });
    const [head, ...rest] = out.split('\r\n\r\n');
    const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head!)?.[1]);
    const location = /^location: (.*)$/im.exec(head!)?.[1] ?? '';
    const retryAfter = /^retry-after: (.*)$/im.exec(head!)?.[1];
    return { status, location, body: rest.join('\r\n\r\n'), ...(retryAfter !== undefined ? { retryAfter } : {}) };
  };
  const chosen = (path = '/svc/game/x'): string => {
    const r = svc(path);
    assert.equal(r.status, 302, JSON.stringify(r));
    return /:(\d+)\//.exec(r.location)![1] === '18081' ? 'A' : 'B';
  };
  const list = () =>
    JSON.parse(ok('platforms', 'list', '--json')) as Array<{
      id: string;
      name: string;
      activeSessions: number;
      health: { status: string; drained: boolean };
      decisions: number;
    }>;
  const statusOf = (name: string) => list().find((i) => i.name === name)!.health.status;
  const waitFor = async (what: string, cond: () => boolean, tries = 100): Promise<void> => {
    for (let i = 0; i < tries; i++) {
      if (cond()) return;
      await sleep(100);
    }
    assert.fail(`timed out waiting for ${what}`);
  };
  const tell = (cmd: Record<string, unknown>): void => void agent!.stdin!.write(`${JSON.stringify(cmd)}\n`);
  const startAgent = async (): Promise<void> => {
    agent = lab.spawnIn(
      plat,
      process.execPath,
      [
        '--import',
        'tsx',
        AGENT,
        '--gateway',
        `http://${GW}:${HTTP_PORT}`,
        '--interval',
        '150',
        '--instance',
        `A=10.76.0.50:18081=${ids.A}=${tokens.A}=8`,
        '--instance',
        `B=10.76.0.50:18082=${ids.B}=${tokens.B}=1`,
        '--instance',
        `W1=10.76.0.50:18083=${ids.W1}=${tokens.W1}=0`,
        '--instance',
        `W2=10.76.0.50:18084=${ids.W2}=${tokens.W2}=4`,
      ],
      { stdio: ['pipe', 'pipe', 'pipe'], cwd: join(fileURLToPath(import.meta.url), '../../..') },
    );
    agent.stdout!.on('data', (d: Buffer) => (agentOut += d.toString()));
    agent.stderr!.on('data', (d: Buffer) => (agentOut += d.toString()));
    await waitFor('the agent', () => agentOut.includes('ready'));
  };

  before(async () => {
    lab.createServer('br0', `${GW}/24`);
    term = lab.addClient({ name: 'term', bridge: 'br0', mac: TERM_MAC });
    plat = lab.addClient({ name: 'plat', bridge: 'br0', address: '10.76.0.50/24' });
    bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0' },
      dhcp: { subnet: '10.76.0.0/24', range: { start: '10.76.0.100', end: '10.76.0.150' }, router: GW, dns: [GW], leaseSeconds: 600 },
      http: { port: HTTP_PORT },
      api: { listen: API },
      dns: { enabled: true, domain: 'cafe.lan', upstreams: ['10.76.0.99'] }, // no upstream answers: only local names here
      platforms: {
        classes: { game: { mode: 'redirect', retryAfterSeconds: 7 }, web: { mode: 'proxy' } },
        proxyPort: PROXY_PORT,
        health: { intervalMs: 300, fall: 3, rise: 2 },
        slowStartMs: 1500,
      },
    });
    await bg.start();
    for (const [name, port] of [
      ['A', 18081],
      ['B', 18082],
    ] as const) {
      const out = ok('platforms', 'add', '--class', 'game', '--name', name, '--url', `http://10.76.0.50:${port}/base/`, '--capacity', '10');
      ids[name] = /^id: (\S+)$/m.exec(out)![1]!;
      tokens[name] = /^token: (\S+)$/m.exec(out)![1]!;
    }
    for (const [name, port] of [
      ['W1', 18083],
      ['W2', 18084],
    ] as const) {
      const web = ok('platforms', 'add', '--class', 'web', '--name', name, '--url', `http://10.76.0.50:${port}/site`, '--capacity', '5');
      ids[name] = /^id: (\S+)$/m.exec(web)![1]!;
      tokens[name] = /^token: (\S+)$/m.exec(web)![1]!;
    }
    const script = writeScript(bg.dir, 'udhcpc.sh', 'echo "EVENT $1 ip=$ip"; [ "$1" = bound ] && ip addr add $ip/24 dev $interface || true');
    lab.exec(term, 'busybox', ['udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '4', '-T', '1', '-s', script], { timeoutMs: 20_000 });
    await startAgent();
    await waitFor('all healthy', () => ['A', 'B', 'W1', 'W2'].every((n) => statusOf(n) === 'healthy'));
  });

  after(async () => {
    await lab.destroy();
  });

  it('add prints id and token; list shows both instances healthy with their reported sessions', () => {
    const rows = list();
    assert.deepEqual(rows.map((r) => r.name).sort(), ['A', 'B', 'W1', 'W2']);
    assert.deepEqual(Object.fromEntries(rows.map((r) => [r.name, r.activeSessions])), { A: 8, B: 1, W1: 0, W2: 4 });
    assert.match(tokens.A!, /^bgp_/);
    assert.match(ok('platforms', 'list'), /^ID\s+CLASS\s+NAME\s+URL\s+CAPACITY\s+HEALTH/m);
  });

  it('a terminal is sent to the least-loaded instance, path and query kept; curl -L reaches it', () => {
    const r = svc('/svc/game/maps/de%20dust.pak?v=2&x=%2F');
    assert.equal(r.status, 302);
    assert.equal(r.location, 'http://10.76.0.50:18082/base/maps/de%20dust.pak?v=2&x=%2F');
    const followed = svc('/svc/game/hello?q=1', ['-L']);
    assert.match(followed.body, /^B \/base\/hello\?q=1$/m);
    // B (1 of 10 busy) takes every request until what was sent since its heartbeat makes it as loaded as A
    assert.deepEqual([chosen(), chosen(), chosen()], ['B', 'B', 'B']);
    const post = svc('/svc/game/submit', ['-X', 'POST', '-d', 'x=1']);
    assert.equal(post.status, 307, 'another method keeps its method and body');
  });

  it('proxy mode: the gateway relays the request to the instance (path and query byte for byte) and its answer back', () => {
    const viaProxy = lab.exec(term, 'curl', ['-s', '--max-time', '5', `http://${GW}:${PROXY_PORT}/svc/web/a%20b/page?q=1&r=%2F`]);
    assert.equal(viaProxy, 'W1 /site/a%20b/page?q=1&r=%2F\n');
    const post = lab.exec(term, 'curl', ['-s', '--max-time', '5', '-X', 'POST', '--data', 'x=1', `http://${GW}:${PROXY_PORT}/svc/web/form`]);
    assert.equal(post, 'W1 /site/form\n');
    // on the HTTP boot port a proxied class is sent to the proxy's port
    const r = svc('/svc/web/page?q=1');
    assert.equal(r.status, 302);
    assert.equal(r.location, `http://${GW}:${PROXY_PORT}/svc/web/page?q=1`);
    assert.match(svc('/svc/web/page?q=1', ['-L']).body, /^W1 \/site\/page\?q=1$/m);
    // a redirect-mode class asked on the proxy port is redirected from there too; a bad path is a 404
    const game = lab.exec(term, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', `http://${GW}:${PROXY_PORT}/svc/game/z`]);
    assert.match(game, /^302 http:\/\/10\.76\.0\.50:1808[12]\/base\/z$/);
    const bad = lab.exec(term, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${GW}:${PROXY_PORT}/elsewhere`]);
    assert.equal(bad, '404');
  });

  it('proxy mode follows the least-loaded instance: the load reported changes, the relayed requests follow it', async () => {
    const through = (): string => lab.exec(term, 'curl', ['-s', '--max-time', '5', `http://${GW}:${PROXY_PORT}/svc/web/who`]).split(' ')[0]!;
    const row = (n: string) => list().find((r) => r.name === n)! as { activeSessions: number; sentSinceHeartbeat?: number };
    // what earlier tests sent counts as load until the next heartbeat: start from a fresh report of both
    const reported = (w1: number, w2: number) => () =>
      [row('W1'), row('W2')].every((r, i) => r.activeSessions === [w1, w2][i] && r.sentSinceHeartbeat === 0);
    await waitFor('fresh reports (0 and 4 of 5)', reported(0, 4));
    // W1 reports 0 of 5, W2 4 of 5: W1 takes them until what was sent since its heartbeat makes it as loaded
    assert.deepEqual([through(), through()], ['W1', 'W1']);
    tell({ name: 'W1', sessions: 5 });
    tell({ name: 'W2', sessions: 0 });
    await waitFor('the new loads reported', reported(5, 0));
    assert.deepEqual([through(), through(), through()], ['W2', 'W2', 'W2']);
    tell({ name: 'W1', sessions: 0 });
    tell({ name: 'W2', sessions: 4 });
    await waitFor('the loads back', () => row('W1').activeSessions === 0 && row('W2').activeSessions === 4);
  });

  it('wrong token, unknown id and malformed body get a clear 4xx and change nothing', () => {
    const before = list().map((r) => [r.name, r.activeSessions, r.health.status]);
    const hb = (id: string, token: string, body: string) =>
      lab.exec(plat, 'curl', [
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '-X',
        'POST',
        '-H',
        `authorization: Bearer ${token}`,
        '-H',
        'content-type: application/json',
        '--data',
        body,
        `http://${GW}:${HTTP_PORT}/api/v1/platforms/${id}/heartbeat`,
      ]);
    const good = JSON.stringify({ activeSessions: 0, cpu: 0, memory: 0 });
    assert.equal(hb(ids.A!, tokens.B!, good), '401');
    assert.equal(hb('no-such-id', tokens.A!, good), '404');
    assert.equal(hb(ids.A!, tokens.A!, '{"activeSessions":-1,"cpu":0,"memory":0}'), '400');
    assert.equal(hb(ids.A!, tokens.A!, '{not json'), '400');
    assert.equal(hb(ids.A!, tokens.A!, JSON.stringify({ activeSessions: 1, cpu: 2, memory: 0 })), '400');
    assert.deepEqual(
      list().map((r) => [r.name, r.activeSessions, r.health.status]),
      before,
    );
    // the management listener takes heartbeats too
    const viaApi = lab.exec(lab.server, 'curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-X',
      'POST',
      '-H',
      `authorization: Bearer ${tokens.B}`,
      '-H',
      'content-type: application/json',
      '--data',
      JSON.stringify({ activeSessions: 1, cpu: 0.1, memory: 0.1 }),
      `http://${API}/api/v1/platforms/${ids.B}/heartbeat`,
    ]);
    assert.equal(viaApi, '204');
  });

  it('a drained instance gets nothing new; undrained it is back', async () => {
    ok('platforms', 'drain', ids.B!);
    assert.deepEqual([chosen(), chosen(), chosen(), chosen()], ['A', 'A', 'A', 'A']);
    ok('platforms', 'undrain', ids.B!);
    await sleep(400); // the next heartbeat resets what was sent since the last one
    assert.equal(chosen(), 'B');
  });

  it('an instance that stops heartbeating is unhealthy within TTL + one interval and gets nothing; back, it ramps up again', async () => {
    tell({ name: 'B', heartbeat: false });
    await waitFor('B unhealthy', () => statusOf('B') === 'unhealthy');
    for (let i = 0; i < 6; i++) assert.equal(chosen(), 'A');
    tell({ name: 'B', heartbeat: true });
    await waitFor('B healthy', () => statusOf('B') === 'healthy');
    // slow start: B's weight ramps over 1.5 s; the terminal's requests find it again
    let sawB = false;
    for (let i = 0; i < 60 && !sawB; i++) {
      sawB = chosen() === 'B';
      if (!sawB) await sleep(100);
    }
    assert.ok(sawB, 'B is chosen again after it recovered');
  });

  it('no healthy instance: 503 at once with Retry-After and a page naming the service', async () => {
    tell({ name: 'A', heartbeat: false });
    tell({ name: 'B', heartbeat: false });
    await waitFor('both unhealthy', () => statusOf('A') === 'unhealthy' && statusOf('B') === 'unhealthy');
    const r = svc('/svc/game/x');
    assert.equal(r.status, 503);
    assert.equal(r.retryAfter, '7');
    assert.match(r.body, /The game service is not available/);
    const none = svc('/svc/billing/x');
    assert.equal(none.status, 503, 'a class with no instances');
    assert.match(none.body, /billing/);
    tell({ name: 'A', heartbeat: true });
    tell({ name: 'B', heartbeat: true });
    await waitFor('both healthy again', () => statusOf('A') === 'healthy' && statusOf('B') === 'healthy');
  });

  it('a seat with a session: the redirect is an audit record naming the person, seat and instance', () => {
    const user = ok('users', 'add', '--name', 'Ann Example', '--doc-type', 'passport', '--doc-number', 'P7').trim();
    ok('seats', 'add', '--name', 'S1', '--mac', TERM_MAC);
    ok('sessions', 'open', '--user', user, '--seat', 'S1');
    const r = svc('/svc/game/level1?y=2');
    assert.equal(r.status, 302);
    const token = readFileSync(join(bg.dir, 'data/keys/admin.token'), 'utf8').trim();
    const records = JSON.parse(
      lab.exec(lab.server, 'curl', ['-s', '-H', `authorization: Bearer ${token}`, `http://${API}/api/v1/audit/records?kind=redirect`]),
    ) as Array<{ seat: string; userName: string; url: string; status: number; detail: string }>;
    assert.equal(records.length, 1, JSON.stringify(records));
    assert.equal(records[0]!.seat, 'S1');
    assert.equal(records[0]!.userName, 'Ann Example');
    assert.equal(records[0]!.url, r.location);
    assert.equal(records[0]!.status, 302);
    assert.equal(JSON.parse(records[0]!.detail).class, 'game');
    // proxy mode: each relayed request is an http record of the seat, naming the instance chosen
    assert.match(lab.exec(term, 'curl', ['-s', '--max-time', '5', `http://${GW}:${PROXY_PORT}/svc/web/rec?z=1`]), /^W[12] \/site\/rec\?z=1$/m);
    let proxied: Array<{ seat: string; userName: string; url: string; status: number; detail: string }> = [];
    for (let i = 0; i < 50 && proxied.length < 1; i++)
      proxied = (
        JSON.parse(
          lab.exec(lab.server, 'curl', ['-s', '-H', `authorization: Bearer ${token}`, `http://${API}/api/v1/audit/records?kind=http`]),
        ) as typeof proxied
      ).filter((p) => p.url.endsWith('/site/rec?z=1'));
    assert.equal(proxied.length, 1, JSON.stringify(proxied));
    assert.equal(proxied[0]!.seat, 'S1');
    assert.equal(proxied[0]!.userName, 'Ann Example');
    assert.equal(proxied[0]!.status, 200);
    const pd = JSON.parse(proxied[0]!.detail) as { class: string; name: string; instance: string; dst: string };
    assert.equal(pd.class, 'web');
    assert.ok(pd.name === 'W1' || pd.name === 'W2', pd.name);
    assert.equal(pd.instance, ids[pd.name]);
    assert.match(pd.dst, /^10\.76\.0\.50:1808[34]$/);
    // the LAN resolver names every class: <class>.svc.<domain> is the gateway; the seat's queries are on the trail
    assert.equal(lab.exec(term, 'dig', [`@${GW}`, '+short', 'game.svc.cafe.lan', 'A']).trim(), GW);
    assert.equal(lab.exec(term, 'dig', [`@${GW}`, '+short', '+tcp', 'web.svc.cafe.lan', 'A']).trim(), GW);
    assert.match(lab.exec(term, 'dig', [`@${GW}`, 'nosuch.svc.cafe.lan', 'A']), /status: NXDOMAIN/);
    let dnsRecords: Array<{ host: string; method: string; seat: string; detail: string }> = [];
    for (let i = 0; i < 50 && dnsRecords.length < 3; i++) {
      dnsRecords = JSON.parse(
        lab.exec(lab.server, 'curl', ['-s', '-H', `authorization: Bearer ${token}`, `http://${API}/api/v1/audit/records?kind=dns`]),
      ) as typeof dnsRecords;
    }
    assert.deepEqual(
      dnsRecords.map((d) => [d.host, d.method, d.seat, JSON.parse(d.detail).rcode]),
      [
        ['game.svc.cafe.lan', 'A', 'S1', 'NOERROR'],
        ['web.svc.cafe.lan', 'A', 'S1', 'NOERROR'],
        ['nosuch.svc.cafe.lan', 'A', 'S1', 'NXDOMAIN'],
      ],
    );
    ok('sessions', 'close', '--seat', 'S1');
  });

  it('the registry survives kill -9: same instances, same ids, the old tokens still heartbeat', async () => {
    const before = list().map((r) => [r.id, r.name]);
    tell({ name: 'W1', heartbeat: false }); // only A and B need to come back
    tell({ name: 'W2', heartbeat: false });
    await bg.kill9();
    await bg.start();
    assert.deepEqual(
      list().map((r) => [r.id, r.name]),
      before,
    );
    await waitFor('heartbeats accepted after the restart', () => statusOf('A') === 'healthy' && statusOf('B') === 'healthy');
    ok('platforms', 'remove', ids.A!);
    assert.deepEqual(
      list()
        .map((r) => r.name)
        .sort(),
      ['B', 'W1', 'W2'],
    );
    assert.match(cli('platforms', 'remove', ids.A!).stderr, /^bootgate: PLATFORM_UNKNOWN: /m);
  });
});
