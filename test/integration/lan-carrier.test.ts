import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { NetnsLab, ip } from '../../src/lab/netns.ts';
import { BootgateProcess, writeScript } from '../helpers/bootgate-process.ts';

/**
 * The gateway that boots before its switch (issue 16, 1b), in namespaces this test builds and always removes:
 *   gateway ns: br0 10.68.0.1/24 whose only port (port0, a veth to the terminal) is down: no carrier
 *   terminal ns: eth0, busybox udhcpc and tftp-hpa
 * bootgate starts and waits; the port comes up; the terminal gets a lease and a file. Then the port and the
 * bridge go down and up again, and the bridge is deleted and made again: DHCP still answers each time.
 */
const API = '127.0.0.1:18468';
const SRV = '10.68.0.1';
const CONFIGURE_UDHCPC = [
  'echo "EVENT $1 ip=$ip serverid=$serverid"',
  'case "$1" in',
  '  bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface";;',
  '  deconfig) ip addr flush dev "$interface";;',
  'esac',
].join('\n');

/** Waits for a condition (no timing is asserted: the bound only keeps a broken run from hanging). */
async function until(what: string, cond: () => boolean, boundMs = 60_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** bootgate's pino log lines (JSON), parsed. */
function logLines(bg: BootgateProcess): { msg?: string; [k: string]: unknown }[] {
  return bg.output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string });
}

describe('the LAN interface without carrier at start (busybox udhcpc, tftp-hpa)', () => {
  const lab = new NetnsLab('bgcarr');
  let bg: BootgateProcess;
  let term: string;
  const file = randomBytes(70_000);

  const srv = (...args: string[]): string => ip('-n', lab.server, ...args);
  const up = (): number => bg.metric(API, 'bootgate_interface_up', { interface: 'br0', role: 'lan' });

  function udhcpc(): string {
    const script = writeScript(bg.dir, 'udhcpc.sh', CONFIGURE_UDHCPC);
    return lab.exec(term, 'busybox', ['udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '10', '-T', '1', '-s', script], { timeoutMs: 30_000 });
  }

  function assertLease(out: string): void {
    const bound = /EVENT bound ip=(10\.68\.0\.\d+) serverid=(\S+)/.exec(out);
    assert.ok(bound, out);
    assert.equal(bound[2], SRV);
  }

  before(async () => {
    lab.createServer('br0', `${SRV}/24`);
    term = lab.addClient({ name: 'term', bridge: 'br0', serverIfname: 'port0', mac: '52:54:00:68:00:01' });
    srv('link', 'set', 'port0', 'down');
    const root = mkdtempSync(join(tmpdir(), 'bgcarr-tftp-'));
    writeFileSync(join(root, 'pxelinux.0'), file);
    bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0' },
      log: { level: 'info' },
      dhcp: { subnet: '10.68.0.0/24', range: { start: '10.68.0.10', end: '10.68.0.50' }, router: SRV },
      tftp: { root },
      api: { listen: API },
    });
    await bg.start();
  });

  after(async () => {
    await lab.destroy();
  });

  it('starts with the management API while it waits, and says so once', () => {
    const waiting = logLines(bg).filter((l) => l.msg?.startsWith('waiting for interfaces.lan'));
    assert.equal(waiting.length, 1, bg.output);
    assert.match(waiting[0]!.msg!, /"br0": no carrier/);
    const started = logLines(bg).find((l) => l.msg === 'bootgate started') as { services: string[]; waitingForLan: string[] };
    assert.ok(started.services.includes('api'));
    assert.ok(started.waitingForLan.includes('dhcp') && started.waitingForLan.includes('tftp'), bg.output);
    assert.equal(up(), 0);
    assert.equal(bg.metric(API, 'bootgate_interface_waits_total', { interface: 'br0', role: 'lan' }), 1);
  });

  it('serves once the port comes up: a lease for udhcpc, a file for tftp-hpa', async () => {
    srv('link', 'set', 'port0', 'up');
    await until('the LAN services', () => logLines(bg).some((l) => l.msg === 'LAN services started'));
    assert.equal(up(), 1);
    assertLease(udhcpc());
    const out = join(bg.dir, 'got.bin');
    lab.exec(term, 'tftp', ['-m', 'binary', SRV, '-c', 'get', 'pxelinux.0', out]);
    assert.deepEqual(readFileSync(out), file);
  });

  it('keeps serving after the port goes down and up (carrier lost and back)', async () => {
    srv('link', 'set', 'port0', 'down');
    await until('the gauge to drop', () => up() === 0);
    assert.equal(bg.metric(API, 'bootgate_interface_waits_total', { interface: 'br0', role: 'lan' }), 2);
    srv('link', 'set', 'port0', 'up');
    await until('the gauge to rise', () => up() === 1);
    lab.exec(term, 'ip', ['addr', 'flush', 'dev', 'eth0']);
    assertLease(udhcpc());
    // nothing was restarted: the sockets outlived the carrier
    assert.ok(!logLines(bg).some((l) => l.msg?.includes('restarting the LAN services')), bg.output);
  });

  it('keeps serving after the bridge itself is set down and up (the DHCP tap re-arms)', async () => {
    srv('link', 'set', 'br0', 'down');
    await until('the gauge to drop', () => up() === 0);
    srv('link', 'set', 'br0', 'up');
    await until('the gauge to rise', () => up() === 1);
    lab.exec(term, 'ip', ['addr', 'flush', 'dev', 'eth0']);
    assertLease(udhcpc());
    assert.ok(!logLines(bg).some((l) => l.msg?.includes('restarting the LAN services')), bg.output);
  });

  it('restarts the LAN services when the bridge is deleted and made again', async () => {
    srv('link', 'del', 'br0');
    await until('the gauge to drop', () => up() === 0);
    srv('link', 'add', 'br0', 'type', 'bridge');
    srv('addr', 'add', `${SRV}/24`, 'dev', 'br0');
    srv('link', 'set', 'port0', 'master', 'br0');
    srv('link', 'set', 'br0', 'up');
    await until('the restart', () => logLines(bg).filter((l) => l.msg === 'LAN services started').length === 2);
    lab.exec(term, 'ip', ['addr', 'flush', 'dev', 'eth0']);
    assertLease(udhcpc());
  });
});

