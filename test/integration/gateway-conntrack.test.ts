/**
 * Flow records from conntrack inside `bootgate serve`: a seat namespace gets its lease from bootgate, a cashier
 * opens a session with the CLI, and the seat's non-proxied traffic — ICMP, UDP to an echo server, TCP to a
 * non-proxied port — reaches a "WAN" namespace through the gate's forwarding and masquerade. When each flow ends
 * (the test deletes its conntrack entry, which makes the kernel send DESTROY as a timeout would), exactly one
 * `flow` record lands in the real audit trail, against the person, with the kernel's byte counts. Plain HTTP from
 * the same seat goes through the transparent interceptor and is recorded once, as `http`, never as a flow.
 * Namespaces `bgct-*`, addresses in 10.93.0.0/16; the WAN has no route back to the LAN.
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuditRecord } from '../../src/audit/record.ts';
import { NetnsLab } from '../../src/lab/netns.ts';
import { AuditRepository } from '../../src/store/audit-repository.ts';
import { openDatabase } from '../../src/store/database.ts';
import { BIN, BootgateProcess, writeScript } from '../helpers/bootgate-process.ts';

const GW_LAN = '10.93.1.1';
const GW_WAN = '10.93.2.1';
const WAN_HOST = '10.93.2.2';
const SEAT_MAC = '52:54:00:93:00:10';
const API = '127.0.0.1:18493';
const UDP_PORT = 7777;
const TCP_PORT = 2222;
const UDP_DATAGRAMS = 5;
const UDP_PAYLOAD = 200;
const TCP_UP = 3000;
const TCP_DOWN = 700;
/** IPv4 header without options + UDP header (RFC 791, RFC 768) */
const IPV4_UDP_HEADERS = 20 + 8;
/** the smallest IPv4 + TCP header (RFC 791, RFC 9293): each TCP packet carries at least this */
const MIN_IPV4_TCP_HEADERS = 20 + 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('flow records from conntrack (bootgate serve: DHCP lease → session → forwarded UDP/TCP/ICMP audited)', () => {
  const lab = new NetnsLab('bgct');
  let bg: BootgateProcess | undefined;
  let seatNs = '';
  let seatIp = '';
  let userId = '';
  let sessionId = '';

  const cli = (...args: string[]): string => lab.exec(lab.server, process.execPath, [BIN, ...args, '--config', bg!.configFile]).trim();
  /** conntrack in the gateway namespace; -D of a flow makes the kernel report its DESTROY with the counters */
  const conntrackDelete = (...filter: string[]): void => {
    try {
      lab.exec(lab.server, 'conntrack', ['-D', '--orig-src', seatIp, ...filter]);
    } catch {
      /* exit status 1: no entry matched (already gone) */
    }
  };
  const flows = (): AuditRecord[] => {
    const db = openDatabase(join(bg!.dir, 'data/bootgate.db'), { readonly: true });
    try {
      return new AuditRepository(db).query({ kind: 'flow' });
    } finally {
      db.close();
    }
  };
  const all = (): AuditRecord[] => {
    const db = openDatabase(join(bg!.dir, 'data/bootgate.db'), { readonly: true });
    try {
      return new AuditRepository(db).query({});
    } finally {
      db.close();
    }
  };
  async function waitFlows(pred: (r: AuditRecord) => boolean, n = 1, timeoutMs = 15_000): Promise<AuditRecord[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = flows().filter(pred);
      if (found.length >= n) return found;
      if (Date.now() > deadline) throw new Error(`flow records: ${JSON.stringify(flows())}\nbootgate output:\n${bg!.output.slice(-4000)}`);
      await sleep(100);
    }
  }
  const seatNode = (code: string): string => lab.exec(seatNs, process.execPath, ['--input-type=module', '-e', code], { timeoutMs: 20_000 }).trim();

  before(async () => {
    lab.createServer('br0', `${GW_LAN}/24`);
    seatNs = lab.addClient({ name: 'seat', bridge: 'br0', mac: SEAT_MAC });
    const wanNs = lab.addClient({ name: 'wan', address: `${WAN_HOST}/24`, serverIfname: 'wan0', serverAddress: `${GW_WAN}/24` });
    bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0', wan: 'wan0' },
      dhcp: { subnet: '10.93.1.0/24', range: { start: '10.93.1.100', end: '10.93.1.150' }, router: GW_LAN, dns: [GW_LAN] },
      gateway: { enabled: true, allowDestinations: ['10.93.2.0/24'] },
      api: { listen: API },
    });
    const wanScript = join(bg.dir, 'wan.mjs');
    writeFileSync(
      wanScript,
      `import dgram from 'node:dgram'; import net from 'node:net'; import http from 'node:http';
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => u.send(m, r.port, r.address));
u.bind(${UDP_PORT}, '${WAN_HOST}');
// reads the whole request (until the client half-closes), then answers ${TCP_DOWN} bytes and closes
net.createServer({ allowHalfOpen: true }, (s) => { s.resume(); s.on('end', () => s.end(Buffer.alloc(${TCP_DOWN}, 0x62))); }).listen(${TCP_PORT}, '${WAN_HOST}');
http.createServer((q, r) => r.end('plain from the wan\\n')).listen(80, '${WAN_HOST}', () => console.log('wan ready'));`,
    );
    const wan = lab.spawnIn(wanNs, process.execPath, [wanScript]);
    await new Promise<void>((resolve, reject) => {
      wan.stdout!.on('data', (c: Buffer) => c.toString().includes('wan ready') && resolve());
      wan.once('exit', () => reject(new Error('WAN servers exited')));
    });
    await bg.start();
    const script = writeScript(
      bg.dir,
      'udhcpc.sh',
      'case "$1" in bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface"; ip route replace default via "$router";; esac',
    );
    lab.exec(seatNs, 'busybox', ['udhcpc', '-i', 'eth0', '-q', '-n', '-t', '4', '-T', '1', '-s', script], { timeoutMs: 20_000 });
    seatIp = /inet (10\.93\.1\.\d+)\//.exec(lab.exec(seatNs, 'ip', ['-4', 'addr', 'show', 'eth0']))![1]!;
    userId = cli('users', 'add', '--name', 'Ana Pérez', '--doc-type', 'passport', '--doc-number', 'X1234567', '--doc-country', 'ES');
    cli('seats', 'add', '--name', 'S1', '--mac', SEAT_MAC);
    sessionId = cli('sessions', 'open', '--user', userId, '--seat', 'S1');
  });

  after(async () => {
    try {
      // SIGTERM first so bootgate restores what it changed; destroy() kills whatever is left
      if (bg) await Promise.race([bg.stop(), sleep(10_000)]);
    } finally {
      await lab.destroy();
      if (bg) rmSync(bg.dir, { recursive: true, force: true });
    }
  });

  it('start: accounting and timestamps are turned on in the gateway namespace, and logged', () => {
    assert.equal(lab.exec(lab.server, 'sysctl', ['-n', 'net.netfilter.nf_conntrack_acct']).trim(), '1');
    assert.equal(lab.exec(lab.server, 'sysctl', ['-n', 'net.netfilter.nf_conntrack_timestamp']).trim(), '1');
    assert.match(bg!.output, /net\.netfilter\.nf_conntrack_acct = 1/);
    assert.match(bg!.output, /net\.netfilter\.nf_conntrack_timestamp = 1/);
    assert.match(bg!.output, /conntrack event listener started/);
  });

  it('ICMP: a ping that ends becomes one flow record (port 0), 84 bytes each way', async () => {
    // The gate opens asynchronously after the session commits, and the conntrack child subscribes to events a
    // moment after it is spawned: ping until a ping's flow is recorded (each try is its own flow).
    let recorded: AuditRecord[] = [];
    for (let i = 0; i < 20 && recorded.length === 0; i++) {
      try {
        lab.exec(seatNs, 'ping', ['-c', '1', '-W', '1', WAN_HOST]);
      } catch {
        await sleep(200);
        continue;
      }
      conntrackDelete('-p', 'icmp');
      try {
        recorded = await waitFlows((r) => r.method === 'icmp', 1, 2000);
      } catch {
        /* not listening yet: ping again */
      }
    }
    assert.ok(recorded.length >= 1, `no icmp flow record; bootgate output:\n${bg!.output.slice(-3000)}`);
    for (const r of recorded) {
      assert.equal(r.seat, 'S1');
      assert.equal(r.ip, seatIp);
      assert.equal(r.host, WAN_HOST);
      assert.equal(r.port, 0);
      // one echo request and one reply: 20 (IPv4) + 8 (ICMP) + 56 (ping's default data) = 84 bytes each
      assert.equal(r.bytesUp, 84);
      assert.equal(r.bytesDown, 84);
    }
  });

  it('plain HTTP goes through the transparent interceptor: one http record, no flow record for it', async () => {
    const body = lab.exec(seatNs, 'curl', ['-sS', '--max-time', '5', `http://${WAN_HOST}/`]);
    assert.equal(body, 'plain from the wan\n');
    conntrackDelete('-p', 'tcp', '--dport', '80');
    const http = all().filter((r) => r.kind === 'http' && r.host === WAN_HOST);
    assert.equal(http.length, 1, 'the interceptor recorded it');
  });

  it('UDP: datagrams to an echo server become one flow record with the exact layer-3 bytes', async () => {
    const echoed = seatNode(
      `import dgram from 'node:dgram';
const s = dgram.createSocket('udp4'); let n = 0;
s.on('message', () => { if (++n === ${UDP_DATAGRAMS}) { s.close(); console.log(n); } });
s.bind(() => { for (let i = 0; i < ${UDP_DATAGRAMS}; i++) s.send(Buffer.alloc(${UDP_PAYLOAD}, i), ${UDP_PORT}, '${WAN_HOST}'); });
setTimeout(() => { console.log(n); process.exit(1); }, 5000).unref();`,
    );
    assert.equal(echoed, String(UDP_DATAGRAMS));
    conntrackDelete('-p', 'udp', '--dport', String(UDP_PORT));
    const [r] = await waitFlows((x) => x.method === 'udp' && x.port === UDP_PORT);
    assert.equal(r!.seat, 'S1');
    assert.equal(r!.ip, seatIp);
    assert.equal(r!.mac, SEAT_MAC);
    assert.equal(r!.userId, userId);
    assert.equal(r!.userName, 'Ana Pérez');
    assert.equal(r!.docType, 'passport');
    assert.equal(r!.docNumber, 'X1234567');
    assert.equal(r!.sessionId, sessionId);
    assert.equal(r!.host, WAN_HOST);
    assert.equal(r!.verdict, 'allowed');
    // conntrack counts whole IP packets: each datagram is payload + 20 (IPv4, no options) + 8 (UDP); the echo
    // sends the same datagrams back
    assert.equal(r!.bytesUp, UDP_DATAGRAMS * (UDP_PAYLOAD + IPV4_UDP_HEADERS));
    assert.equal(r!.bytesDown, UDP_DATAGRAMS * (UDP_PAYLOAD + IPV4_UDP_HEADERS));
    assert.equal(r!.docCountry, 'ES');
    // the kernel's view, kept in detail: the audit log stamps `time` at commit, after the flow ended
    const d = JSON.parse(r!.detail!) as { start: string; end: string; packetsUp: number; packetsDown: number };
    assert.deepEqual([d.packetsUp, d.packetsDown], [UDP_DATAGRAMS, UDP_DATAGRAMS]);
    assert.ok(Date.parse(d.start) <= Date.parse(d.end) && Date.parse(d.end) <= r!.time, `${d.start} ${d.end} ${new Date(r!.time).toISOString()}`);
    // durationMs truncates the ns difference, Date.parse truncates each end to ms: they differ by at most 1
    assert.ok(Math.abs(r!.durationMs! - (Date.parse(d.end) - Date.parse(d.start))) <= 1);
  });

  it('TCP to a non-proxied port: one flow record; bytes = payload + whole 32-bit-word headers of ≥ 5 / ≥ 3 packets', async () => {
    const got = seatNode(
      `import net from 'node:net';
let got = 0;
const s = net.connect(${TCP_PORT}, '${WAN_HOST}', () => s.end(Buffer.alloc(${TCP_UP}, 0x61)));
s.on('data', (d) => { got += d.length; });
s.on('close', () => console.log(got));`,
    );
    assert.equal(got, String(TCP_DOWN));
    conntrackDelete('-p', 'tcp', '--dport', String(TCP_PORT));
    const [r] = await waitFlows((x) => x.method === 'tcp' && x.port === TCP_PORT);
    assert.equal(r!.seat, 'S1');
    assert.equal(r!.userId, userId);
    assert.equal(r!.docNumber, 'X1234567');
    assert.equal(r!.sessionId, sessionId);
    assert.equal(r!.host, WAN_HOST);
    // Up: at least SYN, the handshake's ACK, one data segment, FIN and the ACK of the server's FIN; down: at
    // least SYN-ACK, one data segment and FIN. Every IPv4 and TCP header is a whole number of 32-bit words
    // (IHL, data offset), so what is not payload is a multiple of 4.
    const overheadUp = r!.bytesUp! - TCP_UP;
    const overheadDown = r!.bytesDown! - TCP_DOWN;
    assert.ok(overheadUp >= 5 * MIN_IPV4_TCP_HEADERS, `up ${r!.bytesUp}`);
    assert.ok(overheadDown >= 3 * MIN_IPV4_TCP_HEADERS, `down ${r!.bytesDown}`);
    assert.equal(overheadUp % 4, 0);
    assert.equal(overheadDown % 4, 0);
  });

  it('exactly one flow record per flow, none for the intercepted HTTP; the redirect was seen and skipped', async () => {
    // The HTTP flow's DESTROY came before the UDP and TCP ones on the same event stream, which are recorded:
    // it has been handled.
    const f = flows();
    assert.equal(f.filter((r) => r.method === 'udp' && r.port === UDP_PORT).length, 1);
    assert.equal(f.filter((r) => r.method === 'tcp' && r.port === TCP_PORT).length, 1);
    assert.equal(f.filter((r) => r.port === 80 || r.port === 3129).length, 0);
    assert.ok(
      f.every((r) => r.host === WAN_HOST),
      'nothing to the gateway itself (DHCP, API) is a flow',
    );
    assert.ok(bg!.metric(API, 'bootgate_gateway_flows_total', { outcome: 'redirected' }) >= 1);
    assert.equal(bg!.metric(API, 'bootgate_gateway_conntrack_malformed_total'), 0);
  });

  it('the flow records are in the signed, verifiable export', () => {
    const file = join(bg!.dir, 'export.ndjson');
    cli('audit', 'export', '--from', '2020-01-01', '--to', '2100-01-01', '--format', 'ndjson', '--out', file);
    const kinds = lab
      .exec(lab.server, 'cat', [file])
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { kind: string }).kind);
    assert.ok(kinds.filter((k) => k === 'flow').length >= 3);
    const out = lab.exec(lab.server, process.execPath, [
      BIN,
      'audit',
      'verify',
      file,
      '--public-key',
      join(bg!.dir, 'data/keys/audit-ed25519.pub.pem'),
    ]);
    assert.match(out, /OK/);
  });

  it('stop: the conntrack child is ended and the sysctls are put back', async () => {
    const pid = Number(/"pid":(\d+)[^\n]*conntrack event listener started/.exec(bg!.output)![1]);
    assert.ok(existsSync(`/proc/${pid}`));
    assert.equal(await bg!.stop(), 0);
    assert.equal(existsSync(`/proc/${pid}`), false);
    assert.equal(lab.exec(lab.server, 'sysctl', ['-n', 'net.netfilter.nf_conntrack_acct']).trim(), '0');
    assert.equal(lab.exec(lab.server, 'sysctl', ['-n', 'net.netfilter.nf_conntrack_timestamp']).trim(), '0');
  });
});
