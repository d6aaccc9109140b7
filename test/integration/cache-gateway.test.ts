import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cacheKey } from '../../src/cache/key.ts';
import { NetnsLab } from '../../src/lab/netns.ts';
import { BIN, BootgateProcess } from '../helpers/bootgate-process.ts';
import { leaseAndOpenSession, originLog, sha, startCountingOrigin } from '../helpers/cache-lab.ts';

/**
 * The edge cache in `bootgate serve`, in namespaces, with real curl as the terminals (docs/cache.md): a seat with a
 * cashier's session downloads from a cache domain through the transparent interceptor (nftables redirect of port 80)
 * and the explicit proxy; the origin is a web server in the WAN namespace that counts every request and the bytes it
 * sent per Range. The cache directory is a tmpfs the test mounts (so "disk full" is a real ENOSPC).
 */
const P = 'bgc21';
const GW_LAN = '10.81.1.1';
const WAN_HOST = '10.81.2.2';
const SEAT_MAC = '52:54:00:81:00:10';
const API = '127.0.0.1:18521';
const MiB = 1024 * 1024;
const S = MiB;
const SIZE = 200 * MiB;
const SMALL = 32 * MiB;
const HOST = 'dl.cdn.bgc21.test';
const MIRROR = 'mirror.cdn.bgc21.test';

/** xorshift32: the same "random" ranges every run */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

