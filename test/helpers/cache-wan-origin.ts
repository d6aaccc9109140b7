/**
 * An origin web server for the edge cache's namespace tests (run in the WAN namespace): every path under `/small/`
 * is the first 32 MiB (`--small-mb`) of `--file`, every other path the whole file; single Ranges (RFC 9110 §14) with ETag,
 * Last-Modified and a day's max-age. Each request is counted with its path, Range and the body bytes actually sent;
 * `GET /__stats` returns them as JSON, `POST /__reset` clears them.
 *   node --import tsx test/helpers/cache-wan-origin.ts --host H --port P --file F [--small-mb 32]
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { host: { type: 'string' }, port: { type: 'string' }, file: { type: 'string' }, 'small-mb': { type: 'string' } },
});
const file = values.file!;
const SMALL = Number(values['small-mb'] ?? 32) * 1024 * 1024;
const full = statSync(file).size;
const mtime = new Date('2026-01-01T00:00:00Z').toUTCString();
let requests: Array<{ path: string; range: string | null; bytes: number }> = [];

const server = createServer((req, res) => {
  const path = req.url ?? '/';
  if (path === '/__stats') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ requests }));
  if (path === '/__reset') {
    requests = [];
    return void res.writeHead(204).end();
  }
  const size = path.startsWith('/small/') ? Math.min(SMALL, full) : full;
  const r = { path, range: req.headers.range ?? null, bytes: 0 };
  requests.push(r);
  const head: Record<string, string> = {
    'content-type': 'application/octet-stream',
    etag: `"${size}-v1"`,
    'last-modified': mtime,
    'cache-control': 'max-age=86400',
    'accept-ranges': 'bytes',
  };
  let first = 0;
  let last = size - 1;
  let status = 200;
  const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
  if (m && (m[1] !== '' || m[2] !== '')) {
    if (m[1] === '') first = Math.max(0, size - Number(m[2]));
    else {
      first = Number(m[1]);
      last = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    }
    if (first >= size || first > last) return void res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
    status = 206;
    head['content-range'] = `bytes ${first}-${last}/${size}`;
  }
  head['content-length'] = String(last - first + 1);
  res.writeHead(status, head);
  const s = createReadStream(file, { start: first, end: last, highWaterMark: 256 * 1024 });
  s.on('data', (c) => (r.bytes += c.length));
  s.pipe(res);
  res.on('close', () => s.destroy());
});
server.listen(Number(values.port), values.host, () => process.stdout.write('origin ready\n'));
process.on('SIGTERM', () => process.exit(0));
