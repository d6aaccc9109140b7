import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeDhcp, encodeDhcp, type DhcpPacket } from '../../src/dhcp/codec.ts';
import { Opt } from '../../src/dhcp/constants.ts';
import { clientBootInfo } from '../../src/dhcp/pxe.ts';
import { DecodeError } from '../../src/wire/decode-error.ts';
import { hexFixture } from '../helpers/fixtures.ts';

/** decode → encode → decode must give the same message (option order and unknown options included). */
function assertRoundTrip(p: DhcpPacket): void {
  const again = decodeDhcp(encodeDhcp(p, { maxMessageSize: 9000 }).bytes);
  assert.deepEqual(again, p);
}

describe('DHCP codec with real captures', () => {
  it('udhcpc DISCOVER/REQUEST: fields and options', () => {
    const d = decodeDhcp(hexFixture('dhcp', 'udhcpc-discover'));
    assert.equal(d.op, 1);
    assert.equal(d.chaddr.subarray(0, 6).toString('hex'), '525400c70010');
    assert.equal(d.options.get(Opt.MESSAGE_TYPE)![0], 1);
    assert.equal(d.options.get(Opt.MAX_MESSAGE_SIZE)!.readUInt16BE(0), 576);
    assert.deepEqual([...d.options.get(Opt.PARAMETER_LIST)!], [1, 3, 6, 12, 15, 28, 42]);
    assertRoundTrip(d);
    const r = decodeDhcp(hexFixture('dhcp', 'udhcpc-request'));
    assert.equal(r.options.get(Opt.MESSAGE_TYPE)![0], 3);
    assert.equal(r.options.get(Opt.REQUESTED_IP)!.toString('hex'), '0ac7008e');
    assertRoundTrip(r);
  });

  it('dhclient DISCOVER/REQUEST decode and round-trip', () => {
    for (const name of ['dhclient-discover', 'dhclient-request']) assertRoundTrip(decodeDhcp(hexFixture('dhcp', name)));
  });

  it('iPXE BIOS DISCOVER: recognised as iPXE with HTTP, BIOS arch, UUID kept; 175 kept raw', () => {
    const d = decodeDhcp(hexFixture('dhcp', 'ipxe-bios-discover'));
    const info = clientBootInfo(d);
    assert.equal(info.pxe, true);
    assert.equal(info.ipxe, true);
    assert.equal(info.ipxeHttp, true);
    assert.equal(info.firmware, 'bios');
    assert.equal(d.options.get(Opt.IPXE_ENCAP)!.length, 48);
    assertRoundTrip(d);
    assertRoundTrip(decodeDhcp(hexFixture('dhcp', 'ipxe-bios-request')));
  });

  it('EDK2 PXE and HTTP boot DISCOVERs: x64 EFI, broadcast flag, no trailing pad', () => {
    const pxe = decodeDhcp(hexFixture('dhcp', 'edk2-pxe-discover'));
    assert.equal(pxe.flags, 0x8000);
    const pi = clientBootInfo(pxe);
    assert.deepEqual([pi.pxe, pi.httpBoot, pi.ipxe, pi.firmware, pi.arch], [true, false, false, 'x64-efi', 7]);
    const http = clientBootInfo(decodeDhcp(hexFixture('dhcp', 'edk2-httpboot-discover')));
    assert.deepEqual([http.pxe, http.httpBoot, http.firmware, http.arch], [false, true, 'x64-efi', 0x10]);
    assertRoundTrip(pxe);
  });
});

describe('DHCP codec rules', () => {
  const base = (): DhcpPacket => decodeDhcp(hexFixture('dhcp', 'udhcpc-discover'));

  it('RFC 3396: an option longer than 255 bytes is split on encode and concatenated on decode', () => {
    const p = base();
    p.options.set(Opt.DNS, Buffer.alloc(400, 7));
    const bytes = encodeDhcp(p, { maxMessageSize: 1500 }).bytes;
    const instances = [];
    for (let i = 240; bytes[i] !== 255; i += bytes[i] === 0 ? 1 : 2 + bytes[i + 1]!) if (bytes[i] === Opt.DNS) instances.push(bytes[i + 1]);
    assert.deepEqual(instances, [255, 145]);
    assert.deepEqual(decodeDhcp(bytes).options.get(Opt.DNS), Buffer.alloc(400, 7));
  });

  it('option overload (52): options in file and sname are read (file first), their text is not', () => {
    const b = Buffer.from(hexFixture('dhcp', 'udhcpc-discover'));
    // Replace the options field with: 53=1, 52=3, END; file holds 12="filehost"; sname holds 15="snd".
    b.fill(0, 240);
    b.set([53, 1, 1, 52, 1, 3, 255], 240);
    b.set([12, 8, ...Buffer.from('filehost'), 12, 2, 0x21, 0x21, 255], 108);
    b.set([15, 3, ...Buffer.from('snd'), 255], 44);
    const p = decodeDhcp(b);
    assert.equal(p.options.get(Opt.HOSTNAME)!.toString(), 'filehost!!');
    assert.equal(p.options.get(Opt.DOMAIN_NAME)!.toString(), 'snd');
    assert.equal(p.file, '');
    assert.equal(p.sname, '');
  });

  it('overload inside the file field does not start another round (no loops)', () => {
    const b = Buffer.from(hexFixture('dhcp', 'udhcpc-discover'));
    b.fill(0, 240);
    b.set([53, 1, 1, 52, 1, 1, 255], 240);
    b.set([52, 1, 3, 255], 108);
    assert.doesNotThrow(() => decodeDhcp(b));
  });

  it('malformed input throws DecodeError with code and offset', () => {
    const good = hexFixture('dhcp', 'udhcpc-discover');
    const cases: Array<[Buffer, string, number]> = [
      [good.subarray(0, 239), 'TRUNCATED', 0],
      [Buffer.concat([good.subarray(0, 240), Buffer.from([53, 5, 1])]), 'TRUNCATED', 240],
      [
        (() => {
          const x = Buffer.from(good);
          x.writeUInt32BE(0, 236);
          return x;
        })(),
        'BAD_COOKIE',
        236,
      ],
      [
        (() => {
          const x = Buffer.from(good);
          x[2] = 17;
          return x;
        })(),
        'BAD_HLEN',
        2,
      ],
      [
        (() => {
          const x = Buffer.from(good);
          x.fill(0, 240);
          x.set([52, 1, 9, 255], 240);
          return x;
        })(),
        'BAD_OVERLOAD',
        240,
      ],
      [Buffer.alloc(9001), 'OVERSIZED', 9000],
    ];
    for (const [buf, code, offset] of cases) {
      assert.throws(
        () => decodeDhcp(buf),
        (e: unknown) => e instanceof DecodeError && e.code === code && e.offset === offset,
        code,
      );
    }
  });

  it('replies are padded to the 300-byte BOOTP minimum (RFC 1542 §3.4)', () => {
    const p = base();
    p.options = new Map([[Opt.MESSAGE_TYPE, Buffer.from([2])]]);
    assert.equal(encodeDhcp(p).bytes.length, 300);
  });
});
