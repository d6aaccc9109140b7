import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { NetnsLab } from '../../src/lab/netns.ts';
import { BIN, BootgateProcess, writeScript } from '../helpers/bootgate-process.ts';

/**
 * One terminal floods the LAN with spoofed DISCOVERs (dhcpstarv / Yersinia style, from test/helpers/dhcp_flood.py)
 * while honest clients boot, in namespaces this test builds and always removes:
 *   gateway ns: br0 10.68.0.1/24, pool 10.68.0.10–60 (51 addresses, as in the report)
 *   flood (02:68:00:00:00:66), honest unknown udhcpc, two registered seats (one booted before, one never)
 */
const API = '127.0.0.1:18444';
const FLOOD_MAC = '02:68:00:00:00:66';
const HONEST_MAC = '52:54:00:68:00:01';
const SEAT_MAC = '52:54:00:68:00:02';
const NEW_SEAT_MAC = '52:54:00:68:00:03';
const FLOOD = join(fileURLToPath(import.meta.url), '../../helpers/dhcp_flood.py');
const CONFIGURE_UDHCPC = [
  'echo "EVENT $1 ip=$ip"',
  'case "$1" in',
  '  bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface";;',
  '  deconfig) ip addr flush dev "$interface";;',
  'esac',
].join('\n');

describe('DHCP starvation: one terminal floods, the room still boots (issue 11)', () => {
  const lab = new NetnsLab('bgstarve');
  let bg: BootgateProcess;
  let floodNs: string;
  let honestNs: string;
  let seatNs: string;
  let newSeatNs: string;

  before(async () => {
    lab.createServer('br0', '10.68.0.1/24');
    floodNs = lab.addClient({ name: 'flood', bridge: 'br0', mac: FLOOD_MAC });
    honestNs = lab.addClient({ name: 'honest', bridge: 'br0', mac: HONEST_MAC });
    seatNs = lab.addClient({ name: 'seat', bridge: 'br0', mac: SEAT_MAC });
    newSeatNs = lab.addClient({ name: 'seat2', bridge: 'br0', mac: NEW_SEAT_MAC });
    bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0' },
      log: { level: 'info' },
      dhcp: { subnet: '10.68.0.0/24', range: { start: '10.68.0.10', end: '10.68.0.60' }, router: '10.68.0.1', dns: ['10.68.0.1'], leaseSeconds: 600 },
      ipv6: { routerAdvertisements: { enabled: false } },
      api: { listen: API },
    });
    await bg.start();
    // the café's terminals are registered seats (through the API: the appliance's directory reloads at once)
    cli('seats', 'add', '--name', 'S1', '--mac', SEAT_MAC);
    cli('seats', 'add', '--name', 'S2', '--mac', NEW_SEAT_MAC);
  });

  after(async () => {
    await lab.destroy();
  });

  function cli(...args: string[]): string {
    return lab.exec(lab.server, process.execPath, [BIN, ...args, '--config', bg.configFile]).trim();
  }

  /** One DISCOVER (-t 1), three seconds for the answer: "its first attempt". The bound address, or undefined. */
  function udhcpcOnce(ns: string): string | undefined {
    const script = writeScript(bg.dir, 'udhcpc.sh', CONFIGURE_UDHCPC);
    try {
      const out = lab.exec(ns, 'busybox', ['udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '1', '-T', '3', '-s', script], { timeoutMs: 20_000 });
      return /EVENT bound ip=(\S+)/.exec(out)?.[1];
    } catch {
      return undefined;
    }
  }

  function startFlood(mode: 'fixed' | 'random' | 'matched', seconds: number, rate = 0): { child: ChildProcess; done: Promise<number> } {
    const child = lab.spawnIn(floodNs, 'python3', [FLOOD, 'eth0', String(seconds), mode, String(rate)]);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<number>((resolve) => child.once('exit', () => resolve(Number(/sent (\d+)/.exec(out)?.[1] ?? 0))));
    return { child, done };
  }

  const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  it('a flood with spoofed chaddrs from one source: an honest client and a seat get leases on their first attempt; the source is named', async () => {
    const seatBefore = udhcpcOnce(seatNs);
    assert.ok(seatBefore, 'the seat boots before the flood');
    const flood = startFlood('fixed', 12); // as fast as python can write frames
    await wait(2000);
    const offersDuringFlood = bg.metric(API, 'bootgate_dhcp_packets_out_total', { type: 'OFFER' });
    const honest = udhcpcOnce(honestNs);
    const seatAgain = udhcpcOnce(seatNs);
    const sent = await flood.done;
    assert.ok(sent > 20_000, `the flood sent ${sent} frames`);
    assert.match(honest ?? '', /^10\.68\.0\.(\d+)$/, 'the honest client got a lease on its first DISCOVER');
    assert.equal(seatAgain, seatBefore, 'the seat got its own address again during the flood');

    await wait(5500); // the storm-control counter is read every 5 s
    const stormDrops = bg.metric(API, 'bootgate_dhcp_bridge_storm_drops_total');
    const mismatches = bg.metric(API, 'bootgate_dhcp_chaddr_mismatches_total', { source: FLOOD_MAC });
    const refused = bg.metric(API, 'bootgate_dhcp_starvation_refusals_total', { reason: 'chaddr_mismatch', source: FLOOD_MAC });
    assert.ok(stormDrops > sent * 0.9, `${stormDrops} of ${sent} flood frames dropped at the bridge before it repeated them`);
    assert.ok(mismatches > 100, `${mismatches} chaddr mismatches counted under the flooding source (what got past the storm control)`);
    assert.ok(stormDrops + mismatches >= sent * 0.9, 'every flood frame is accounted for, at the bridge or at the server');
    assert.equal(refused, mismatches, 'every one refused (the default)');
    assert.ok(bg.metric(API, 'bootgate_dhcp_drops_total', { reason: 'chaddr_mismatch' }) >= mismatches, 'dropped and counted');
    // only the two honest exchanges were answered while the flood ran
    assert.ok(bg.metric(API, 'bootgate_dhcp_packets_out_total', { type: 'OFFER' }) - offersDuringFlood <= 2);
    assert.equal(bg.metric(API, 'bootgate_dhcp_pool_exhausted_total'), 0);
    assert.match(bg.output, new RegExp(`"source":"${FLOOD_MAC}".*dhcp starvation guard refused`));
  });

  it('a flood that randomises its Ethernet source and writes it as chaddr: a seat that never booted still gets an address from the reserve', async () => {
    // each frame a new source equal to its chaddr: past the storm control and the chaddr check, at a rate
    // the clients' own sockets survive (busybox udhcpc reads every IPv4 frame on its interface)
    const flood = startFlood('matched', 10, 2000);
    await wait(3000);
    // the flood has had time to take every address unknown clients may have
    const newSeat = udhcpcOnce(newSeatNs);
    const seatAgain = udhcpcOnce(seatNs);
    await flood.done;
    assert.match(newSeat ?? '', /^10\.68\.0\.\d+$/, 'the never-booted seat got an address on its first attempt');
    assert.match(seatAgain ?? '', /^10\.68\.0\.\d+$/);
    assert.ok(
      bg.metric(API, 'bootgate_dhcp_starvation_refusals_total', { reason: 'known_reserve' }) > 0,
      'unknown clients were stopped at the reserve',
    );
    assert.ok(bg.metric(API, 'bootgate_dhcp_pool_pressure', { subnet: '10.68.0.0/24' }) >= 0.8, 'the pressure is visible');
    assert.equal(bg.child?.exitCode, null, 'bootgate is still up');
  });
});
