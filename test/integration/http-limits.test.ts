import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startHttpBoot, type HttpBootHarness } from '../helpers/http-boot.ts';

/** http.maxConnectionsPerClient: a client address holding too many connections gets the extra ones closed. */
function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends one GET on `s` and resolves with what came back before the server closed or answered ('' if closed at once). */
function exchange(s: net.Socket, path: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) resolve(got);
    });
    s.once('close', () => resolve(got));
    s.on('error', () => undefined);
    s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  });
}

describe('HTTP boot: per-client connection limit', () => {
  let h: HttpBootHarness;
  before(async () => {
    h = await startHttpBoot({ config: { maxConnectionsPerClient: 3 } });
    writeFileSync(join(h.root, 'f.bin'), 'hello');
  });
  after(async () => h?.close());

  it('the 4th concurrent connection from one address is closed unanswered and counted; a freed slot is usable again', async () => {
    const held = await Promise.all([0, 1, 2].map(() => connect(h.server.port)));
    assert.match(await exchange(held[0]!, '/f.bin'), /^HTTP\/1\.1 200 /);
    const extra = await connect(h.server.port);
    assert.equal(await exchange(extra, '/f.bin'), '', 'closed without an answer');
    const text = await h.registry.metrics();
    assert.match(text, /bootgate_http_refused_total\{reason="too_many_connections"\} 1\b/);
    held[1]!.destroy();
    // the slot frees once the server has seen the close: retry until it has (a refused try is counted too)
    let answer = '';
    for (let i = 0; i < 200 && !answer; i++) {
      const again = await connect(h.server.port);
      answer = await exchange(again, '/f.bin');
      again.destroy();
    }
    assert.match(answer, /^HTTP\/1\.1 200 /);
    for (const s of held) s.destroy();
  });
});
