import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { NetnsLab } from '../../src/lab/netns.ts';
import { BIN, BootgateProcess } from '../helpers/bootgate-process.ts';
import { readPcap, udpFrame, type UdpFrame } from '../helpers/pcap.ts';

/**
 * Wake-on-LAN on the wire: bootgate in a namespace with the LAN bridge br0 (10.77.0.1/24, one terminal namespace on
 * it so the bridge has a port), three seats registered with the CLI (S1 and S2 in group "front", S3 in "default"),
 * tcpdump on br0 inside the server namespace while `bootgate wake --mac | --group | --all` runs. The capture is read
 * by test/helpers/pcap.ts and every magic packet checked byte for byte: Ethernet broadcast, the LAN's directed
 * broadcast, UDP port 9, 6 × 0xFF + 16 × the MAC (+ the SecureOn password when one is configured).
 */
const GW = '10.77.0.1';
const BROADCAST = '10.77.0.255';
const HTTP_PORT = 18577;
const API = '127.0.0.1:18578';
const SEATS = [
  { name: 'S1', mac: '52:54:00:77:00:01', group: 'front' },
  { name: 'S2', mac: '52:54:00:77:00:02', group: 'front' },
  { name: 'S3', mac: '52:54:00:77:00:03', group: 'default' },
] as const;
const MAC = Object.fromEntries(SEATS.map((s) => [s.name, s.mac])) as Record<'S1' | 'S2' | 'S3', string>;

const magic = (mac: string, password = ''): string => 'ff'.repeat(6) + mac.replaceAll(':', '').repeat(16) + password.replace(/[:-]/g, '');
const macOfPayload = (p: Buffer): string => [...p.subarray(6, 12)].map((b) => b.toString(16).padStart(2, '0')).join(':');

