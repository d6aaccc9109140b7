import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pump, sendfileBody } from '../../src/http/file-server.ts';
import { curl, startHttpBoot, type HttpBootHarness } from '../helpers/http-boot.ts';

/**
 * The two ways a large boot file leaves the HTTP server: sendfile(2) through the addon (src/native/sendfile.c),
 * and pump() (read + write through reused buffers). Both must deliver exactly the bytes asked for, over fresh and
 * reused keep-alive connections, and survive a client that leaves mid-body.
 */
const SIZE = 24 * 1024 * 1024 + 12_345;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** GETs over one keep-alive agent socket: status, body, and the local port (same port = same connection). */
function get(agent: http.Agent, url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), localPort: req.socket!.localPort! }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

describe('sendfileBody: page cache → socket through the addon', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bgsendfile-'));
  const data = randomBytes(SIZE);
  const path = join(dir, 'image.bin');
  let server: http.Server;
  let base = '';
  const paths: string[] = [];

  before(async () => {
    writeFileSync(path, data);
    // a minimal server: the whole file or ?start=&end=, sent by sendfileBody (or pump when it declines)
    server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
      const u = new URL(req.url!, 'http://x');
      const start = Number(u.searchParams.get('start') ?? 0);
      const end = Number(u.searchParams.get('end') ?? SIZE - 1);
      void open(path, 'r').then(async (fh) => {
        res.writeHead(200, { 'Content-Length': String(end - start + 1) });
        const viaSendfile = sendfileBody(fh, res, start, end);
        paths.push(viaSendfile ? 'sendfile' : 'pump');
        await (viaSendfile ?? pump(fh, res, start, end, 1 << 20, 4));
        await fh.close();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('whole file, then slices, over one keep-alive connection: exact bytes each time, all by sendfile', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    paths.length = 0;
    const whole = await get(agent, `${base}/`);
    assert.equal(whole.status, 200);
    assert.equal(sha(whole.body), sha(data));
    const slices: Array<[number, number]> = [
      [0, 0],
      [1, 4096],
      [SIZE - 100, SIZE - 1],
      [7_000_000, 15_999_999],
    ];
    for (const [s, e] of slices) {
      const r = await get(agent, `${base}/?start=${s}&end=${e}`);
      assert.equal(r.status, 200);
      assert.ok(r.body.equals(data.subarray(s, e + 1)), `bytes ${s}-${e}`);
      assert.equal(r.localPort, whole.localPort, 'the same connection carried every response');
    }
    assert.deepEqual(paths, Array(1 + slices.length).fill('sendfile'));
    agent.destroy();
  });

  it('8 concurrent downloads each get the whole file', async () => {
    const agent = new http.Agent({ keepAlive: false });
    const rs = await Promise.all(Array.from({ length: 8 }, () => get(agent, `${base}/`)));
    for (const r of rs) assert.equal(sha(r.body), sha(data));
  });

  it('a client that leaves mid-body ends the send; the server goes on serving', async () => {
    await new Promise<void>((resolve, reject) => {
      const req = http.get(`${base}/`, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' || e.message.includes('aborted') ? resolve() : reject(e)));
    });
    const agent = new http.Agent({ keepAlive: false });
    const r = await get(agent, `${base}/?start=100&end=199`);
    assert.ok(r.body.equals(data.subarray(100, 200)));
  });
});

for (const sendfile of [true, false])
  describe(`HttpBootServer with http.sendfile=${sendfile}`, () => {
    let h: HttpBootHarness;
    const data = randomBytes(SIZE);
    before(async () => {
      h = await startHttpBoot({ config: { sendfile } });
      writeFileSync(join(h.root, 'disk.img'), data);
    });
    after(async () => h?.close());

    it('curl downloads the image byte-exact, then a range of it', async () => {
      const r = await curl([`${h.base}/disk.img`]);
      assert.equal(r.status, 200);
      assert.equal(sha(r.body), sha(data));
      const part = await curl(['-H', 'Range: bytes=5000000-5000999', `${h.base}/disk.img`]);
      assert.equal(part.status, 206);
      assert.ok(part.body.equals(data.subarray(5_000_000, 5_001_000)));
      assert.equal(h.events.filter((e) => e.kind === 'file' && e.path === '/disk.img').length, 2);
    });
  });
