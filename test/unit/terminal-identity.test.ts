import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientAddress } from '../../src/terminal/client-address.ts';
import { initiatorIqn, isImageName, parseTargetIqn, targetIqn, targetIqnPrefix } from '../../src/terminal/iqn.ts';
import { hardwareAddressText, macBytes, macFromBytes, macHyphens, parseMac, tryParseMac } from '../../src/terminal/mac.ts';

describe('Mac: parsed once, one canonical form, one formatter per wire format', () => {
  it('accepts colon, hyphen, bare and dotted (switch) forms in any case; the canonical form is lowercase with colons', () => {
    for (const text of ['52:54:00:AB:CD:EF', '52-54-00-ab-cd-ef', '525400abcdef', '52:54:00:ab:cd:ef', '5254.00AB.cdef'])
      assert.equal(parseMac(text), '52:54:00:ab:cd:ef', text);
  });
  it('refuses mixed separators, short, long, non-hex and surrounding characters', () => {
    for (const bad of [
      '52:54-00:ab:cd:ef',
      '52:54:00:ab:cd',
      '52:54:00:ab:cd:ef:00',
      'zz:54:00:ab:cd:ef',
      '',
      '52:54:00:ab:cd:ef\n',
      ' 52:54:00:ab:cd:ef',
      '5254.00ab.cde',
      '52.54.00.ab.cd.ef',
    ]) {
      assert.equal(tryParseMac(bad), undefined, JSON.stringify(bad));
      assert.throws(() => parseMac(bad), RangeError);
    }
  });
  it('formats for each wire: bytes (chaddr), hyphens (iPXE hexhyp, IQNs, overlay directories)', () => {
    const mac = parseMac('52:54:00:ab:cd:ef');
    assert.deepEqual(macBytes(mac), Buffer.from([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef]));
    assert.equal(macFromBytes(macBytes(mac)), mac);
    assert.equal(macHyphens(mac), '52-54-00-ab-cd-ef');
    assert.throws(() => macFromBytes(Buffer.alloc(5)), RangeError);
  });
  it('a chaddr of another length keeps the same text, so a 6-byte one reads as its Mac', () => {
    assert.equal(hardwareAddressText(Buffer.from([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef])), '52:54:00:ab:cd:ef');
    assert.equal(hardwareAddressText(Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])), '01:02:03:04:05:06:07:08');
  });
});

describe('IQNs: the names the script builder hands out are the names the target accepts', () => {
  const mac = parseMac('52:54:00:AB:CD:EF');
  it('builds and parses iqn.2026-11.io.bootgate:disk.<image>.<mac>', () => {
    assert.equal(targetIqn('win10', mac), 'iqn.2026-11.io.bootgate:disk.win10.52-54-00-ab-cd-ef');
    assert.equal(initiatorIqn(mac), 'iqn.2026-11.io.bootgate:terminal.52-54-00-ab-cd-ef');
    assert.deepEqual(parseTargetIqn('iqn.2026-11.io.bootgate:disk.win10.52-54-00-ab-cd-ef'), { image: 'win10', mac });
    assert.deepEqual(parseTargetIqn('IQN.2026-11.IO.BOOTGATE:DISK.WIN10.52-54-00-AB-CD-EF'), { image: 'win10', mac }, 'RFC 3722: case-insensitive');
    assert.equal(parseTargetIqn('iqn.2026-11.io.bootgate:disk.win10'), undefined);
    assert.equal(parseTargetIqn('iqn.2026-11.io.bootgate:disk.../x.52-54-00-ab-cd-ef'), undefined);
    assert.equal(parseTargetIqn('iqn.2026-11.io.bootgate:terminal.win10.52-54-00-ab-cd-ef'), undefined);
  });
  it('an image name with dots round-trips (the config accepts it, so the target must too)', () => {
    assert.ok(isImageName('debian-12.1'));
    assert.deepEqual(parseTargetIqn(targetIqn('debian-12.1', mac)), { image: 'debian-12.1', mac });
  });
  it('image names are one IQN and path component: no upper case, separators, leading/trailing dot or hyphen', () => {
    for (const bad of ['Win10', 'a b', 'a/b', 'img:evil', '', '-x', 'x.', '.x', 'a_b', 'x'.repeat(64)]) {
      assert.equal(isImageName(bad), false, bad);
      assert.throws(() => targetIqnPrefix(bad), RangeError, bad);
    }
  });
});

describe('clientAddress', () => {
  it('IPv4-mapped peers read as IPv4; other addresses pass through', () => {
    assert.equal(clientAddress('::ffff:10.0.0.5'), '10.0.0.5');
    assert.equal(clientAddress('::FFFF:10.0.0.5'), '10.0.0.5');
    assert.equal(clientAddress('10.0.0.5'), '10.0.0.5');
    assert.equal(clientAddress('fd00::5'), 'fd00::5');
    assert.equal(clientAddress('::ffff:a00:5'), '::ffff:a00:5');
    assert.equal(clientAddress(undefined), '');
  });
});
