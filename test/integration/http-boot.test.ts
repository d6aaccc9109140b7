import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
  ftruncateSync,
  statSync,
} from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { curl, startHttpBoot, type HttpBootHarness } from '../helpers/http-boot.ts';

/**
 * The HTTP boot server against real curl on 127.0.0.1 (HTTP needs no namespaces): PROTOCOLS.md §7 checks
 * 25-27, conditional requests, a byte-exact 200 MB download, path confinement, boot events and metrics.
 */
const KNOWN = '52:54:00:72:00:01';
const UNKNOWN = '52:54:00:72:00:99';
const BIG_BYTES = 200 * 1000 * 1000;

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

async function metric(h: HttpBootHarness, name: string, labels: string): Promise<number> {
  const text = await h.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((kv) => l.includes(kv)));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('HTTP boot server with curl (PROTOCOLS.md §7 checks 25-27)', () => {
  let h: HttpBootHarness;
  let outside: string;
  let dl: string;
  const small = randomBytes(4096);
  const efi = randomBytes(70_000);
  let bigSha = '';

  before(async () => {
    outside = mkdtempSync(join(tmpdir(), 'bghttp-outside-'));
    dl = mkdtempSync(join(tmpdir(), 'bghttp-dl-'));
    writeFileSync(join(outside, 'secret'), 'not for terminals');
    h = await startHttpBoot({
      reservations: [{ mac: KNOWN, profile: 'disk' }],
      defaultProfile: 'thin',
      profiles: {
        thin: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'console=ttyS0 bootgate=${bootgate}' },
        disk: { sanboot: 'win10' },
      },
      config: { revalidateMs: 0 },
    });
    writeFileSync(join(h.root, '4k.bin'), small);
    writeFileSync(join(h.root, 'ipxe.efi'), efi);
    writeFileSync(join(h.root, 'live.iso'), randomBytes(1000));
    writeFileSync(join(h.root, 'disk.img'), randomBytes(1000));
    writeFileSync(join(h.root, 'menu.ipxe'), '#!ipxe\nexit\n');
    writeFileSync(join(h.root, 'vmlinuz'), randomBytes(1000));
    mkdirSync(join(h.root, 'EFI/BOOT'), { recursive: true });
    writeFileSync(join(h.root, 'EFI/BOOT/BOOTX64.EFI'), randomBytes(100));
    symlinkSync(join(outside, 'secret'), join(h.root, 'escape'));
    symlinkSync(outside, join(h.root, 'outdir'));
    // 200 MB sparse file with random data scattered through it (holes read as zeros)
    const big = join(h.root, 'big.img');
    const fd = openSync(big, 'w');
    ftruncateSync(fd, BIG_BYTES);
    for (const off of [0, 1_048_575, 50_000_000, 123_456_789, BIG_BYTES - 65_536]) writeSync(fd, randomBytes(65_536), 0, 65_536, off);
    closeSync(fd);
    bigSha = await sha256File(big);
  });
  after(async () => {
    await h?.close();
    rmSync(outside, { recursive: true, force: true });
    rmSync(dl, { recursive: true, force: true });
  });

  describe('check 25: per-terminal iPXE scripts', () => {
    it('known MAC → 200, body begins "#!ipxe\\n", its own profile (sanboot of its per-terminal target)', async () => {
      const r = await curl([`${h.base}/boot.ipxe?mac=${KNOWN}`]);
      assert.equal(r.status, 200);
      assert.ok(r.body.subarray(0, 7).equals(Buffer.from('#!ipxe\n')));
      const host = new URL(h.base).hostname;
      assert.ok(r.body.toString().includes(`sanboot iscsi:${host}::::iqn.2026-11.io.bootgate:disk.win10.52-54-00-72-00-01\n`), r.body.toString());
      assert.match(r.headers.get('content-type')!, /^text\/plain/);
    });
    it('the same MAC with hyphens or upper case → the same script', async () => {
      const a = await curl([`${h.base}/boot.ipxe?mac=52-54-00-72-00-01`]);
      const b = await curl([
        `${h.base}/boot.ipxe?mac=52:54:00:72:00:01`.toUpperCase().replace('HTTP://', 'http://').replace('/BOOT.IPXE?MAC=', '/boot.ipxe?mac='),
      ]);
      const c = await curl([`${h.base}/boot.ipxe?mac=${KNOWN}`]);
      assert.deepEqual(a.body, c.body);
      assert.deepEqual(b.body, c.body);
    });
    it('unknown MAC → the default profile (kernel/initrd/imgargs/boot, ${bootgate} expanded to this server)', async () => {
      const r = await curl([`${h.base}/boot.ipxe?mac=${UNKNOWN}`]);
      assert.equal(r.status, 200);
      const s = r.body.toString();
      assert.ok(s.startsWith('#!ipxe\n'));
      assert.ok(s.includes(`kernel ${h.base}/vmlinuz\n`), s);
      assert.ok(s.includes(`initrd ${h.base}/initrd.gz\n`), s);
      assert.ok(s.includes(`imgargs vmlinuz initrd=initrd.gz console=ttyS0 bootgate=${h.base}\n`), s);
      assert.ok(s.endsWith('boot\n'));
    });
    it('uuid= alone → the default profile; a malformed mac or uuid → 400', async () => {
      const r = await curl([`${h.base}/boot.ipxe?uuid=8a2b7f3e-1111-4000-8000-000000000001`]);
      assert.equal(r.status, 200);
      assert.ok(r.body.toString().startsWith('#!ipxe\n'));
      assert.equal((await curl([`${h.base}/boot.ipxe?mac=52:54:00:72:00`])).status, 400);
      assert.equal((await curl([`${h.base}/boot.ipxe?mac=52:54:00:72:00:01%0achain%20http://evil/`])).status, 400);
      assert.equal((await curl([`${h.base}/boot.ipxe?uuid=nope`])).status, 400);
    });
    it('no identity → a script that chains back with the MAC iPXE expands', async () => {
      const r = await curl([`${h.base}/boot.ipxe`]);
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), `#!ipxe\nchain --autofree ${h.base}/boot.ipxe?mac=\${net0/mac:hexhyp}\n`);
    });
    it('a script served → a "script" boot event with the MAC and client IP', async () => {
      h.events.length = 0;
      await curl([`${h.base}/boot.ipxe?mac=${UNKNOWN}`]);
      assert.equal(h.events.length, 1);
      assert.equal(h.events[0]!.kind, 'script');
      assert.equal(h.events[0]!.mac, UNKNOWN);
      assert.equal(h.events[0]!.clientIp, '127.0.0.1');
    });
  });

  describe('check 26: HEAD and ranges', () => {
    it('HEAD → Content-Length of the file, Accept-Ranges: bytes, ETag, Last-Modified, no body', async () => {
      const r = await curl(['-I', `${h.base}/ipxe.efi`]);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-length'), String(efi.length));
      assert.equal(r.headers.get('accept-ranges'), 'bytes');
      assert.ok(r.headers.get('etag'));
      assert.ok(Date.parse(r.headers.get('last-modified')!) > 0);
      // and no body bytes on the wire (node's client would see them as data)
      const got = await new Promise<number>((resolve, reject) => {
        let n = 0;
        request(`${h.base}/ipxe.efi`, { method: 'HEAD' }, (res) => res.on('data', (d: Buffer) => (n += d.length)).on('end', () => resolve(n)))
          .on('error', reject)
          .end();
      });
      assert.equal(got, 0);
    });
    it('Range: bytes=0-511 → 206, Content-Range bytes 0-511/N, exactly those bytes', async () => {
      const r = await curl(['-H', 'Range: bytes=0-511', `${h.base}/ipxe.efi`]);
      assert.equal(r.status, 206);
      assert.equal(r.headers.get('content-range'), `bytes 0-511/${efi.length}`);
      assert.equal(r.headers.get('content-length'), '512');
      assert.deepEqual(r.body, efi.subarray(0, 512));
    });
    it('Range: bytes=N- → 416 with Content-Range bytes */N', async () => {
      const r = await curl(['-H', `Range: bytes=${efi.length}-`, `${h.base}/ipxe.efi`]);
      assert.equal(r.status, 416);
      assert.equal(r.headers.get('content-range'), `bytes */${efi.length}`);
    });
    it('suffix range, a range in a large file, several ranges (→ whole file 200)', async () => {
      const s = await curl(['-H', 'Range: bytes=-100', `${h.base}/ipxe.efi`]);
      assert.equal(s.status, 206);
      assert.deepEqual(s.body, efi.subarray(efi.length - 100));
      const m = await curl(['-H', 'Range: bytes=0-1,10-20', `${h.base}/ipxe.efi`]);
      assert.equal(m.status, 200);
      assert.deepEqual(m.body, efi);
      const big = await curl(['-H', 'Range: bytes=123456700-123456899', `${h.base}/big.img`]);
      assert.equal(big.status, 206);
      assert.equal(big.headers.get('content-range'), `bytes 123456700-123456899/${BIG_BYTES}`);
      assert.equal(big.body.length, 200);
    });
    it('Range on a small cached file is served from memory with the same semantics', async () => {
      const r = await curl(['-H', 'Range: bytes=4000-', `${h.base}/4k.bin`]);
      assert.equal(r.status, 206);
      assert.equal(r.headers.get('content-range'), `bytes 4000-4095/4096`);
      assert.deepEqual(r.body, small.subarray(4000));
    });
  });

  describe('check 27: content types (UEFI HTTP boot image type)', () => {
    const cases: Array<[string, string]> = [
      ['ipxe.efi', 'application/efi'],
      ['EFI/BOOT/BOOTX64.EFI', 'application/efi'],
      ['live.iso', 'application/vnd.efi-iso'],
      ['disk.img', 'application/vnd.efi-img'],
      ['vmlinuz', 'application/octet-stream'],
    ];
    for (const [file, type] of cases) {
      it(`${file} → ${type}`, async () => {
        const r = await curl(['-I', `${h.base}/${file}`]);
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('content-type'), type);
      });
    }
    it('.ipxe → text/plain', async () => {
      const r = await curl([`${h.base}/menu.ipxe`]);
      assert.match(r.headers.get('content-type')!, /^text\/plain/);
      assert.equal(r.body.toString(), '#!ipxe\nexit\n');
    });
  });

  describe('conditional requests', () => {
    it('If-None-Match with the ETag → 304 without body; another ETag → 200', async () => {
      const first = await curl([`${h.base}/ipxe.efi`]);
      const etag = first.headers.get('etag')!;
      const r = await curl(['-H', `If-None-Match: ${etag}`, `${h.base}/ipxe.efi`]);
      assert.equal(r.status, 304);
      assert.equal(r.body.length, 0);
      assert.equal(r.headers.get('etag'), etag);
      assert.equal((await curl(['-H', 'If-None-Match: "other"', `${h.base}/ipxe.efi`])).status, 200);
      assert.equal((await curl(['-H', `If-None-Match: "x", W/${etag}`, `${h.base}/ipxe.efi`])).status, 304);
    });
    it('If-Modified-Since at Last-Modified → 304; curl -z with an older date → 200', async () => {
      const lm = (await curl(['-I', `${h.base}/4k.bin`])).headers.get('last-modified')!;
      assert.equal((await curl(['-H', `If-Modified-Since: ${lm}`, `${h.base}/4k.bin`])).status, 304);
      assert.equal((await curl(['-H', 'If-Modified-Since: Thu, 01 Jan 1970 00:00:01 GMT', `${h.base}/4k.bin`])).status, 200);
    });
    it('If-Range with a stale ETag → the whole file (200), with the current one → 206', async () => {
      const etag = (await curl(['-I', `${h.base}/ipxe.efi`])).headers.get('etag')!;
      assert.equal((await curl(['-H', 'Range: bytes=0-9', '-H', `If-Range: ${etag}`, `${h.base}/ipxe.efi`])).status, 206);
      const stale = await curl(['-H', 'Range: bytes=0-9', '-H', 'If-Range: "stale"', `${h.base}/ipxe.efi`]);
      assert.equal(stale.status, 200);
      assert.equal(stale.body.length, efi.length);
    });
    it('a rewritten file gets a new ETag and its new content (small-file cache revalidates)', async () => {
      const p = join(h.root, 'changing.bin');
      writeFileSync(p, 'one');
      utimesSync(p, new Date(1_700_000_000_000), new Date(1_700_000_000_000));
      const a = await curl([`${h.base}/changing.bin`]);
      writeFileSync(p, 'two!');
      const b = await curl([`${h.base}/changing.bin`]);
      assert.equal(a.body.toString(), 'one');
      assert.equal(b.body.toString(), 'two!');
      assert.notEqual(a.headers.get('etag'), b.headers.get('etag'));
      assert.equal((await curl(['-H', `If-None-Match: ${a.headers.get('etag')}`, `${h.base}/changing.bin`])).status, 200);
    });
  });

  describe('large files', () => {
    it(`a ${BIG_BYTES / 1e6} MB sparse file downloads byte-exact (sha256), with a "file" boot event at the end`, async () => {
      h.events.length = 0;
      const out = join(dl, 'big.img');
      const r = await curl(['-o', out, `${h.base}/big.img`]);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-length'), String(BIG_BYTES));
      assert.equal(statSync(out).size, BIG_BYTES);
      assert.equal(await sha256File(out), bigSha);
      rmSync(out);
      const fileEvents = h.events.filter((e) => e.kind === 'file');
      assert.equal(fileEvents.length, 1);
      assert.equal(fileEvents[0]!.path, '/big.img');
      assert.equal(fileEvents[0]!.clientIp, '127.0.0.1');
      assert.equal(fileEvents[0]!.mac, undefined);
    });
    it('a client that goes away mid-download: no "file" event, and the server keeps serving', async () => {
      h.events.length = 0;
      await new Promise<void>((resolve, reject) => {
        const req = request(`${h.base}/big.img`, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', (e) => (e.message.includes('aborted') || (e as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve() : reject(e)));
        req.end();
      });
      const r = await curl(['-H', 'Range: bytes=0-511', `${h.base}/big.img`]);
      assert.equal(r.status, 206);
      assert.equal(h.events.filter((e) => e.kind === 'file' && e.path === '/big.img' && e.at > 0).length, 1, 'only the completed range request');
    });
    it('50 parallel range requests over keep-alive all return their exact slices', async () => {
      const src = Buffer.alloc(200_000);
      for (let i = 0; i < src.length; i++) src[i] = (i * 7) & 0xff;
      writeFileSync(join(h.root, 'pattern.bin'), src);
      const rs = await Promise.all(
        Array.from({ length: 50 }, (_, i) => curl(['-H', `Range: bytes=${i * 4000}-${i * 4000 + 3999}`, `${h.base}/pattern.bin`])),
      );
      rs.forEach((r, i) => {
        assert.equal(r.status, 206);
        assert.deepEqual(r.body, src.subarray(i * 4000, i * 4000 + 4000));
      });
    });
  });

  describe('path confinement', () => {
    const refused: Array<[string, number]> = [
      ['/../etc/passwd', 403],
      ['/%2e%2e/%2e%2e/etc/passwd', 403],
      ['/EFI/..%2f..%2f..%2fetc/passwd', 403],
      ['/escape', 403],
      ['/outdir/secret', 403],
      ['/4k.bin%00.efi', 400],
      ['/..%5c..%5cetc%5cpasswd', 400],
      ['/missing.efi', 404],
      ['/EFI', 404],
    ];
    for (const [path, status] of refused) {
      it(`${path} → ${status}`, async () => {
        const r = await curl(['--path-as-is', `${h.base}${path}`]);
        assert.equal(r.status, status);
        assert.ok(!r.body.toString().includes('not for terminals'));
        assert.ok(!r.body.toString().includes('root:'));
      });
    }
    it('refusals are counted by reason', async () => {
      assert.ok((await metric(h, 'bootgate_http_refused_total', 'reason="dot_segment"')) >= 3);
      assert.ok((await metric(h, 'bootgate_http_refused_total', 'reason="symlink_escape"')) >= 2);
      assert.ok((await metric(h, 'bootgate_http_refused_total', 'reason="control_char"')) >= 1);
    });
    it('PUT/DELETE on a file → 405 with Allow', async () => {
      const r = await curl(['-X', 'DELETE', `${h.base}/4k.bin`]);
      assert.equal(r.status, 405);
      assert.equal(r.headers.get('allow'), 'GET, HEAD');
    });
  });

  describe('boot timeline and metrics', () => {
    it('GET and POST /booted?mac= → 204 and a "booted" event; a bad MAC → 400', async () => {
      h.events.length = 0;
      assert.equal((await curl([`${h.base}/booted?mac=${KNOWN}`])).status, 204);
      assert.equal((await curl(['-X', 'POST', '-d', 'uptime=3', `${h.base}/booted?mac=52-54-00-72-00-01`])).status, 204);
      assert.equal((await curl([`${h.base}/booted?mac=zz`])).status, 400);
      assert.deepEqual(
        h.events.map((e) => [e.kind, e.mac]),
        [
          ['booted', KNOWN],
          ['booted', KNOWN],
        ],
      );
    });
    it('requests are counted by route and status, and bytes sent by route', async () => {
      const before = await metric(h, 'bootgate_http_bytes_sent_total', 'route="file"');
      await curl([`${h.base}/4k.bin`]);
      assert.equal((await metric(h, 'bootgate_http_bytes_sent_total', 'route="file"')) - before, 4096);
      assert.ok((await metric(h, 'bootgate_http_requests_total', 'route="script",status="200"')) >= 5);
      assert.ok((await metric(h, 'bootgate_http_requests_total', 'route="file",status="206"')) >= 3);
      assert.ok((await metric(h, 'bootgate_http_requests_total', 'route="file",status="416"')) >= 1);
      assert.ok((await metric(h, 'bootgate_http_requests_total', 'route="booted",status="204"')) >= 2);
    });
  });
});

describe('HTTP boot server lifecycle', () => {
  it('stop() closes the listener and cuts in-flight keep-alive connections; start() works again', async () => {
    const h = await startHttpBoot();
    try {
      writeFileSync(join(h.root, 'a'), 'a');
      assert.equal((await curl([`${h.base}/a`])).status, 200);
      await h.server.stop();
      await assert.rejects(curl(['--max-time', '5', `${h.base}/a`]));
      await h.server.start();
      const r = await curl([`http://127.0.0.1:${h.server.port}/a`]);
      assert.equal(r.body.toString(), 'a');
    } finally {
      await h.close();
    }
  });
  it('a profile that cannot be rendered safely → 500 and a counted refusal, never a broken script', async () => {
    const h = await startHttpBoot({ profiles: { bad: { kernel: 'vmlinuz', cmdline: 'quiet\nshell' } } });
    try {
      const r = await curl([`${h.base}/boot.ipxe?mac=${UNKNOWN}`]);
      assert.equal(r.status, 500);
      assert.ok(!r.body.toString().includes('shell'));
      assert.equal(await metric(h, 'bootgate_http_refused_total', 'reason="SCRIPT_CONTROL_CHAR"'), 1);
    } finally {
      await h.close();
    }
  });
});
