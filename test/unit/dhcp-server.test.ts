import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageType as T, Opt } from '../../src/dhcp/constants.ts';
import { optIp, optU8, parseSubOptions } from '../../src/dhcp/options.ts';
import { openDatabase } from '../../src/store/database.ts';
import { intToIp, ipToInt } from '../../src/wire/ipv4.ts';
import { clientPacket, ip, text, u16 } from '../helpers/dhcp-client-packets.ts';
import { baseConfig, makeHarness, SERVER_ID } from '../helpers/dhcp-harness.ts';

const MAC = '52:54:00:aa:00:01';
/** the relay agent the harness trusts (dhcp.relayAgents), sending from its address to port 67 */
const RELAY = { address: '10.20.0.1', port: 67 };
const MAC2 = '52:54:00:aa:00:02';
const sid = ip(SERVER_ID);

async function dora(h: ReturnType<typeof makeHarness>, mac = MAC): Promise<string> {
  const [offer] = await h.exchange(clientPacket({ type: T.DISCOVER, mac, broadcast: true }));
  assert.ok(offer, 'an offer');
  const yiaddr = intToIp(offer.p.yiaddr);
  const [ack] = await h.exchange(
    clientPacket({
      type: T.REQUEST,
      mac,
      broadcast: true,
      options: [
        [Opt.SERVER_ID, sid],
        [Opt.REQUESTED_IP, ip(yiaddr)],
      ],
    }),
  );
  assert.equal(optU8(ack!.p, Opt.MESSAGE_TYPE), T.ACK);
  return yiaddr;
}