describe('start errors: a LAN interface name that does not exist, an API address not on the machine', () => {
  const lab = new NetnsLab('bgnoif');

  before(() => {
    lab.createServer('br0', '10.69.0.1/24');
  });
  after(async () => {
    await lab.destroy();
  });

  it('fails at start with INTERFACE_MISSING, naming the key and the value', async () => {
    const bg = new BootgateProcess(lab, {
      interfaces: { lan: 'nosuch0' },
      dhcp: { subnet: '10.69.0.0/24', range: { start: '10.69.0.10', end: '10.69.0.50' } },
      api: { listen: '127.0.0.1:18469' },
    });
    await assert.rejects(bg.start(), /exited \(2\)/);
    assert.match(bg.output, /bootgate: INTERFACE_MISSING: interfaces\.lan = "nosuch0": /);
  });

  it('an api.listen address not on the machine fails at start with SOCKET_BIND in one line, no stack', async () => {
    // 192.0.2.1 (TEST-NET-1) is on no interface: bind() fails in the kernel, nothing is sent anywhere
    const bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0' },
      dhcp: { subnet: '10.69.0.0/24', range: { start: '10.69.0.10', end: '10.69.0.50' } },
      api: { listen: '192.0.2.1:18470' },
    });
    await assert.rejects(bg.start(), /exited \(2\)/);
    assert.match(
      bg.output,
      /bootgate: SOCKET_BIND: api\.listen: cannot listen on 192\.0\.2\.1:18470: the address is not on this machine \(EADDRNOTAVAIL\)/,
    );
    assert.doesNotMatch(bg.output, /\n\s+at /, 'no stack trace');
  });
});
