/**
 * How the proxy sends a stored slice (gateway/proxy/cache-delivery.ts, net/sendfile.ts): over a real TCP connection,
 * the head (or held bytes) first, then the file part with sendfile(2) through the addon — byte-exact from an offset
 * — and the fallback (read and write from userland) for a socket sendfile cannot take.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { sendStored } from '../../src/gateway/proxy/cache-delivery.ts';
import { idleSocketFd, sendFileTo } from '../../src/net/sendfile.ts';
import { deterministicBytes } from '../helpers/cache-origin.ts';
import { tempCacheDir } from '../helpers/cache-fixtures.ts';

const DATA = deterministicBytes(3 * 1024 * 1024 + 17);

/** A connected pair: `server` is the side we send on; `received` resolves with everything the client got until it closed. */
async function pair(): Promise<{ server: Socket; received: Promise<Buffer>; close(): void }> {
  let server!: Socket;
  const srv = createServer((s) => (server = s));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  const client = connect(port, '127.0.0.1');
  const parts: Buffer[] = [];
  const received = new Promise<Buffer>((resolve) => {
    client.on('data', (d: Buffer) => parts.push(d));
    client.on('close', () => resolve(Buffer.concat(parts)));
  });
  while (!server) await new Promise((r) => setTimeout(r, 5));
  return { server, received, close: () => void srv.close() };
}

test('a file part goes with sendfile after the head, byte-exact from its offset', async () => {
  const file = join(tempCacheDir(), 'slice');
  writeFileSync(file, DATA);
  const fh = await open(file, 'r');
  const { server, received, close } = await pair();
  assert.equal(typeof idleSocketFd(server), 'number', 'a plain TCP socket with nothing queued can take sendfile');
  const head = 'HTTP/1.1 200 OK\r\n\r\n';
  const offset = 1234;
  const length = DATA.length - offset - 99;
  assert.equal(await sendStored(server, head, { fd: fh.fd, offset, length }), true);
  server.end();
  const got = await received;
  assert.equal(got.subarray(0, head.length).toString('latin1'), head);
  assert.ok(got.subarray(head.length).equals(DATA.subarray(offset, offset + length)));
  await fh.close();
  close();
});

test('sendfile declines a socket without an fd; sendStored then writes the part from userland', async () => {
  const file = join(tempCacheDir(), 'slice');
  writeFileSync(file, DATA);
  const fh = await open(file, 'r');
  const sink = new PassThrough();
  const fake = sink as unknown as Socket; // no _handle: not a kernel socket
  assert.equal(sendFileTo(fake, fh.fd, 0, 10), undefined);
  const parts: Buffer[] = [];
  sink.on('data', (d: Buffer) => parts.push(d));
  assert.equal(await sendStored(fake, Buffer.from('held'), { fd: fh.fd, offset: 10, length: 5000 }), true);
  assert.ok(Buffer.concat(parts).equals(Buffer.concat([Buffer.from('held'), DATA.subarray(10, 5010)])));
  await fh.close();
});

test('a client that went away: sendStored resolves false, nothing throws', async () => {
  const file = join(tempCacheDir(), 'slice');
  writeFileSync(file, DATA);
  const fh = await open(file, 'r');
  const { server, close } = await pair();
  server.destroy();
  assert.equal(await sendStored(server, 'HTTP/1.1 200 OK\r\n\r\n', { fd: fh.fd, offset: 0, length: DATA.length }), false);
  await fh.close();
  close();
});