describe('DHCP server: RFC 2131 state machine (PROTOCOLS.md §7 checks 1-10)', () => {
  it('check 1: broadcast DISCOVER → OFFER to 255.255.255.255:68 with 51 and 54, never 50/55/57/61; fields echoed', async () => {
    const h = makeHarness();
    const req = clientPacket({
      type: T.DISCOVER,
      mac: MAC,
      xid: 0xdeadbeef,
      broadcast: true,
      options: [
        [Opt.PARAMETER_LIST, Buffer.from([1, 3, 6, 51])],
        [Opt.MAX_MESSAGE_SIZE, u16(1500)],
        [Opt.CLIENT_ID, Buffer.from([1, 0x52, 0x54, 0, 0xaa, 0, 1])],
        [Opt.REQUESTED_IP, ip('10.9.0.150')],
      ],
    });
    const replies = await h.exchange(req);
    assert.equal(replies.length, 1);
    const [r] = replies;
    assert.equal(r!.address, '255.255.255.255');
    assert.equal(r!.port, 68);
    const p = r!.p;
    assert.equal(p.op, 2);
    assert.equal(optU8(p, Opt.MESSAGE_TYPE), T.OFFER);
    assert.equal(p.xid, 0xdeadbeef);
    assert.equal(p.flags, 0x8000);
    assert.equal(p.chaddr.subarray(0, 6).toString('hex'), '525400aa0001');
    assert.equal(p.options.get(Opt.LEASE_TIME)!.readUInt32BE(0), 3600);
    assert.equal(intToIp(optIp(p, Opt.SERVER_ID)!), SERVER_ID);
    for (const never of [Opt.REQUESTED_IP, Opt.PARAMETER_LIST, Opt.MAX_MESSAGE_SIZE, Opt.CLIENT_ID])
      assert.equal(p.options.has(never), false, `option ${never}`);
    assert.equal(intToIp(p.yiaddr), '10.9.0.150', 'option 50 honoured when free (§4.3.1)');
    assert.equal(p.hops, 0);
    assert.equal(p.secs, 0);
    h.close();
  });

  it('check 2: relayed DISCOVER (giaddr) → OFFER to giaddr:67 from the relay subnet; unknown relay subnet dropped', async () => {
    const h = makeHarness();
    const [r] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC, giaddr: '10.20.0.1' }), 67, RELAY);
    assert.equal(r!.address, '10.20.0.1');
    assert.equal(r!.port, 67);
    assert.equal(intToIp(r!.p.yiaddr), '10.20.0.50');
    assert.equal(intToIp(optIp(r!.p, Opt.ROUTER)!), '10.20.0.1');
    assert.equal(intToIp(r!.p.giaddr), '10.20.0.1');
    assert.deepEqual(
      await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC2, giaddr: '192.168.5.1' }), 67, { address: '10.20.0.1', port: 67 }),
      [],
    );
    assert.equal(await h.metric('bootgate_dhcp_drops_total', { reason: 'unknown_relay_subnet' }), 1);
    h.close();
  });

  it('a giaddr from an address that is not a relay agent (a terminal passing for a relay) is dropped and counted', async () => {
    const h = makeHarness();
    // a LAN terminal writing the relay subnet's giaddr, and one writing a LAN giaddr to skip the frame-source checks
    for (const giaddr of ['10.20.0.1', '10.9.0.77'])
      assert.deepEqual(
        await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC, giaddr }), 67, { address: '10.9.0.123', port: 68, linkSource: MAC }),
        [],
      );
    assert.deepEqual(await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC, giaddr: '10.20.0.1' }), 67, { address: '0.0.0.0', port: 68 }), []);
    assert.equal(await h.metric('bootgate_dhcp_drops_total', { reason: 'untrusted_relay' }), 3);
    // the same client without giaddr is served as usual
    const [r] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC }), 67, { address: '0.0.0.0', port: 68, linkSource: MAC });
    assert.equal(optU8(r!.p, Opt.MESSAGE_TYPE), T.OFFER);
    h.close();
  });

  it('check 3: SELECTING with our 54 → ACK for the offered address, T1 < T2 < lease; another 54 → silence and offer freed', async () => {
    const h = makeHarness();
    const [offer] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC, broadcast: true }));
    const offered = offer!.p.yiaddr;
    const [ack] = await h.exchange(
      clientPacket({
        type: T.REQUEST,
        mac: MAC,
        broadcast: true,
        options: [
          [Opt.SERVER_ID, sid],
          [Opt.REQUESTED_IP, ip(intToIp(offered))],
        ],
      }),
    );
    assert.equal(optU8(ack!.p, Opt.MESSAGE_TYPE), T.ACK);
    assert.equal(ack!.p.yiaddr, offered);
    const t1 = ack!.p.options.get(Opt.RENEWAL_T1)!.readUInt32BE(0);
    const t2 = ack!.p.options.get(Opt.REBINDING_T2)!.readUInt32BE(0);
    const lease = ack!.p.options.get(Opt.LEASE_TIME)!.readUInt32BE(0);
    assert.ok(t1 < t2 && t2 < lease, `${t1} < ${t2} < ${lease}`);
    assert.equal(h.server.table.leaseOf(`hw:${MAC}`)!.state, 'bound');

    const [offer2] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC2, broadcast: true }));
    assert.deepEqual(
      await h.exchange(
        clientPacket({
          type: T.REQUEST,
          mac: MAC2,
          broadcast: true,
          options: [
            [Opt.SERVER_ID, ip('10.9.0.254')],
            [Opt.REQUESTED_IP, ip(intToIp(offer2!.p.yiaddr))],
          ],
        }),
      ),
      [],
    );
    assert.equal(h.server.table.offeredTo(`hw:${MAC2}`, h.now.t), undefined, 'offer taken back');
    h.close();
  });

  it('check 4: INIT-REBOOT on the wrong subnet → broadcast NAK; via relay → NAK to giaddr with broadcast bit; unknown client → silence unless authoritative', async () => {
    const h = makeHarness();
    const [nak] = await h.exchange(
      clientPacket({
        type: T.REQUEST,
        mac: MAC,
        options: [
          [Opt.REQUESTED_IP, ip('192.168.1.50')],
          [Opt.CLIENT_ID, Buffer.from([1, 2, 3])],
        ],
      }),
    );
    assert.equal(optU8(nak!.p, Opt.MESSAGE_TYPE), T.NAK);
    assert.equal(nak!.address, '255.255.255.255');
    assert.equal(nak!.p.yiaddr, 0);
    assert.equal(nak!.p.siaddr, 0);
    assert.deepEqual(
      [...nak!.p.options.keys()].sort((a, b) => a - b),
      [Opt.MESSAGE_TYPE, Opt.SERVER_ID, Opt.MESSAGE, Opt.CLIENT_ID].sort((a, b) => a - b),
    );

    const [relayNak] = await h.exchange(
      clientPacket({ type: T.REQUEST, mac: MAC, giaddr: '10.20.0.1', options: [[Opt.REQUESTED_IP, ip('10.9.0.120')]] }),
      67,
      RELAY,
    );
    assert.equal(relayNak!.address, '10.20.0.1');
    assert.equal(relayNak!.port, 67);
    assert.equal(relayNak!.p.flags & 0x8000, 0x8000);
    h.close();

    const quiet = makeHarness(baseConfig({ authoritative: false }));
    assert.deepEqual(await quiet.exchange(clientPacket({ type: T.REQUEST, mac: MAC2, options: [[Opt.REQUESTED_IP, ip('10.9.0.120')]] })), []);
    quiet.close();
    const loud = makeHarness(baseConfig({ authoritative: true }));
    const [n2] = await loud.exchange(clientPacket({ type: T.REQUEST, mac: MAC2, options: [[Opt.REQUESTED_IP, ip('10.9.0.120')]] }));
    assert.equal(optU8(n2!.p, Opt.MESSAGE_TYPE), T.NAK);
    loud.close();
  });

  it('INIT-REBOOT of a known client for its own address → ACK (reboot keeps the address)', async () => {
    const h = makeHarness();
    const addr = await dora(h);
    const [ack] = await h.exchange(clientPacket({ type: T.REQUEST, mac: MAC, broadcast: true, options: [[Opt.REQUESTED_IP, ip(addr)]] }));
    assert.equal(optU8(ack!.p, Opt.MESSAGE_TYPE), T.ACK);
    assert.equal(intToIp(ack!.p.yiaddr), addr);
    h.close();
  });

  it('check 5: RENEWING (ciaddr, unicast) → ACK unicast to ciaddr:68 with ciaddr copied', async () => {
    const h = makeHarness();
    const addr = await dora(h);
    h.now.t += 1_800_000;
    const [ack] = await h.exchange(clientPacket({ type: T.REQUEST, mac: MAC, ciaddr: addr }), 67, { address: addr, port: 68 });
    assert.equal(optU8(ack!.p, Opt.MESSAGE_TYPE), T.ACK);
    assert.equal(ack!.address, addr);
    assert.equal(ack!.port, 68);
    assert.equal(intToIp(ack!.p.ciaddr), addr);
    assert.equal(h.server.table.leaseOf(`hw:${MAC}`)!.expiresAt, h.now.t + 3_600_000, 'lease extended from now');
    h.close();
  });

  it('check 6: DECLINE X → X never offered again (quarantine); RELEASE then DISCOVER → same address', async () => {
    const h = makeHarness();
    const [offer] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC, broadcast: true }));
    const x = intToIp(offer!.p.yiaddr);
    await h.exchange(
      clientPacket({
        type: T.REQUEST,
        mac: MAC,
        broadcast: true,
        options: [
          [Opt.SERVER_ID, sid],
          [Opt.REQUESTED_IP, ip(x)],
        ],
      }),
    );
    assert.deepEqual(
      await h.exchange(
        clientPacket({
          type: T.DECLINE,
          mac: MAC,
          options: [
            [Opt.SERVER_ID, sid],
            [Opt.REQUESTED_IP, ip(x)],
          ],
        }),
      ),
      [],
    );
    assert.equal(h.server.table.recordAt(ipToInt(x))!.state, 'declined');
    for (let i = 0; i < 5; i++) {
      const m = `52:54:00:bb:00:0${i}`;
      const [o] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: m, broadcast: true, options: [[Opt.REQUESTED_IP, ip(x)]] }));
      assert.notEqual(intToIp(o!.p.yiaddr), x);
    }
    const [o2] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC, broadcast: true }));
    assert.notEqual(intToIp(o2!.p.yiaddr), x, 'not even to the client that declined it');

    const addr = await dora(h, MAC2);
    await h.exchange(clientPacket({ type: T.RELEASE, mac: MAC2, ciaddr: addr, options: [[Opt.SERVER_ID, sid]] }));
    assert.equal(h.server.table.leaseOf(`hw:${MAC2}`)!.state, 'released');
    const [again] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC2, broadcast: true }));
    assert.equal(intToIp(again!.p.yiaddr), addr);
    const rows = h.db.prepare('SELECT state FROM leases WHERE ip = ?').get(ipToInt(x)) as { state: string };
    assert.equal(rows.state, 'declined', 'the quarantine is committed');
    h.close();
  });

  it('check 7: INFORM → ACK to ciaddr with yiaddr 0 and no lease time', async () => {
    const h = makeHarness();
    const [ack] = await h.exchange(clientPacket({ type: T.INFORM, mac: MAC, ciaddr: '10.9.0.7' }), 67, { address: '10.9.0.7' });
    assert.equal(optU8(ack!.p, Opt.MESSAGE_TYPE), T.ACK);
    assert.equal(ack!.address, '10.9.0.7');
    assert.equal(ack!.p.yiaddr, 0);
    for (const never of [Opt.LEASE_TIME, Opt.RENEWAL_T1, Opt.REBINDING_T2]) assert.equal(ack!.p.options.has(never), false);
    assert.equal(intToIp(optIp(ack!.p, Opt.ROUTER)!), '10.9.0.1');
    h.close();
  });

  it('check 8: option 82 echoed byte for byte, as the last option, never in sname/file', async () => {
    const h = makeHarness();
    const agent = Buffer.from([1, 4, 0, 1, 0, 7, 2, 6, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
    const [r] = await h.exchange(
      clientPacket({ type: T.DISCOVER, mac: MAC, giaddr: '10.20.0.1', options: [[Opt.RELAY_AGENT_INFO, agent]] }),
      67,
      RELAY,
    );
    assert.deepEqual(r!.p.options.get(Opt.RELAY_AGENT_INFO), agent);
    const bytes = r!.buf;
    // Walk the options field: 82 must be the last option before END.
    let i = 240;
    let last = -1;
    while (bytes[i] !== 255) {
      if (bytes[i] === 0) {
        i++;
        continue;
      }
      last = bytes[i]!;
      i += 2 + bytes[i + 1]!;
    }
    assert.equal(last, Opt.RELAY_AGENT_INFO);
    h.close();
  });

  it('check 9: option 57 = 576 with a large configuration → reply ≤ 548 bytes through overload; 57 < 576 counts as 576', async () => {
    const dns = Array.from({ length: 50 }, (_, i) => `10.9.0.${i + 2}`);
    const h = makeHarness(baseConfig({ dns, domain: 'a'.repeat(80) + '.example.net' }));
    for (const size of [576, 300]) {
      const [r] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC, broadcast: true, options: [[Opt.MAX_MESSAGE_SIZE, u16(size)]] }));
      assert.ok(r!.buf.length <= 548, `reply is ${r!.buf.length} bytes`);
      assert.ok(optU8(r!.p, Opt.OVERLOAD)! >= 1, 'overload used');
      assert.equal(r!.p.options.get(Opt.DNS)!.length, 200, 'DNS list delivered whole');
      assert.equal(r!.p.options.get(Opt.DOMAIN_NAME)!.length, 92);
    }
    const [big] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC, broadcast: true, options: [[Opt.MAX_MESSAGE_SIZE, u16(1500)]] }));
    assert.equal(big!.p.options.has(Opt.OVERLOAD), false, 'no overload when the client allows a bigger message');
    h.close();
  });

  it('check 10: conflict check on → an address that answers ping is skipped and quarantined', async () => {
    const probed: string[] = [];
    const h = makeHarness(baseConfig({ conflictCheck: { enabled: true, timeoutMs: 200 } }), {
      probe: async (addr) => {
        probed.push(addr);
        return addr === '10.9.0.100';
      },
    });
    h.net.inject(67, clientPacket({ type: T.DISCOVER, mac: MAC, broadcast: true }));
    for (let i = 0; i < 10 && h.net.sent.length === 0; i++) await new Promise((r) => setImmediate(r));
    const [r] = h.net.take();
    assert.ok(r);
    assert.deepEqual(probed, ['10.9.0.100', '10.9.0.101']);
    assert.equal(intToIp(r.buf.readUInt32BE(16)), '10.9.0.101');
    assert.equal(h.server.table.recordAt(ipToInt('10.9.0.100'))!.state, 'declined');
    h.close();
  });

  it('unicast reply to yiaddr after installing an ARP entry when the broadcast flag is clear; broadcast when ARP fails', async () => {
    const h = makeHarness();
    const [r] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC }));
    assert.equal(r!.address, intToIp(r!.p.yiaddr));
    assert.equal(h.net.arp.get(r!.address), '525400aa0001');
    h.net.arpWorks = false;
    const [r2] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC2 }));
    assert.equal(r2!.address, '255.255.255.255');
    h.close();
  });

  it('reservations: the reserved MAC always gets its address, nobody else does', async () => {
    const h = makeHarness(baseConfig({ reservations: [{ mac: MAC2, ip: '10.9.0.100', hostname: 'seat-02' }] }));
    const [o1] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC, broadcast: true, options: [[Opt.REQUESTED_IP, ip('10.9.0.100')]] }));
    assert.notEqual(intToIp(o1!.p.yiaddr), '10.9.0.100');
    const [o2] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC2, broadcast: true }));
    assert.equal(intToIp(o2!.p.yiaddr), '10.9.0.100');
    assert.equal(o2!.p.options.get(Opt.HOSTNAME)!.toString(), 'seat-02');
    h.close();
  });

  it('pool exhaustion is counted and logged, and the server keeps answering known clients', async () => {
    const h = makeHarness(baseConfig({ range: { start: '10.9.0.100', end: '10.9.0.101' } }));
    await dora(h, '52:54:00:00:00:01');
    await dora(h, '52:54:00:00:00:02');
    assert.deepEqual(await h.exchange(clientPacket({ type: T.DISCOVER, mac: '52:54:00:00:00:03', broadcast: true })), []);
    assert.equal(await h.metric('bootgate_dhcp_pool_exhausted_total', { subnet: '10.9.0.0/24' }), 1);
    const [again] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: '52:54:00:00:00:01', broadcast: true }));
    assert.equal(intToIp(again!.p.yiaddr), '10.9.0.100');
    h.now.t += 3_600_001;
    h.server.table.expire(h.now.t);
    const [reclaimed] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: '52:54:00:00:00:03', broadcast: true }));
    assert.ok(reclaimed, 'expired leases are reclaimed');
    h.close();
  });

  it('lease ends are reported after commit: a RELEASE at once, an expiry at the next sweep (without traffic)', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const ended: Array<[string, string, string]> = [];
    const h = makeHarness(baseConfig({ leaseSeconds: 600 }), { onLeaseEnded: (l) => ended.push([l.mac, intToIp(l.ip), l.state]) });
    const a = await dora(h, MAC);
    const b = await dora(h, MAC2);
    assert.deepEqual(ended, []);
    await h.exchange(clientPacket({ type: T.RELEASE, mac: MAC2, ciaddr: b, options: [[Opt.SERVER_ID, sid]] }));
    assert.deepEqual(ended, [[MAC2, b, 'released']]);
    h.now.t += 601_000;
    t.mock.timers.tick(10_000);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(ended, [
      [MAC2, b, 'released'],
      [MAC, a, 'expired'],
    ]);
    const row = h.db.prepare('SELECT state FROM leases WHERE ip = ?').get(ipToInt(a)) as { state: string };
    assert.equal(row.state, 'expired', 'committed before it was reported');
    h.close();
  });

  it('an unanswered offer is freed after offerHoldSeconds', async () => {
    const h = makeHarness(baseConfig({ range: { start: '10.9.0.100', end: '10.9.0.100' }, offerHoldSeconds: 5 }));
    await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC, broadcast: true }));
    assert.deepEqual(await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC2, broadcast: true })), []);
    h.now.t += 5_001;
    const [o] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC2, broadcast: true }));
    assert.equal(intToIp(o!.p.yiaddr), '10.9.0.100');
    h.close();
  });

  it('per-MAC rate limit: a flood from one MAC is cut off and counted', async () => {
    const h = makeHarness(baseConfig({ rateLimit: { perMacPerSecond: 1, burst: 3 } }));
    let answered = 0;
    for (let i = 0; i < 10; i++) answered += (await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC, broadcast: true }))).length;
    assert.equal(answered, 3);
    assert.equal(await h.metric('bootgate_dhcp_drops_total', { reason: 'rate_limited' }), 7);
    h.close();
  });

  it('leases survive a restart: a new server on the same database keeps every binding', async () => {
    const db = openDatabase(':memory:');
    const h1 = makeHarness(baseConfig(), { db });
    const a = await dora(h1, MAC);
    const b = await dora(h1, MAC2);
    h1.close();
    const h2 = makeHarness(baseConfig(), { db });
    assert.equal(intToIp(h2.server.table.leaseOf(`hw:${MAC}`)!.ip), a);
    const [o] = await h2.exchange(clientPacket({ type: T.DISCOVER, mac: '52:54:00:cc:00:01', broadcast: true }));
    assert.ok(![a, b].includes(intToIp(o!.p.yiaddr)), 'a bound address is never offered to another client');
    h2.close();
    db.close();
  });
});

