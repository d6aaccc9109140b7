import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../src/log/logger.ts';
import { GateVerifyError, NftablesGate, type GateOptions } from '../../src/gateway/nftables/gate.ts';
import { allowedDestinationsCommand, renderRuleset, seatElementCommand, type GateRulesetConfig } from '../../src/gateway/nftables/ruleset.ts';
import type { NftRunner } from '../../src/net/nft-runner.ts';

const base: GateRulesetConfig = {
  table: 'bootgate',
  lanInterface: 'br-lan',
  wanInterface: 'eth1',
  lanSubnet: '10.76.1.0/24',
  httpInterceptPort: 3129,
  tlsInterceptPort: 3130,
  portalPort: 8081,
  seats: ['10.76.1.10', '10.76.1.11'],
};

describe('nftables ruleset renderer', () => {
  it('replaces the table atomically: add, delete, then the full definition in one text', () => {
    const text = renderRuleset(base);
    const lines = text.split('\n');
    assert.equal(lines[0], 'table inet bootgate');
    assert.equal(lines[1], 'delete table inet bootgate');
    assert.equal(lines[2], 'table inet bootgate {');
  });

  it('seat set with per-element counters holds the open sessions', () => {
    const text = renderRuleset(base);
    assert.match(text, /set seats \{\n\t\ttype ipv4_addr\n\t\tcounter\n\t\telements = \{ 10\.76\.1\.10, 10\.76\.1\.11 \}/);
    assert.doesNotMatch(renderRuleset({ ...base, seats: [] }), /elements/);
  });

  it('redirects: services on the gateway untouched first, then seat 80/443 to interceptors, others to the portal', () => {
    const pre = /chain prerouting \{([\s\S]*?)\n\t\}/.exec(renderRuleset(base))![1]!;
    const rules = pre
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('type'));
    assert.match(rules[0]!, /^iifname "br-lan" fib daddr type local counter accept/);
    assert.match(rules[1]!, /^iifname "br-lan" ip saddr @seats tcp dport 80 counter redirect to :3129/);
    assert.match(rules[2]!, /^iifname "br-lan" ip saddr @seats tcp dport 443 counter redirect to :3130/);
    assert.match(rules[3]!, /^iifname "br-lan" ip saddr != @seats tcp dport 80 counter redirect to :8081/);
  });

  it('forward: only @seats from the LAN, replies only for established flows; masquerade to the WAN', () => {
    const text = renderRuleset(base);
    const fwd = /chain forward \{([\s\S]*?)\n\t\}/.exec(text)![1]!;
    assert.ok(fwd.indexOf('ip saddr @seats counter accept') < fwd.indexOf('iifname "br-lan" meta l4proto tcp counter reject with tcp reset'));
    assert.match(fwd, /oifname "br-lan" ct state established,related counter accept/);
    assert.match(text, /oifname "eth1" ip saddr 10\.76\.1\.0\/24 counter masquerade/);
    assert.match(renderRuleset({ ...base, wanInterface: undefined }), /oifname != "br-lan" ip saddr 10\.76\.1\.0\/24 counter masquerade/);
  });

  it('refuses values that would inject nft syntax', () => {
    assert.throws(() => renderRuleset({ ...base, lanInterface: 'eth0" accept' }), RangeError);
    assert.throws(() => renderRuleset({ ...base, table: 'x; flush ruleset' }), RangeError);
    assert.throws(() => renderRuleset({ ...base, seats: ['10.0.0.1 }'] }), RangeError);
    assert.throws(() => renderRuleset({ ...base, lanSubnet: '10.76.1.1/24' }), RangeError);
    assert.throws(() => renderRuleset({ ...base, portalPort: 70000 }), RangeError);
    assert.throws(() => seatElementCommand('bootgate', 'add', ['not-an-ip']), RangeError);
  });

  it('the allow-listed destinations are replaced whole (flush, then the networks and hosts) in one transaction', () => {
    const set = { family: 'inet', table: 'bootgate', name: 'allowed_destinations' };
    assert.deepEqual(JSON.parse(allowedDestinationsCommand('bootgate', ['10.79.2.0/24', '192.168.77.7/32', '192.168.77.7/32'])), {
      nftables: [{ flush: { set } }, { add: { element: { ...set, elem: [{ prefix: { addr: '10.79.2.0', len: 24 } }, '192.168.77.7'] } } }],
    });
    // the last instance removed: the set is left empty, not the command malformed
    assert.deepEqual(JSON.parse(allowedDestinationsCommand('bootgate', [])), { nftables: [{ flush: { set } }] });
    assert.throws(() => allowedDestinationsCommand('bootgate', ['10.0.0.1']), RangeError);
    assert.throws(() => allowedDestinationsCommand('bootgate', ['10.0.0.0/24"; flush ruleset']), RangeError);
  });

  it('seat changes are libnftables JSON element commands', () => {
    assert.deepEqual(JSON.parse(seatElementCommand('bootgate', 'add', ['10.76.1.10'])), {
      nftables: [{ add: { element: { family: 'inet', table: 'bootgate', name: 'seats', elem: ['10.76.1.10'] } } }],
    });
  });
});

