/**
 * net/listen: a bind failure is a SOCKET_BIND error naming the listener, the address and the reason (what
 * `bootgate serve` prints as one line), not a raw errno error with a stack.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import type { BootgateError } from '../../src/errors.ts';
import { listen } from '../../src/net/listen.ts';

describe('listen', () => {
  it('resolves with the bound port', async () => {
    const s = createServer();
    const port = await listen(s, 0, '127.0.0.1', 'test');
    assert.ok(port > 0);
    await new Promise((r) => s.close(r));
  });

  it('an address not on this machine is SOCKET_BIND with the key, the address and the reason', async () => {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): on no interface here; bind() fails locally and nothing is sent
    const s = createServer();
    await assert.rejects(listen(s, 18443, '192.0.2.1', 'api.listen'), (e: BootgateError) => {
      assert.equal(e.code, 'SOCKET_BIND');
      assert.equal(e.message, 'api.listen: cannot listen on 192.0.2.1:18443: the address is not on this machine (EADDRNOTAVAIL)');
      return true;
    });
  });

  it('a port in use is SOCKET_BIND naming the port', async () => {
    const a = createServer();
    const port = await listen(a, 0, '127.0.0.1', 'first');
    const b = createServer();
    await assert.rejects(listen(b, port, '127.0.0.1', 'http'), (e: BootgateError) => {
      assert.equal(e.code, 'SOCKET_BIND');
      assert.equal(e.message, `http: cannot listen on 127.0.0.1:${port}: the port is in use (EADDRINUSE)`);
      return true;
    });
    await new Promise((r) => a.close(r));
  });
});