describe('DHCP server: PXE, iPXE, proxyDHCP, UEFI HTTP boot (PROTOCOLS.md §7 checks 11-15)', () => {
  const uuid = Buffer.concat([Buffer.from([0]), Buffer.from('00112233445566778899aabbccddeeff', 'hex')]);
  const pxe = (arch: number): Array<[number, Buffer]> => [
    [Opt.VENDOR_CLASS, text(`PXEClient:Arch:${String(arch).padStart(5, '0')}:UNDI:002001`)],
    [Opt.CLIENT_SYSTEM_ARCH, u16(arch)],
    [Opt.CLIENT_NDI, Buffer.from([1, 2, 1])],
    [Opt.CLIENT_UUID, uuid],
  ];

  it('check 11: BIOS PXE → 60=PXEClient, 97 echoed, siaddr, undionly.kpxe, 43 = {6:08, 10:00 "PXE"}; EFI arches get their builds', async () => {
    const h = makeHarness();
    const [r] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC, broadcast: true, options: pxe(0) }));
    const p = r!.p;
    assert.equal(p.options.get(Opt.VENDOR_CLASS)!.toString(), 'PXEClient');
    assert.deepEqual(p.options.get(Opt.CLIENT_UUID), uuid);
    assert.equal(intToIp(p.siaddr), SERVER_ID);
    assert.equal(p.file, 'undionly.kpxe');
    const vendor = parseSubOptions(p.options.get(Opt.VENDOR_SPECIFIC)!)!;
    assert.deepEqual(vendor.get(6), Buffer.from([8]));
    assert.deepEqual(vendor.get(10), Buffer.from([0, 0x50, 0x58, 0x45]));
    for (const [arch, file] of [
      [7, 'ipxe.efi'],
      [9, 'ipxe.efi'],
      [11, 'ipxe-arm64.efi'],
      [6, 'ipxe-i386.efi'],
    ] as const) {
      const [e] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC, broadcast: true, options: pxe(arch) }));
      assert.equal(e!.p.file, file, `arch ${arch}`);
    }
    h.close();
  });

  it('check 12: iPXE (77 raw "iPXE" or RFC 3004 "\\x04iPXE") → HTTP script URL, 175.176 = 1, never the NBP again', async () => {
    const h = makeHarness();
    for (const userClass of [text('iPXE'), Buffer.concat([Buffer.from([4]), text('iPXE')])]) {
      const [r] = await h.exchange(
        clientPacket({
          type: T.DISCOVER,
          mac: MAC,
          broadcast: true,
          options: [...pxe(0), [Opt.USER_CLASS, userClass], [Opt.IPXE_ENCAP, Buffer.from([0x13, 1, 1, 0x15, 1, 1])]],
        }),
      );
      assert.equal(r!.p.file, `http://${SERVER_ID}:8080/boot.ipxe?mac=52-54-00-aa-00-01`);
      assert.equal(r!.p.options.get(Opt.BOOTFILE_NAME)!.toString(), r!.p.file);
      assert.deepEqual(parseSubOptions(r!.p.options.get(Opt.IPXE_ENCAP)!)!.get(0xb0), Buffer.from([1]));
    }
    h.close();
  });

  it('check 13: proxy mode → OFFER with yiaddr 0, no lease time, broadcast; non-PXE clients ignored', async () => {
    const h = makeHarness(baseConfig({ mode: 'proxy' }));
    const [r] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC, options: pxe(0) }));
    assert.equal(optU8(r!.p, Opt.MESSAGE_TYPE), T.OFFER);
    assert.equal(r!.p.yiaddr, 0);
    assert.equal(r!.p.ciaddr, 0);
    assert.equal(r!.p.options.has(Opt.LEASE_TIME), false);
    assert.equal(r!.address, '255.255.255.255');
    assert.equal(r!.p.file, 'undionly.kpxe');
    assert.ok(r!.p.options.has(Opt.VENDOR_SPECIFIC));
    assert.deepEqual(await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC2 })), []);
    h.close();
  });

  it('check 14: port 4011 REQUEST with 43.71 = (0,0) → ACK to ciaddr:source port with 43.71 echoed; MSB layer or other type → silence', async () => {
    const h = makeHarness();
    const item = (type: number, layer: number): Buffer => Buffer.from([71, 4, type >> 8, type & 255, layer >> 8, layer & 255, 255]);
    const [r] = await h.exchange(
      clientPacket({ type: T.REQUEST, mac: MAC, ciaddr: '10.9.0.150', options: [...pxe(0), [Opt.VENDOR_SPECIFIC, item(0, 0)]] }),
      4011,
      { address: '10.9.0.150', port: 4011 },
    );
    assert.equal(optU8(r!.p, Opt.MESSAGE_TYPE), T.ACK);
    assert.equal(r!.fromPort, 4011);
    assert.equal(r!.address, '10.9.0.150');
    assert.equal(r!.port, 4011);
    assert.equal(intToIp(r!.p.yiaddr), '10.9.0.150');
    assert.equal(r!.p.file, 'undionly.kpxe');
    assert.deepEqual(parseSubOptions(r!.p.options.get(Opt.VENDOR_SPECIFIC)!)!.get(71), Buffer.from([0, 0, 0, 0]));
    assert.deepEqual(
      await h.exchange(
        clientPacket({ type: T.REQUEST, mac: MAC, ciaddr: '10.9.0.150', options: [...pxe(0), [Opt.VENDOR_SPECIFIC, item(0, 0x8000)]] }),
        4011,
      ),
      [],
    );
    assert.deepEqual(
      await h.exchange(
        clientPacket({ type: T.REQUEST, mac: MAC, ciaddr: '10.9.0.150', options: [...pxe(0), [Opt.VENDOR_SPECIFIC, item(5, 0)]] }),
        4011,
      ),
      [],
    );
    h.close();
  });

  it('check 15: UEFI HTTP boot (60 HTTPClient, 93 = 0x10) → 60=HTTPClient, IP-literal URL in 67, reply ≤ 1472 bytes', async () => {
    const h = makeHarness(baseConfig({ dns: Array.from({ length: 60 }, (_, i) => `10.9.0.${i + 2}`) }));
    const [r] = await h.exchange(
      clientPacket({
        type: T.DISCOVER,
        mac: MAC,
        broadcast: true,
        options: [
          [Opt.VENDOR_CLASS, text('HTTPClient:Arch:00016:UNDI:003000')],
          [Opt.CLIENT_SYSTEM_ARCH, u16(0x10)],
          [Opt.MAX_MESSAGE_SIZE, u16(9000)],
        ],
      }),
    );
    assert.equal(r!.p.options.get(Opt.VENDOR_CLASS)!.toString(), 'HTTPClient');
    assert.match(r!.p.options.get(Opt.BOOTFILE_NAME)!.toString(), /^http:\/\/10\.9\.0\.1:8080\/ipxe\.efi$/);
    assert.ok(r!.buf.length <= 1472);
    h.close();
  });

  it('plain DHCP clients get no boot data', async () => {
    const h = makeHarness();
    const [r] = await h.exchange(clientPacket({ type: T.DISCOVER, mac: MAC, broadcast: true }));
    assert.equal(r!.p.file, '');
    assert.equal(r!.p.siaddr, 0);
    assert.equal(r!.p.options.has(Opt.VENDOR_CLASS), false);
    h.close();
  });
});

