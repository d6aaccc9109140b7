import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeDhcp, encodeDhcp, type DhcpPacket } from '../../src/dhcp/codec.ts';
import { DecodeError } from '../../src/wire/decode-error.ts';
import { hexFixture } from '../helpers/fixtures.ts';

const RUNS = 3000;

describe('DHCP codec under fast-check', () => {
  it('random bytes: decode returns a packet or throws DecodeError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 1200 }), (bytes) => {
        try {
          decodeDhcp(Buffer.from(bytes));
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('mutated real captures: decode never throws anything but DecodeError', () => {
    const seeds = ['udhcpc-discover', 'dhclient-request', 'ipxe-bios-discover', 'edk2-pxe-discover'].map((n) => hexFixture('dhcp', n));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: seeds.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 12 }),
        fc.nat(),
        (seed, edits, cut) => {
          const b = Buffer.from(seeds[seed]!);
          for (const [at, v] of edits) b[at % b.length] = v;
          const input = cut % 7 === 0 ? b.subarray(0, cut % b.length) : b;
          try {
            decodeDhcp(input);
          } catch (e) {
            if (!(e instanceof DecodeError)) throw e;
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('generated packets survive encode → decode unchanged', () => {
    const option = fc.tuple(
      fc.integer({ min: 1, max: 254 }).filter((c) => c !== 52 && c !== 82),
      fc.uint8Array({ minLength: 0, maxLength: 300 }),
    );
    fc.assert(
      fc.property(fc.uniqueArray(option, { selector: ([c]) => c, maxLength: 12 }), fc.nat({ max: 0xffffffff }), (opts, xid) => {
        const chaddr = Buffer.alloc(16);
        chaddr.writeUInt32BE(xid);
        const p: DhcpPacket = {
          op: 1,
          htype: 1,
          hlen: 6,
          hops: 0,
          xid,
          secs: 0,
          flags: 0,
          ciaddr: 0,
          yiaddr: 0,
          siaddr: 0,
          giaddr: 0,
          chaddr,
          sname: '',
          file: '',
          options: new Map(opts.map(([c, d]) => [c, Buffer.from(d)])),
        };
        const { bytes, dropped } = encodeDhcp(p, { maxMessageSize: 9000 });
        assert.deepEqual(dropped, []);
        assert.deepEqual(decodeDhcp(bytes), p);
      }),
      { numRuns: 500 },
    );
  });
});