describe('Wake-on-LAN: magic packets captured by tcpdump on the LAN bridge', () => {
  const lab = new NetnsLab('bgwl');
  let bg: BootgateProcess;
  let captures = 0;

  const config = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    interfaces: { lan: 'br0' },
    dhcp: { subnet: '10.77.0.0/24', range: { start: '10.77.0.100', end: '10.77.0.150' }, router: GW, dns: [GW], leaseSeconds: 600 },
    http: { port: HTTP_PORT },
    api: { listen: API },
    ...extra,
  });
  const ok = (...args: string[]): string => {
    try {
      return lab.exec(lab.server, process.execPath, [BIN, '-c', bg.configFile, ...args], { timeoutMs: 30_000 });
    } catch (e) {
      const err = e as { stderr?: string };
      assert.fail(`bootgate ${args.join(' ')}: ${err.stderr ?? String(e)}`);
    }
  };
  /** Runs `action` with tcpdump capturing UDP port 9 on br0 (started before, stopped by PID after); the frames seen. */
  const capture = async (action: () => string): Promise<{ frames: UdpFrame[]; output: string }> => {
    const file = join(bg.dir, `wol-${captures++}.pcap`);
    const td = lab.spawnIn(lab.server, 'tcpdump', ['-i', 'br0', '-n', '-U', '--immediate-mode', '-Z', 'root', '-w', file, 'udp port 9']);
    let err = '';
    const exited = new Promise<void>((r) => td.once('exit', () => r()));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 10_000);
      td.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('listening on')) {
          clearTimeout(t);
          resolve();
        }
      });
      td.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`tcpdump exited (${code}): ${err}`));
      });
    });
    let output: string;
    try {
      output = action();
      await sleep(300); // the CLI returns once the last packet is sent; tcpdump (immediate mode, -U) writes each as it comes
    } finally {
      process.kill(td.pid!, 'SIGTERM');
      await exited;
    }
    const pcap = readPcap(readFileSync(file));
    const frames = pcap.records.map((r) => udpFrame(r, pcap.linkType)).filter((f): f is UdpFrame => f !== undefined);
    return { frames, output };
  };
  /** Every frame is a well-formed magic packet to the LAN broadcast; returns their MACs in capture order. */
  const magicMacs = (frames: UdpFrame[], password = ''): string[] => {
    for (const f of frames) {
      assert.equal(f.ethDst, 'ff:ff:ff:ff:ff:ff', 'Ethernet broadcast');
      assert.equal(f.ipDst, BROADCAST, "the LAN's directed broadcast");
      assert.equal(f.ipSrc, GW, 'sent from the LAN address');
      assert.equal(f.dstPort, 9);
      assert.equal(f.payload.length, 102 + password.replace(/[:-]/g, '').length / 2);
      assert.equal(f.payload.toString('hex'), magic(macOfPayload(f.payload), password));
    }
    for (let i = 1; i < frames.length; i++) assert.ok(frames[i]!.atUs >= frames[i - 1]!.atUs, 'capture in time order');
    return frames.map((f) => macOfPayload(f.payload));
  };

  before(async () => {
    lab.createServer('br0', `${GW}/24`);
    lab.addClient({ name: 'term', bridge: 'br0', mac: MAC.S1 });
    bg = new BootgateProcess(lab, config());
    await bg.start();
    const token = readFileSync(join(bg.dir, 'data/keys/admin.token'), 'utf8').trim();
    lab.exec(lab.server, 'curl', [
      '-sf',
      '-X',
      'PUT',
      '-H',
      `authorization: Bearer ${token}`,
      '-H',
      'content-type: application/json',
      '--data',
      '{"rateMinorPerHour":100}',
      `http://${API}/api/v1/seat-groups/front`,
    ]);
    for (const s of SEATS) ok('seats', 'add', '--name', s.name, '--mac', s.mac, '--group', s.group);
  });

  after(async () => {
    await lab.destroy();
  });

  it('--mac: one magic packet for that MAC, nothing else', async () => {
    const { frames, output } = await capture(() => ok('wake', '--mac', MAC.S3));
    assert.match(output, /^woke 1 of 1: 52:54:00:77:00:03$/m);
    assert.deepEqual(magicMacs(frames), [MAC.S3]);
  });

  it('--mac in another spelling is the same MAC on the wire', async () => {
    const { frames } = await capture(() => ok('wake', '--mac', '52-54-00-77-00-02'));
    assert.deepEqual(magicMacs(frames), [MAC.S2]);
  });

  it('--group: exactly the seats of that group', async () => {
    const { frames, output } = await capture(() => ok('wake', '--group', 'front'));
    assert.match(output, /^woke 2 of 2: /m);
    assert.deepEqual(magicMacs(frames).sort(), [MAC.S1, MAC.S2]);
  });

  it('--all --spread: every seat once, sent in the order the spread schedules them', async () => {
    const { frames, output } = await capture(() => ok('wake', '--all', '--spread', '600'));
    const announced = /^woke 3 of 3: (.*)$/m.exec(output)?.[1]?.split(' ');
    assert.deepEqual(announced, [MAC.S1, MAC.S2, MAC.S3], 'seats in name order');
    // the spread is visible only as order: the capture has the schedule's order (no timing is asserted)
    assert.deepEqual(magicMacs(frames), announced);
  });

  it('an unknown group is refused and sends nothing', async () => {
    const { frames, output } = await capture(() => {
      try {
        lab.exec(lab.server, process.execPath, [BIN, '-c', bg.configFile, 'wake', '--group', 'nobody'], { timeoutMs: 30_000 });
        return 'exit 0';
      } catch (e) {
        return (e as { stderr?: string }).stderr ?? '';
      }
    });
    assert.match(output, /^bootgate: SEAT_GROUP_NOT_FOUND: /m);
    assert.deepEqual(frames, []);
  });

  it('with platforms.wol.password configured the SecureOn password follows the 16 repetitions (108 bytes)', async () => {
    await bg.stop();
    const password = '0a:1b:2c:3d:4e:5f';
    bg = new BootgateProcess(lab, config({ platforms: { wol: { password, schedules: [{ at: '03:00', target: 'front', spreadMs: 1000 }] } } }));
    await bg.start();
    const { frames } = await capture(() => ok('wake', '--mac', MAC.S1));
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.payload.length, 108);
    assert.deepEqual(magicMacs(frames, password), [MAC.S1]);
    assert.equal(frames[0]!.payload.subarray(102).toString('hex'), '0a1b2c3d4e5f');
  });

  it('the scheduled wake-ups are on the API with their next time (GET /api/v1/wake/runs)', () => {
    const token = readFileSync(join(bg.dir, 'data/keys/admin.token'), 'utf8').trim();
    const runs = JSON.parse(
      lab.exec(lab.server, 'curl', ['-sf', '-H', `authorization: Bearer ${token}`, `http://${API}/api/v1/wake/runs`]),
    ) as Array<{ at: string; target: string; nextAt: number; lastRun: unknown }>;
    assert.equal(runs.length, 1);
    assert.deepEqual([runs[0]!.at, runs[0]!.target, runs[0]!.lastRun], ['03:00', 'front', null]);
    assert.ok(runs[0]!.nextAt > Date.now() && runs[0]!.nextAt <= Date.now() + 86_400_000);
  });
});