describe('DHCP server: bad input', () => {
  it('truncated, wrong cookie, bad overload, garbage and BOOTREPLY are dropped and counted; the server keeps answering', async () => {
    const h = makeHarness();
    const good = clientPacket({ type: T.DISCOVER, mac: MAC, broadcast: true });
    const badCookie = Buffer.from(good);
    badCookie.writeUInt32BE(0x01020304, 236);
    const loop = Buffer.from(good);
    loop.set([52, 1, 3, 255], 240 + 3); // overload after 53; file/sname are zero → empty areas
    const reply = Buffer.from(good);
    reply[0] = 2;
    const overLen = Buffer.concat([good.subarray(0, 243), Buffer.from([12, 200, 1, 2])]);
    for (const bad of [Buffer.alloc(0), good.subarray(0, 100), badCookie, reply, overLen, Buffer.alloc(10_000, 1)]) {
      assert.deepEqual(await h.exchange(bad), []);
    }
    assert.equal(await h.metric('bootgate_dhcp_drops_total', { reason: 'malformed_truncated' }), 3);
    assert.equal(await h.metric('bootgate_dhcp_drops_total', { reason: 'malformed_bad_cookie' }), 1);
    assert.equal(await h.metric('bootgate_dhcp_drops_total', { reason: 'not_request' }), 1);
    assert.equal(await h.metric('bootgate_dhcp_drops_total', { reason: 'malformed_oversized' }), 1);
    const [ok] = await h.exchange(good);
    assert.equal(optU8(ok!.p, Opt.MESSAGE_TYPE), T.OFFER);
    void loop;
    h.close();
  });
});