describe('edge cache in bootgate serve: 100 curl terminals, one origin fetch per slice, crash and disk-full', { timeout: 240_000 }, () => {
  const lab = new NetnsLab(P);
  let bg: BootgateProcess;
  let seatNs: string;
  let wanNs: string;
  let cacheDir: string;
  let body: Buffer;
  let mounted = false;

  before(async () => {
    lab.createServer('br0', `${GW_LAN}/24`);
    seatNs = lab.addClient({ name: 'seat', bridge: 'br0', mac: SEAT_MAC });
    wanNs = lab.addClient({ name: 'wan', address: `${WAN_HOST}/24`, serverIfname: 'wan0', serverAddress: '10.81.2.1/24' });
    bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0', wan: 'wan0' },
      dhcp: { subnet: '10.81.1.0/24', range: { start: '10.81.1.100', end: '10.81.1.150' }, router: GW_LAN, dns: [GW_LAN] },
      gateway: {
        enabled: true,
        // gw.cdn…: a cache domain whose name points at the gateway itself
        hosts: { [HOST]: WAN_HOST, [MIRROR]: WAN_HOST, 'www.bgc21.test': WAN_HOST, 'gw.cdn.bgc21.test': '127.0.0.1' },
        allowDestinations: ['10.81.2.0/24'],
      },
      api: { listen: API },
      cache: { enabled: true, maxBytes: 300 * MiB, builtinDomains: false, domains: [join(process.cwd(), 'PLACEHOLDER')] },
    });
    // the config's domain file, named after its service
    const domains = join(bg.dir, 'games.txt');
    writeFileSync(domains, '# the test CDN\n*.cdn.bgc21.test\n');
    const cfg = readFileSync(bg.configFile, 'utf8').replace(join(process.cwd(), 'PLACEHOLDER'), domains);
    writeFileSync(bg.configFile, cfg);
    cacheDir = join(bg.dir, 'data', 'cache');
    mkdirSync(cacheDir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=330m', `${P}-cache`, cacheDir]);
    mounted = true;
    const file = join(bg.dir, 'origin.bin');
    execFileSync('head', ['-c', String(SIZE), '/dev/urandom'], { stdio: ['ignore', openSync(file, 'w'), 'inherit'] });
    body = readFileSync(file);
    await startCountingOrigin(lab, wanNs, WAN_HOST, file);
    await bg.start();
    leaseAndOpenSession(lab, seatNs, bg.dir, cli, { name: 'S1', mac: SEAT_MAC });
    // the seat set is updated asynchronously: wait until plain HTTP goes through
    for (let i = 0; i < 50; i++) {
      const code = curlSync([...transparent('/__stats', 'www.bgc21.test'), '-o', '/dev/null', '-w', '%{http_code}']);
      if (code === '200') break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  after(async () => {
    await bg?.stop().catch(() => undefined);
    await lab.destroy();
    if (mounted) execFileSync('umount', ['-l', cacheDir]);
  });

  const cli = (...args: string[]): string => lab.exec(lab.server, process.execPath, [BIN, ...args, '--config', bg.configFile]).trim();
  const transparent = (path: string, host = HOST): string[] => ['--resolve', `${host}:80:${WAN_HOST}`, `http://${host}${path}`];
  const explicit = (path: string, host = HOST): string[] => ['-x', `http://${GW_LAN}:3128`, `http://${host}${path}`];
  const curlSync = (args: string[]): string => {
    try {
      return lab.exec(seatNs, 'curl', ['-s', '--max-time', '20', ...args], { timeoutMs: 30_000 });
    } catch (e) {
      return `exit ${(e as { status: number }).status}`;
    }
  };
  const origin = originLog(lab, lab.ns('wan'), WAN_HOST);
  const originStats = origin.requests;
  const resetOrigin = origin.reset;
  const metric = (name: string, labels: Record<string, string> = {}): number => bg.metric(API, name, labels);

  /** curl in the seat namespace, piped into sha256sum; resolves with the digest, the status and the size. */
  const download = (args: string[]): Promise<{ sha: string; code: string; size: number }> =>
    new Promise((resolve, reject) => {
      const quoted = args.map((a) => `'${a}'`).join(' ');
      const child = lab.spawnIn(
        seatNs,
        'sh',
        ['-c', `curl -s --max-time 120 -w '%{http_code} %{size_download}\\n' -o /dev/fd/3 ${quoted} 3>&1 >&2 | sha256sum`],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      // 'close', not 'exit': the pipes may still hold output when the process has exited
      child.once('close', (code) => {
        const [code2, size] = err.trim().split(' ');
        if (code !== 0) return reject(new Error(`curl ${quoted}: exit ${code} ${err}`));
        resolve({ sha: out.split(' ')[0]!, code: code2 ?? '', size: Number(size) });
      });
    });

  // 100 terminals: 4 whole-file downloads, 96 single ranges (first-last, first-, suffix), half transparent, half explicit
  const rnd = prng(0x5eed21);
  const clients = Array.from({ length: 100 }, (_, i) => {
    const path = '/depot/game.bin';
    const via = i % 2 === 0 ? transparent(path) : explicit(path, i % 4 === 1 ? MIRROR : HOST);
    if (i < 4) return { args: via, from: 0, to: SIZE - 1, status: '200' };
    const len = 1 + Math.floor(rnd() * 4 * MiB);
    const kind = i % 10;
    if (kind === 7) return { args: ['-H', `Range: bytes=-${len}`, ...via], from: SIZE - len, to: SIZE - 1, status: '206' };
    if (kind === 8) {
      const from = SIZE - len;
      return { args: ['-r', `${from}-`, ...via], from, to: SIZE - 1, status: '206' };
    }
    const from = Math.floor(rnd() * (SIZE - len));
    return { args: ['-r', `${from}-${from + len - 1}`, ...via], from, to: from + len - 1, status: '206' };
  });
  const round = async (): Promise<void> => {
    const results = await Promise.all(clients.map((c) => download(c.args)));
    results.forEach((r, i) => {
      const c = clients[i]!;
      assert.equal(r.code, c.status, `client ${i}`);
      assert.equal(r.size, c.to - c.from + 1, `client ${i} size`);
      assert.equal(r.sha, sha(body.subarray(c.from, c.to + 1)), `client ${i} bytes ${c.from}-${c.to}`);
    });
  };
  const touched = (): Set<number> => {
    const s = new Set<number>();
    for (const c of clients) for (let i = Math.floor(c.from / S); i <= Math.floor(c.to / S); i++) s.add(i);
    return s;
  };

  it('100 concurrent terminals get byte-exact content while the origin serves each slice exactly once', async () => {
    resetOrigin();
    await round();
    const reqs = originStats();
    const seen = new Map<number, number>();
    for (const r of reqs) {
      assert.equal(r.path, '/depot/game.bin');
      const m = /^bytes=(\d+)-(\d+)$/.exec(r.range ?? '');
      assert.ok(m, `a slice Range, got ${r.range}`);
      const i = Number(m[1]) / S;
      assert.ok(Number.isInteger(i) && Number(m[2]) === (i + 1) * S - 1, r.range!);
      seen.set(i, (seen.get(i) ?? 0) + 1);
    }
    assert.deepEqual(
      [...seen.values()].filter((n) => n !== 1),
      [],
      'no slice fetched twice',
    );
    assert.deepEqual(
      [...seen.keys()].sort((a, b) => a - b),
      [...touched()].sort((a, b) => a - b),
    );
    assert.equal(
      reqs.reduce((n, r) => n + r.bytes, 0),
      SIZE,
      'the whole file crossed the uplink once',
    );
    assert.equal(metric('bootgate_cache_origin_bytes_total', { service: 'games' }), SIZE);
  });

  it('a second round is served with zero origin bytes', async () => {
    resetOrigin();
    await round();
    assert.deepEqual(originStats(), []);
  });

  it('a cache domain pointing at the gateway itself is not reached through the cache (403)', () => {
    resetOrigin();
    assert.equal(curlSync([...explicit('/x.bin', 'gw.cdn.bgc21.test'), '-o', '/dev/null', '-w', '%{http_code}']), '403');
  });

  it('a corrupted slice on disk is rejected and fetched again', () => {
    const id = cacheKey('/depot/game.bin', HOST, 'games').id;
    const f = join(cacheDir, 'slices', id.slice(0, 2), `${id}.7`);
    const fd = openSync(f, 'r+');
    writeSync(fd, Buffer.from('not the bytes'), 0, 13, 1000);
    closeSync(fd);
    resetOrigin();
    const before = metric('bootgate_cache_corrupt_slices_total');
    const r = curlSync(['-r', `${7 * S + 10}-${8 * S + 10}`, ...transparent('/depot/game.bin'), '-o', join(bg.dir, 'c7.bin'), '-w', '%{http_code}']);
    assert.equal(r, '206');
    assert.equal(sha(readFileSync(join(bg.dir, 'c7.bin'))), sha(body.subarray(7 * S + 10, 8 * S + 11)));
    assert.deepEqual(
      originStats().map((q) => q.range),
      [`bytes=${7 * S}-${8 * S - 1}`],
    );
    assert.equal(metric('bootgate_cache_corrupt_slices_total') - before, 1);
  });

  it('bootgate cache stats prints hits, misses, originBytes and servedBytes per service', () => {
    const text = cli('cache', 'stats');
    const lines = text.split('\n');
    const header = lines[0]!.split(/\s+/);
    assert.deepEqual(header.slice(0, 5), ['service', 'hits', 'misses', 'bypasses', 'originBytes']);
    const row = lines.find((l) => l.startsWith('games '));
    assert.ok(row, text);
    const cells = Object.fromEntries(header.map((h, i) => [h, row.split(/\s+/)[i]]));
    // two rounds of 100 and the corrupted slice's request; in the first round, a terminal that came after its slices
    // were stored is a hit too
    assert.equal(Number(cells['hits']) + Number(cells['misses']), 201, text);
    assert.ok(Number(cells['hits']) >= 100, text);
    assert.ok(Number(cells['misses']) >= 1, text);
    assert.equal(Number(cells['originBytes']), SIZE + S, text);
    const served = clients.reduce((n, c) => n + c.to - c.from + 1, 0) * 2 + S + 1;
    assert.equal(Number(cells['servedBytes']), served, text);
  });

  it('every cached delivery is an http audit record of the person at the seat, marked hit or miss', () => {
    const file = join(bg.dir, 'export.ndjson');
    cli('audit', 'export', '--from', '2020-01-01', '--to', '2100-01-01', '--format', 'ndjson', '--out', file);
    const records = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; seat: string; userName: string; host: string; status: number; detail: string | null });
    const cached = records.filter((r) => r.kind === 'http' && r.detail?.includes('"cache"'));
    const marks = cached.map((r) => (JSON.parse(r.detail!) as { cache: string }).cache);
    const stats = JSON.parse(cli('cache', 'stats', '--json')) as { services: Record<string, { hits: number; misses: number }> };
    assert.equal(marks.filter((m) => m === 'hit').length, stats.services['games']!.hits);
    assert.equal(marks.filter((m) => m === 'miss').length, stats.services['games']!.misses);
    assert.equal(cached.length, 201);
    for (const r of cached) {
      assert.equal(r.seat, 'S1');
      assert.equal(r.userName, 'Ana Pérez');
      assert.ok([HOST, MIRROR].includes(r.host), r.host);
      assert.ok(r.status === 200 || r.status === 206);
    }
  });

  it('a full disk passes traffic through uncached and counts it', () => {
    // fill the tmpfs: the cache can store nothing more
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${join(cacheDir, 'filler')}`, 'bs=1M'], { stdio: 'ignore' });
    } catch {
      /* ENOSPC: full */
    }
    resetOrigin();
    const failures = metric('bootgate_cache_store_failures_total', { reason: 'disk-full' });
    for (let n = 0; n < 2; n++) {
      const out = join(bg.dir, `full${n}.bin`);
      assert.equal(curlSync(['-r', `0-${3 * S - 1}`, ...transparent('/small/full.bin'), '-o', out, '-w', '%{http_code}']), '206');
      assert.equal(sha(readFileSync(out)), sha(body.subarray(0, 3 * S)));
    }
    assert.equal(originStats().length, 6, 'nothing stored: both requests went to the origin, one fetch per slice');
    assert.ok(metric('bootgate_cache_store_failures_total', { reason: 'disk-full' }) - failures >= 6);
    execFileSync('rm', ['-f', join(cacheDir, 'filler')]);
  });

  it('an interrupted download resumes (curl -C -) and completes byte-exact', async () => {
    resetOrigin();
    const out = join(bg.dir, 'resume.bin');
    const child = lab.spawnIn(seatNs, 'curl', ['-s', '--limit-rate', '4M', '-o', out, ...transparent('/small/resume.bin')]);
    while (!existsSync(out) || statSync(out).size < 6 * MiB) await new Promise((r) => setTimeout(r, 50));
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(child.pid!, 'SIGKILL');
    await exited;
    assert.ok(statSync(out).size < SMALL);
    assert.equal(curlSync(['-C', '-', '-o', out, ...transparent('/small/resume.bin'), '-w', '%{http_code}']), '206');
    assert.equal(sha(readFileSync(out)), sha(body.subarray(0, SMALL)));
    const bytes = originStats().reduce((n, r) => n + r.bytes, 0);
    assert.ok(bytes <= SMALL + S, `origin sent ${bytes}`);
  });

  it('kill -9 mid-fill, then restart: only verified slices are served, the rest fetched again', async () => {
    resetOrigin();
    const out = join(bg.dir, 'crash.bin');
    const child = lab.spawnIn(seatNs, 'curl', ['-s', '--limit-rate', '8M', '-o', out, ...transparent('/small/crash.bin')]);
    while (!existsSync(out) || statSync(out).size < 10 * MiB) await new Promise((r) => setTimeout(r, 50));
    await bg.kill9();
    await new Promise((r) => child.once('exit', r));
    await bg.start();
    const leftovers = readdirSync(cacheDir, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('tmp'));
    assert.deepEqual(leftovers, []);
    resetOrigin();
    let code = '';
    for (let i = 0; i < 50 && code !== '200'; i++) {
      code = curlSync([...transparent('/small/crash.bin'), '-o', out, '-w', '%{http_code}']);
      if (code !== '200') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(code, '200');
    assert.equal(sha(readFileSync(out)), sha(body.subarray(0, SMALL)));
    const fetched = originStats().length;
    assert.ok(fetched > 0 && fetched < 32, `${fetched} slices fetched after the restart`);
    assert.equal(metric('bootgate_cache_corrupt_slices_total'), 0);
  });

  it('bootgate cache purge drops an object by URL (any host of the service) and a whole service', () => {
    assert.equal(cli('cache', 'purge', '--url', `http://${MIRROR}/small/crash.bin`), 'purged: 1 objects');
    assert.equal(cli('cache', 'purge', '--url', `http://${MIRROR}/small/crash.bin`), 'purged: 0 objects');
    assert.match(cli('cache', 'purge', '--service', 'games'), /^purged: [1-9]\d* objects$/);
    assert.match(cli('cache', 'stats'), /store: 0 of \d+ bytes in 0 slices/);
  });
});
