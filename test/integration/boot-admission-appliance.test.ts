import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsLab } from '../../src/lab/netns.ts';
import { BootgateProcess } from '../helpers/bootgate-process.ts';

/**
 * `bootgate serve` with `boot.admission` on (bound 1), in its own namespace (bgs21a-srv, br0 10.121.1.1/24), with
 * real curl: the composition root wires the queue into the HTTP boot server, `/booted` releases the slot,
 * GET /api/v1/boot/queue shows who holds and who waits, and the metrics are on /metrics. A Wake-on-LAN of a seat
 * group (POST /api/v1/wake) goes at the queue's pace: a listener on the LAN (bgs21a-lan) sees only 2 × bound magic
 * packets until the woken terminals ask for their scripts and boot.
 */
const GW = '10.121.1.1';
const HTTP = `http://${GW}:18611`;
const API = '127.0.0.1:18612';
const A = '52-54-00-b5-21-a1';
const B = '52-54-00-b5-21-b2';

describe('admission control in bootgate serve', () => {
  const lab = new NetnsLab('bgs21a');
  let bg: BootgateProcess | undefined;
  let admin = '';
  const curl = (args: string[]): string => lab.exec(lab.server, 'curl', ['-sS', '--noproxy', '*', '--max-time', '20', ...args]);

  before(async () => {
    lab.createServer('br0', `${GW}/24`);
    bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0' },
      dhcp: { subnet: '10.121.1.0/24', range: { start: '10.121.1.100', end: '10.121.1.150' }, router: GW, dns: [GW], leaseSeconds: 600 },
      http: { port: 18611 },
      api: { listen: API },
      boot: { defaultProfile: 'thin', admission: { enabled: true, maxInHeavyPhase: 1, pollSeconds: 1, abandonSeconds: 30 } },
      profiles: { thin: { kernel: 'vmlinuz', cmdline: 'console=ttyS0' } },
    });
    await bg.start();
    admin = readFileSync(join(bg.dir, 'data/keys/admin.token'), 'utf8').trim();
    // a bridge made a moment ago may come up (carrier) just after "bootgate started": the LAN services then follow
    for (let i = 0; i < 200; i++) {
      if (lab.exec(lab.server, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--noproxy', '*', `${HTTP}/no-such-file`]) !== '000') break;
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  after(async () => {
    await bg?.stop();
    await lab.destroy();
  });

  const api = (method: string, path: string, body?: unknown): string =>
    curl([
      '--fail-with-body',
      '-X',
      method,
      '-H',
      `Authorization: Bearer ${admin}`,
      ...(body === undefined ? [] : ['-H', 'content-type: application/json', '--data-binary', JSON.stringify(body)]),
      `http://${API}/api/v1${path}`,
    ]);

  it('queues the second terminal, shows it in the API and metrics, admits it after /booted', () => {
    const a = curl([`${HTTP}/boot.ipxe?mac=${A}`]);
    assert.match(a, /^kernel http:\/\/.*\/vmlinuz$/m);
    const b = curl([`${HTTP}/boot.ipxe?mac=${B}`]);
    assert.match(b, /^echo bootgate: waiting: 0 ahead, about \d+ s$/m);
    const chain = /^chain --replace --autofree (\S+)$/m.exec(b)![1]!;
    assert.ok(chain.endsWith('&queued=1'), chain);
    const q = JSON.parse(curl(['-H', `Authorization: Bearer ${admin}`, `http://${API}/api/v1/boot/queue`])) as {
      enabled: boolean;
      bound: number;
      inHeavyPhase: Array<{ mac: string }>;
      waiting: Array<{ mac: string; ahead: number }>;
    };
    assert.equal(q.enabled, true);
    assert.equal(q.bound, 1);
    assert.deepEqual(
      q.inHeavyPhase.map((x) => x.mac),
      [A.replaceAll('-', ':')],
    );
    assert.deepEqual(
      q.waiting.map((x) => [x.mac, x.ahead]),
      [[B.replaceAll('-', ':'), 0]],
    );
    assert.equal(curl(['-o', '/dev/null', '-w', '%{http_code}', `http://${API}/api/v1/boot/queue`]), '401');
    const metrics = curl([`http://${API}/metrics`]);
    assert.match(metrics, /^bootgate_boot_queue_waiting 1$/m);
    assert.match(metrics, /^bootgate_boot_queue_in_heavy_phase 1$/m);
    // still waiting: the held request comes back with the place again
    assert.match(curl([chain]), /^echo bootgate: waiting: 0 ahead/m);
    assert.equal(curl(['-o', '/dev/null', '-w', '%{http_code}', `${HTTP}/booted?mac=${A}`]), '204');
    assert.match(curl([chain]), /^kernel http:\/\/.*\/vmlinuz$/m, bg!.output.slice(-3000));
    const after = curl([`http://${API}/metrics`]);
    assert.match(after, /^bootgate_boot_queue_released_total\{reason="booted"\} 1$/m);
    assert.match(after, /^bootgate_boot_queue_admitted_total\{priority="false"\} 2$/m);
  });

  it('a Wake-on-LAN of a seat group goes at the queue pace: 2 × bound packets, the next when a terminal boots', async () => {
    // the slot of the test above is given back first: an empty queue, bound 1, so 2 woken terminals may be unseen
    curl(['-o', '/dev/null', `${HTTP}/booted?mac=${B}`]);
    const lan = lab.addClient({ name: 'lan', bridge: 'br0', address: '10.121.1.9/24' });
    const listener: ChildProcess = lab.spawnIn(lan, process.execPath, [
      '-e',
      "const s=require('dgram').createSocket('udp4');s.on('message',(m)=>console.log(m.subarray(6,12).toString('hex')));s.bind(9,()=>console.log('ready'))",
    ]);
    let heard = '';
    listener.stdout!.on('data', (d: Buffer) => (heard += d.toString()));
    const macs = () => heard.split('\n').filter((l) => /^[0-9a-f]{12}$/.test(l));
    const until = async (what: string, cond: () => boolean): Promise<void> => {
      for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(cond(), `${what}: heard ${macs().join(' ')}`);
    };
    await until('the listener is ready', () => heard.includes('ready'));
    api('PUT', '/seat-groups/morning', { rateMinorPerHour: 0 });
    const [C, D, E] = ['52:54:00:b5:21:c3', '52:54:00:b5:21:d4', '52:54:00:b5:21:e5'];
    for (const [i, mac] of [C!, D!, E!].entries()) api('POST', '/seats', { name: `W${i}`, mac, group: 'morning' });
    // the API answers when the last packet is sent: in the background
    const wake = lab.spawnIn(lab.server, 'curl', [
      '-sS',
      '-X',
      'POST',
      '-H',
      `Authorization: Bearer ${admin}`,
      '-H',
      'content-type: application/json',
      '--data-binary',
      JSON.stringify({ group: 'morning' }),
      `http://${API}/api/v1/wake`,
    ]);
    let answer = '';
    wake.stdout!.on('data', (d: Buffer) => (answer += d.toString()));
    const answered = new Promise((r) => wake.once('exit', r));
    const hex = (m: string): string => m.replaceAll(':', '');
    await until('two packets', () => macs().length >= 2);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(macs(), [hex(C!), hex(D!)], 'the third waits: 2 woken terminals unseen = 2 × bound');
    // C asks for its script (admitted) and boots: D is still unseen and C gone → one place → E is woken
    assert.match(curl([`${HTTP}/boot.ipxe?mac=${C!.replaceAll(':', '-')}`]), /^kernel /m);
    assert.deepEqual(macs(), [hex(C!), hex(D!)], 'C in the heavy phase and D unseen still fill the pace');
    curl(['-o', '/dev/null', `${HTTP}/booted?mac=${C!.replaceAll(':', '-')}`]);
    await until('the third packet', () => macs().length >= 3);
    assert.deepEqual(macs(), [hex(C!), hex(D!), hex(E!)]);
    await answered;
    assert.equal((JSON.parse(answer) as { sent: number }).sent, 3, answer);
  });
});