/** A fake nft that records commands and answers `list` from a set of elements it keeps. */
function fakeNft(opts: { dropElementsOnList?: boolean } = {}) {
  const calls: Array<{ args: string[]; stdin?: string }> = [];
  const elems = new Set<string>();
  const runner: NftRunner = async (args, stdin) => {
    calls.push({ args, stdin });
    if (args[0] === '-f') {
      for (const m of stdin!.matchAll(/elements = \{ ([^}]*) \}/g)) for (const e of m[1]!.split(', ')) elems.add(e.trim());
      return '';
    }
    if (args[0] === '-j' && args[1]!.startsWith('{')) {
      const cmd = JSON.parse(args[1]!).nftables[0];
      const [op] = Object.keys(cmd);
      for (const e of cmd[op!].element.elem) {
        if (op === 'add') elems.add(e);
        else elems.delete(e);
      }
      return '';
    }
    if (args[0] === '-j' && args[1] === 'list') {
      const elem = opts.dropElementsOnList ? [] : [...elems].map((v) => ({ elem: { val: v, counter: { packets: 3, bytes: 300 } } }));
      return JSON.stringify({
        nftables: [
          { metainfo: {} },
          { set: { family: 'inet', table: 'bootgate', name: 'seats', elem } },
          ...['prerouting', 'forward', 'postrouting'].map((name) => ({ chain: { family: 'inet', table: 'bootgate', name } })),
        ],
      });
    }
    return '';
  };
  return { runner, calls, elems };
}

const dir = mkdtempSync(join(tmpdir(), 'bggw-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const logger = createLogger('silent');
const options: GateOptions = { ...base, manageForwarding: true };

describe('NftablesGate', () => {
  it('start applies, verifies, turns on ip_forward; allow/deny change only the set; stop removes and restores', async () => {
    const fwd = join(dir, 'ip_forward');
    writeFileSync(fwd, '0\n');
    const nft = fakeNft();
    const gate = new NftablesGate({ options, logger, nft: nft.runner, currentSeats: () => ['10.76.1.10'], ipForwardPath: fwd });
    await gate.start();
    assert.equal(readFileSync(fwd, 'utf8').trim(), '1');
    assert.deepEqual(nft.calls[0]!.args, ['-f', '-']);
    assert.deepEqual(nft.calls[1]!.args, ['-j', 'list', 'table', 'inet', 'bootgate']);
    await Promise.all([gate.allow('10.76.1.11'), gate.allow('10.76.1.11'), gate.deny('10.76.1.10')]);
    assert.deepEqual([...nft.elems].sort(), ['10.76.1.11']);
    assert.equal(nft.calls.filter((c) => c.args[1]!.startsWith('{')).length, 2, 'the duplicate allow sends nothing');
    await gate.verify();
    const counters = await gate.counters();
    assert.deepEqual(counters.get('10.76.1.11'), { packets: 3, bytes: 300 });
    await gate.stop();
    assert.deepEqual(nft.calls.at(-1)!.args, ['delete', 'table', 'inet', 'bootgate']);
    assert.equal(readFileSync(fwd, 'utf8').trim(), '0');
  });

  it('a table that does not read back as applied fails start with GATE_VERIFY', async () => {
    const fwd = join(dir, 'ip_forward2');
    writeFileSync(fwd, '0\n');
    const nft = fakeNft({ dropElementsOnList: true });
    const gate = new NftablesGate({ options, logger, nft: nft.runner, currentSeats: () => ['10.76.1.10'], ipForwardPath: fwd });
    await assert.rejects(gate.start(), (e: unknown) => e instanceof GateVerifyError && e.code === 'GATE_VERIFY');
    assert.equal(readFileSync(fwd, 'utf8').trim(), '0', 'forwarding stays off when the gate is not in place');
  });
});
