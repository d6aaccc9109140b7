import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { NetnsLab } from '../../src/lab/netns.ts';
import { intToIp } from '../../src/wire/ipv4.ts';
import { BootgateProcess, writeScript } from '../helpers/bootgate-process.ts';

/**
 * bootgate against real DHCP clients, in namespaces this test builds and always removes:
 *   gateway ns: br0 10.66.0.1/24 (LAN, terminals bridged on it) and wan0 10.67.0.1/24 (WAN)
 *   udhcpc, dhclient, perfdhcp terminals on the LAN; a udhcpc on the WAN side that must get nothing.
 */
const API = '127.0.0.1:18443';
/** udhcpc hook lines that configure the interface like a real client, so unicast RENEW/RELEASE can leave. */
const CONFIGURE_UDHCPC = [
  'case "$1" in',
  '  bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface";;',
  '  deconfig) ip addr flush dev "$interface";;',
  'esac',
].join('\n');
const LEASE_SECONDS = 600;

describe('DHCP with real clients (busybox udhcpc, ISC dhclient, Kea perfdhcp)', () => {
  const lab = new NetnsLab('bgdhcp');
  let bg: BootgateProcess;
  let udhcpcNs: string;
  let dhclientNs: string;
  let perfNs: string;
  let wanNs: string;

  before(async () => {
    lab.createServer('br0', '10.66.0.1/24');
    udhcpcNs = lab.addClient({ name: 'udhcpc', bridge: 'br0', mac: '52:54:00:66:00:01' });
    dhclientNs = lab.addClient({ name: 'dhclient', bridge: 'br0', mac: '52:54:00:66:00:02' });
    perfNs = lab.addClient({ name: 'perf', bridge: 'br0', address: '10.66.0.2/24' });
    wanNs = lab.addClient({ name: 'wan', serverIfname: 'wan0', serverAddress: '10.67.0.1/24', mac: '52:54:00:67:00:01' });
    bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0', wan: 'wan0' },
      log: { level: 'info' },
      dhcp: {
        subnet: '10.66.0.0/24',
        range: { start: '10.66.0.10', end: '10.66.0.250' },
        router: '10.66.0.1',
        dns: ['10.66.0.1', '10.66.0.53'],
        leaseSeconds: LEASE_SECONDS,
        rateLimit: { perMacPerSecond: 50, burst: 100 },
        // the storm test below exercises the server's own decoding, so the bridge's storm control (which would
        // drop most of that burst before the server sees it) is off here; test/integration/dhcp-starvation covers it
        starvation: { bridgeRateLimit: { perSourcePerSecond: 0 } },
        // perfdhcp below plays a relay (giaddr = its own address)
        relayAgents: ['10.66.0.2'],
      },
      ipv6: { routerAdvertisements: { prefix: 'fd00:66::/64', intervalSeconds: 3 } },
      api: { listen: API },
    });
    await bg.start();
  });

  after(async () => {
    await lab.destroy();
  });

  function udhcpc(ns: string, extra: string[] = []): string {
    const script = writeScript(
      bg.dir,
      'udhcpc.sh',
      `echo "EVENT $1 ip=$ip mask=$mask router=$router dns=$dns lease=$lease serverid=$serverid"\n${CONFIGURE_UDHCPC}`,
    );
    return lab.exec(ns, 'busybox', ['udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '4', '-T', '1', '-s', script, ...extra], { timeoutMs: 20_000 });
  }

  it('udhcpc obtains a lease with router, DNS and lease time; the lease is committed', () => {
    const out = udhcpc(udhcpcNs);
    const bound = /EVENT bound ip=(\S+) mask=(\S+) router=(\S+) dns=(.*) lease=(\d+) serverid=(\S+)/.exec(out);
    assert.ok(bound, out);
    assert.match(bound[1]!, /^10\.66\.0\.\d+$/);
    assert.equal(bound[2], '24');
    assert.equal(bound[3], '10.66.0.1');
    assert.deepEqual(bound[4]!.trim().split(/\s+/), ['10.66.0.1', '10.66.0.53']);
    assert.equal(bound[5], String(LEASE_SECONDS));
    assert.equal(bound[6], '10.66.0.1');
    const db = new Database(join(bg.dir, 'data/bootgate.db'), { readonly: true });
    const row = db.prepare("SELECT ip, state FROM leases WHERE mac = '52:54:00:66:00:01'").get() as { ip: number; state: string };
    db.close();
    assert.equal(intToIp(row.ip), bound[1]);
    assert.equal(row.state, 'bound');
  });

  it('udhcpc renews (SIGUSR1 → unicast REQUEST) and releases (SIGUSR2 → RELEASE)', async () => {
    const script = writeScript(bg.dir, 'udhcpc-events.sh', `echo "EVENT $1 ip=$ip"\n${CONFIGURE_UDHCPC}`);
    const child = lab.spawnIn(udhcpcNs, 'busybox', ['udhcpc', '-i', 'eth0', '-f', '-t', '4', '-T', '1', '-s', script]);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const waitFor = async (re: RegExp): Promise<RegExpExecArray> => {
      for (let i = 0; i < 100; i++) {
        const m = re.exec(out);
        if (m) return m;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.fail(`no ${re} in:\n${out}`);
    };
    const bound = await waitFor(/EVENT bound ip=(\S+)/);
    const acksBefore = bg.metric(API, 'bootgate_dhcp_packets_out_total', { type: 'ACK' });
    process.kill(child.pid!, 'SIGUSR1');
    const renewed = await waitFor(/EVENT renew ip=(\S+)/);
    assert.equal(renewed[1], bound[1]);
    assert.equal(bg.metric(API, 'bootgate_dhcp_packets_out_total', { type: 'ACK' }), acksBefore + 1);
    process.kill(child.pid!, 'SIGUSR2');
    await waitFor(/EVENT deconfig/);
    for (let i = 0; i < 50 && bg.metric(API, 'bootgate_dhcp_packets_in_total', { type: 'RELEASE' }) < 1; i++)
      await new Promise((r) => setTimeout(r, 100));
    const db = new Database(join(bg.dir, 'data/bootgate.db'), { readonly: true });
    const row = db.prepare("SELECT state FROM leases WHERE mac = '52:54:00:66:00:01'").get() as { state: string };
    db.close();
    assert.equal(row.state, 'released');
    process.kill(child.pid!, 'SIGTERM');
  });

  it('dhclient obtains a lease (router, DNS, lease time, T1, T2), renews it from its lease file, and releases it', () => {
    const dump = writeScript(
      bg.dir,
      'dhclient-script.sh',
      [
        'echo "REASON=$reason IP=$new_ip_address ROUTERS=$new_routers DNS=$new_domain_name_servers LEASE=$new_dhcp_lease_time T1=$new_dhcp_renewal_time T2=$new_dhcp_rebinding_time SID=$new_dhcp_server_identifier"',
        'case "$reason" in BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/24" dev "$interface";; RELEASE|EXPIRE|STOP) ip addr flush dev "$interface";; esac',
        'exit 0',
      ].join('\n'),
    );
    const leaseFile = join(bg.dir, 'dhclient.leases');
    const args = ['-4', '-1', '-v', '-d', '-sf', dump, '-lf', leaseFile, '-pf', join(bg.dir, 'dhclient.pid'), 'eth0'];
    // -d keeps it in the foreground; it keeps running after binding, so bound by timeout and read what it printed.
    const run = (extra: string[]): string => {
      try {
        return lab.exec(dhclientNs, 'timeout', ['6', 'dhclient', ...extra, ...args], { timeoutMs: 15_000 });
      } catch (e) {
        const err = e as { stdout?: string; stderr?: string };
        return `${err.stdout ?? ''}${err.stderr ?? ''}`;
      }
    };
    const first = run([]);
    const bound = /REASON=BOUND IP=(\S+) ROUTERS=(\S+) DNS=(.+?) LEASE=(\d+) T1=(\d+) T2=(\d+) SID=(\S+)/.exec(first);
    assert.ok(bound, first);
    assert.equal(bound[2], '10.66.0.1');
    assert.equal(bound[3], '10.66.0.1 10.66.0.53');
    assert.equal(bound[4], String(LEASE_SECONDS));
    assert.equal(bound[5], String(LEASE_SECONDS / 2));
    assert.equal(bound[6], String((LEASE_SECONDS * 7) / 8));
    assert.equal(bound[7], '10.66.0.1');
    assert.match(readFileSync(leaseFile, 'utf8'), new RegExp(`fixed-address ${bound[1]!.replaceAll('.', '\\.')}`));

    // A second run finds the lease in its file and asks for it again (INIT-REBOOT); it must get the same address.
    const second = run([]);
    const again = /REASON=(REBOOT|BOUND|RENEW) IP=(\S+)/.exec(second);
    assert.ok(again, second);
    assert.equal(again[2], bound[1]);

    lab.exec(dhclientNs, 'dhclient', ['-4', '-r', '-sf', dump, '-lf', leaseFile, '-pf', join(bg.dir, 'dhclient.pid'), 'eth0'], { timeoutMs: 15_000 });
    const db = new Database(join(bg.dir, 'data/bootgate.db'), { readonly: true });
    const row = db.prepare("SELECT state FROM leases WHERE mac = '52:54:00:66:00:02'").get() as { state: string };
    db.close();
    assert.equal(row.state, 'released');
  });

  it('answers only on the LAN: a DISCOVER arriving on the WAN interface gets no offer', () => {
    const rxBefore = Number(lab.exec(lab.server, 'cat', ['/sys/class/net/wan0/statistics/rx_packets']));
    const offersBefore = bg.metric(API, 'bootgate_dhcp_packets_out_total', { type: 'OFFER' });
    let wanOut = '';
    assert.throws(() => {
      try {
        udhcpc(wanNs);
      } catch (e) {
        wanOut = String((e as { stdout?: string }).stdout ?? '');
        throw e;
      }
    }, 'udhcpc on the WAN side fails to get a lease');
    assert.doesNotMatch(wanOut, /EVENT bound/);
    const rxAfter = Number(lab.exec(lab.server, 'cat', ['/sys/class/net/wan0/statistics/rx_packets']));
    assert.ok(rxAfter - rxBefore >= 3, `the WAN DISCOVERs did reach the gateway (${rxAfter - rxBefore} packets)`);
    assert.equal(bg.metric(API, 'bootgate_dhcp_packets_out_total', { type: 'OFFER' }), offersBefore, 'no OFFER was sent for them');
    // …while the LAN is still served.
    assert.match(udhcpc(udhcpcNs), /EVENT bound ip=10\.66\.0\.\d+/);
  });

  it('perfdhcp (as a relay) completes DORA exchanges; every ACKed lease is committed and survives kill -9', async () => {
    let out: string;
    try {
      out = lab.exec(perfNs, 'perfdhcp', ['-4', '-l', 'eth0', '-r', '50', '-n', '100', '-R', '100', '-p', '10', '10.66.0.1'], { timeoutMs: 60_000 });
    } catch (e) {
      // perfdhcp exits 3 when any exchange was dropped; the counts below decide.
      const err = e as { status?: number; stdout?: string };
      assert.equal(err.status, 3, String(e));
      out = err.stdout ?? '';
    }
    const section = out.split('***Statistics for: REQUEST-ACK')[1] ?? '';
    const acks = Number(/received packets: (\d+)/.exec(section)?.[1] ?? 0);
    assert.ok(acks >= 90, `perfdhcp got ${acks} ACKs:\n${out}`);

    const countBound = (): number => {
      const db = new Database(join(bg.dir, 'data/bootgate.db'), { readonly: true });
      const n = (db.prepare("SELECT count(*) AS n FROM leases WHERE state = 'bound'").get() as { n: number }).n;
      db.close();
      return n;
    };
    const before = countBound();
    assert.ok(before >= acks, `${before} bound leases in the store for ${acks} ACKs`);
    await bg.kill9();
    assert.equal(countBound(), before, 'nothing lost to kill -9');
    await bg.start();
    // A new client after the restart never receives an address that is still bound to someone else.
    const out2 = udhcpc(udhcpcNs);
    const ipNow = /EVENT bound ip=(\S+)/.exec(out2)![1]!;
    const db = new Database(join(bg.dir, 'data/bootgate.db'), { readonly: true });
    const owners = db.prepare('SELECT mac FROM leases WHERE ip = ?').all(Number(ipNow.split('.').reduce((a, b) => a * 256 + Number(b), 0))) as Array<{
      mac: string;
    }>;
    db.close();
    assert.deepEqual(
      owners.map((o) => o.mac),
      ['52:54:00:66:00:01'],
    );
    assert.ok(countBound() >= before);
  });

  it('a storm of random and mutated packets is dropped and counted; the server keeps answering', () => {
    const seed = readFileSync(join(import.meta.dirname, '../fixtures/dhcp/udhcpc-discover.hex'), 'utf8').trim();
    const py = `
import random, socket
random.seed(7)
seed = bytes.fromhex("${seed}")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
s.bind(("0.0.0.0", 68))
for i in range(3000):
    if i % 3 == 0:
        b = bytes(random.getrandbits(8) for _ in range(random.randint(0, 700)))
    else:
        b = bytearray(seed)
        for _ in range(random.randint(1, 10)):
            b[random.randrange(len(b))] = random.getrandbits(8)
        if i % 5 == 0:
            b = b[:random.randrange(len(b))]
        b = bytes(b)
    s.sendto(b, ("255.255.255.255", 67))
print("sent")
`;
    const malformedBefore = bg.metric(API, 'bootgate_dhcp_drops_total');
    assert.match(lab.exec(perfNs, 'python3', ['-c', py], { timeoutMs: 60_000 }), /sent/);
    assert.match(udhcpc(udhcpcNs), /EVENT bound ip=10\.66\.0\.\d+/, 'still serving');
    assert.ok(bg.metric(API, 'bootgate_dhcp_drops_total') - malformedBefore >= 1000, 'drops counted');
    assert.equal(bg.child!.exitCode, null, 'bootgate still running');
  });

  it('sends IPv6 router advertisements on the LAN only: a terminal autoconfigures from the ULA prefix, the WAN side does not', async () => {
    let addrs = '';
    for (let i = 0; i < 100 && !addrs.includes('fd00:66:'); i++) {
      // Linux answers our RA with SLAAC once its link-local address has passed DAD (about a second).
      addrs = lab.exec(dhclientNs, 'ip', ['-6', 'addr', 'show', 'dev', 'eth0']);
      if (!addrs.includes('fd00:66:')) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(addrs, /inet6 fd00:66::[0-9a-f:]+\/64 scope global/);
    assert.doesNotMatch(lab.exec(wanNs, 'ip', ['-6', 'addr', 'show', 'dev', 'eth0']), /fd00:66:/);
  });

  it('stops cleanly on SIGTERM', async () => {
    assert.equal(await bg.stop(), 0);
  });
});
