import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { BRIDGE_GUARD_TABLE, DhcpBridgeGuard } from '../../src/dhcp/bridge-guard.ts';
import { createLogger } from '../../src/log/logger.ts';
import type { NftRunner } from '../../src/net/nft-runner.ts';

function fakeNft(counter: { n: number }): { run: NftRunner; calls: Array<{ args: string[]; stdin?: string }> } {
  const calls: Array<{ args: string[]; stdin?: string }> = [];
  const run: NftRunner = async (args, stdin) => {
    calls.push(stdin === undefined ? { args } : { args, stdin });
    if (args[0] === 'list') return `chain prerouting {\n ether daddr ff:ff:ff:ff:ff:ff ... counter packets ${counter.n} bytes 99 drop\n}`;
    return '';
  };
  return { run, calls };
}

async function metric(registry: Registry): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === 'bootgate_dhcp_bridge_storm_drops_total');
  return Number(m?.values[0]?.value ?? 0);
}

describe('DHCP storm control on the LAN bridge', () => {
  it('installs one table limiting broadcast DHCP per Ethernet source, counts its drops, and removes it at stop', async () => {
    const counter = { n: 0 };
    const nft = fakeNft(counter);
    const registry = new Registry();
    const guard = new DhcpBridgeGuard(
      { lanInterface: 'br0', perSourcePerSecond: 40, burst: 80, isBridge: () => true },
      nft.run,
      createLogger('silent'),
      registry,
    );
    await guard.start();
    const rules = nft.calls[0]!.stdin!;
    assert.deepEqual(nft.calls[0]!.args, ['-f', '-']);
    assert.match(rules, new RegExp(`delete table bridge ${BRIDGE_GUARD_TABLE}`), 'replaces a table left by a crash, in the same transaction');
    assert.match(rules, /hook prerouting/);
    assert.match(
      rules,
      /ether daddr ff:ff:ff:ff:ff:ff ether type ip udp dport \{ 67, 4011 \} update @dhcp_sources \{ ether saddr limit rate over 40\/second burst 80 packets \} counter drop/,
    );
    counter.n = 1234;
    assert.equal(await guard.collect(), 1234);
    counter.n = 2000;
    await guard.stop();
    assert.equal(await metric(registry), 2000, 'the counter read once more at stop');
    assert.deepEqual(nft.calls.at(-1)!.args, ['delete', 'table', 'bridge', BRIDGE_GUARD_TABLE]);
  });

  it('does nothing when the LAN is not a bridge, or when turned off', async () => {
    for (const opts of [
      { isBridge: () => false, perSourcePerSecond: 50 },
      { isBridge: () => true, perSourcePerSecond: 0 },
    ]) {
      const nft = fakeNft({ n: 0 });
      const guard = new DhcpBridgeGuard({ lanInterface: 'eth1', burst: 100, ...opts }, nft.run, createLogger('silent'), new Registry());
      await guard.start();
      await guard.stop();
      assert.equal(nft.calls.length, 0);
    }
  });

  it('a failing nft is a warning, not a failed start', async () => {
    const run: NftRunner = async () => {
      throw new Error('nft: Operation not permitted');
    };
    const guard = new DhcpBridgeGuard(
      { lanInterface: 'br0', perSourcePerSecond: 50, burst: 100, isBridge: () => true },
      run,
      createLogger('silent'),
      new Registry(),
    );
    await guard.start();
    assert.equal(await guard.collect(), 0);
    await guard.stop();
  });
});
