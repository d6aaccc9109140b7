import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsLab } from '../../src/lab/netns.ts';
import { BootgateProcess } from '../helpers/bootgate-process.ts';

/**
 * `bootgate serve` with `boot.admission` on (bound 1), in its own namespace (bgs21a-srv, br0 10.121.1.1/24), with
 * real curl: the composition root wires the queue into the HTTP boot server, `/booted` releases the slot,
 * GET /api/v1/boot/queue shows who holds and who waits, and the metrics are on /metrics.
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
  });
  after(async () => {
    await bg?.stop();
    await lab.destroy();
  });

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
});
