import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageType as T, Opt } from '../../src/dhcp/constants.ts';
import { optU8 } from '../../src/dhcp/options.ts';
import { intToIp } from '../../src/wire/ipv4.ts';
import { clientPacket, ip } from '../helpers/dhcp-client-packets.ts';
import { baseConfig, makeHarness, SERVER_ID, type Harness } from '../helpers/dhcp-harness.ts';

/** A 10-address LAN pool (10.9.0.100–109) so a flood fills it in a few packets. */
const small = (starvation: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  baseConfig({ range: { start: '10.9.0.100', end: '10.9.0.109' }, rateLimit: { perMacPerSecond: 1000, burst: 1000 }, starvation, ...extra });
const FLOODER = '02:66:66:66:66:01';
const fakeMac = (i: number): string => `0a:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
const sid = ip(SERVER_ID);

async function discover(h: Harness, mac: string, linkSource?: string): Promise<string | undefined> {
  const replies = await h.exchange(clientPacket({ type: T.DISCOVER, mac, broadcast: true }), 67, linkSource ? { linkSource } : {});
  const offer = replies.find((r) => optU8(r.p, Opt.MESSAGE_TYPE) === T.OFFER);
  return offer ? intToIp(offer.p.yiaddr) : undefined;
}

async function request(h: Harness, mac: string, addr: string, linkSource?: string): Promise<number | undefined> {
  const replies = await h.exchange(
    clientPacket({
      type: T.REQUEST,
      mac,
      broadcast: true,
      options: [
        [Opt.SERVER_ID, sid],
        [Opt.REQUESTED_IP, ip(addr)],
      ],
    }),
    67,
    linkSource ? { linkSource } : {},
  );
  return replies[0] ? optU8(replies[0].p, Opt.MESSAGE_TYPE) : undefined;
}

async function dora(h: Harness, mac: string, linkSource?: string): Promise<string | undefined> {
  const offered = await discover(h, mac, linkSource);
  if (!offered) return undefined;
  return (await request(h, mac, offered, linkSource)) === T.ACK ? offered : undefined;
}

/** A counter summed over the labels not given (the source label varies with the flood). */
async function sum(h: Harness, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await h.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values ?? []).filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((a, v) => a + Number(v.value), 0);
}

describe('DHCP starvation guard (issue 11)', () => {
  it('refuses a directly attached request whose chaddr is not the frame source, counting it under that source', async () => {
    const h = makeHarness(small());
    for (let i = 0; i < 5; i++) assert.equal(await discover(h, fakeMac(i), FLOODER), undefined);
    assert.equal(await h.metric('bootgate_dhcp_chaddr_mismatches_total', { source: FLOODER }), 5);
    assert.equal(await h.metric('bootgate_dhcp_starvation_refusals_total', { reason: 'chaddr_mismatch', source: FLOODER }), 5);
    assert.equal(await h.metric('bootgate_dhcp_pool_addresses', { state: 'offered', subnet: '10.9.0.0/24' }), 0);
    // the flooder's own MAC, matching its frames, is an ordinary client
    assert.match((await dora(h, FLOODER, FLOODER)) ?? '', /^10\.9\.0\.10\d$/);
    const status = h.server.starvationStatus();
    assert.equal(status.sources[0]?.source, FLOODER);
    assert.equal(status.sources[0]?.lastReason, 'chaddr_mismatch');
    h.close();
  });

  it("chaddrMismatch: 'count' lets them through but bounds offers per link-layer source", async () => {
    const h = makeHarness(small({ chaddrMismatch: 'count', maxOffersPerSource: 3 }));
    const offered: string[] = [];
    for (let i = 0; i < 8; i++) {
      const a = await discover(h, fakeMac(i), FLOODER);
      if (a) offered.push(a);
    }
    assert.equal(offered.length, 3);
    assert.equal(await h.metric('bootgate_dhcp_chaddr_mismatches_total', { source: FLOODER }), 8);
    assert.equal(await h.metric('bootgate_dhcp_starvation_refusals_total', { reason: 'source_offer_limit', source: FLOODER }), 5);
    // a client that already holds an offer from this source is answered again (a retransmitted DISCOVER)
    assert.equal(await discover(h, fakeMac(0), FLOODER), offered[0]);
    // another machine is not affected
    assert.ok(await dora(h, '52:54:00:00:00:77', '52:54:00:00:00:77'));
    // once the offers expire the source may be offered again
    h.now.t += 31_000;
    assert.ok(await discover(h, fakeMac(9), FLOODER));
    h.close();
  });

  it('bounds bindings per link-layer source, including REQUESTs that skip DISCOVER; renewals still work', async () => {
    const h = makeHarness(small({ chaddrMismatch: 'count', maxOffersPerSource: 10, maxBindingsPerSource: 2 }));
    const a = await dora(h, fakeMac(1), FLOODER);
    const b = await dora(h, fakeMac(2), FLOODER);
    assert.ok(a && b);
    assert.equal(await discover(h, fakeMac(3), FLOODER), undefined, 'no offer: the source holds its bindings');
    assert.equal(await request(h, fakeMac(4), '10.9.0.108', FLOODER), undefined, 'a REQUEST without DISCOVER is not bound either');
    assert.equal(await h.metric('bootgate_dhcp_starvation_refusals_total', { reason: 'source_binding_limit', source: FLOODER }), 2);
    assert.equal(await request(h, fakeMac(1), a, FLOODER), T.ACK, 'a bound client re-requests its own address');
    h.close();
  });

  it('keeps addresses for registered seats: unknown clients stop at the reserve, each seat then gets one', async () => {
    const seats = new Set(['52:54:00:5e:a7:01', '52:54:00:5e:a7:02', '52:54:00:5e:a7:03']);
    const h = makeHarness(small(), { seats });
    // random sources too (each fake MAC its own frame source): only the reserve stands in the way
    const got: string[] = [];
    for (let i = 0; i < 20; i++) {
      const a = await discover(h, fakeMac(i), fakeMac(i));
      if (a) got.push(a);
    }
    assert.equal(got.length, 7, '10 addresses, 3 kept for seats without one');
    assert.equal(await sum(h, 'bootgate_dhcp_starvation_refusals_total', { reason: 'known_reserve' }), 13);
    assert.equal(await h.metric('bootgate_dhcp_known_reserve', { subnet: '10.9.0.0/24' }), 3);
    assert.equal(await dora(h, fakeMac(50), fakeMac(50)), undefined);
    // a spoofer that REQUESTs a free address without an offer is held to the reserve too
    assert.equal(await request(h, fakeMac(51), '10.9.0.109', fakeMac(51)), undefined);
    const seatAddrs = [];
    for (const mac of seats) seatAddrs.push(await dora(h, mac, mac));
    assert.equal(new Set(seatAddrs).size, 3);
    for (const a of seatAddrs) assert.match(a ?? '', /^10\.9\.0\.10\d$/);
    h.close();
  });

  it("a seat's address stays its own after its lease expires, whatever unknown clients ask for", async () => {
    const seat = '52:54:00:5e:a7:09';
    const h = makeHarness(small({}, { leaseSeconds: 60 }), { seats: new Set([seat]) });
    const mine = await dora(h, seat, seat);
    assert.ok(mine);
    h.now.t += 3_600_000; // expired long ago
    h.server.table.expire(h.now.t);
    const taken = [];
    for (let i = 0; i < 12; i++) taken.push(await dora(h, fakeMac(i), fakeMac(i)));
    assert.equal(taken.filter(Boolean).length, 9, `every other address went: ${JSON.stringify(taken)}`);
    assert.ok(!taken.includes(mine));
    assert.equal(await request(h, fakeMac(99), mine, fakeMac(99)), T.NAK, 'not even by a direct REQUEST');
    assert.equal(await dora(h, seat, seat), mine, 'the seat comes back to its address');
    h.close();
  });

  it('under pressure, offers to unknown clients hold their address briefly; known clients keep the full hold', async () => {
    const seat = '52:54:00:5e:a7:0a';
    const h = makeHarness(small({ pressureWatermark: 0.5, pressureOfferHoldSeconds: 2 }), { seats: new Set([seat]) });
    const early: string[] = [];
    for (let i = 0; i < 5; i++) early.push((await discover(h, fakeMac(i), fakeMac(i)))!);
    h.now.t += 300; // past the pressure cache
    const late = await discover(h, fakeMac(5), fakeMac(5));
    assert.ok(late && !early.includes(late));
    const seatOffer = await discover(h, seat, seat);
    assert.ok(seatOffer);
    assert.equal(h.server.starvationStatus().pools[0]?.underPressure, true);
    h.now.t += 2_500;
    // the short offer lapsed: its address is free again; the early ones (30 s hold) and the seat's are still held
    assert.equal(h.server.table.offeredTo(`hw:${fakeMac(5)}`, h.now.t), undefined);
    assert.equal(h.server.table.offeredTo(`hw:${fakeMac(0)}`, h.now.t), h.server.table.offeredTo(`hw:${fakeMac(0)}`, h.now.t - 2_500));
    assert.notEqual(h.server.table.offeredTo(`hw:${seat}`, h.now.t), undefined);
    assert.ok((await h.metric('bootgate_dhcp_pool_pressure', { subnet: '10.9.0.0/24' })) >= 0.5);
    h.close();
  });

  it('relayed requests are judged by the reserve, not by the relay frame source', async () => {
    const seats = new Set(['52:54:00:5e:a7:11']);
    const h = makeHarness(small({ maxOffersPerSource: 1 }), { seats });
    const RELAY = '02:00:00:00:0e:01';
    let offers = 0;
    for (let i = 0; i < 12; i++) {
      const replies = await h.exchange(clientPacket({ type: T.DISCOVER, mac: fakeMac(i), giaddr: '10.9.0.2' }), 67, {
        address: '10.9.0.2',
        port: 67,
        linkSource: RELAY,
      });
      if (replies.some((r) => optU8(r.p, Opt.MESSAGE_TYPE) === T.OFFER)) offers++;
    }
    assert.equal(offers, 9, 'no chaddr or per-source refusal for a relay; one address kept for the seat');
    assert.equal(await h.metric('bootgate_dhcp_chaddr_mismatches_total', { source: RELAY }), 0);
    h.close();
  });
});
