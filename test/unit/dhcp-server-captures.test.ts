import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageType as T, Opt } from '../../src/dhcp/constants.ts';
import { optU8, parseSubOptions } from '../../src/dhcp/options.ts';
import { intToIp } from '../../src/wire/ipv4.ts';
import { hexFixture } from '../helpers/fixtures.ts';
import { makeHarness, SERVER_ID } from '../helpers/dhcp-harness.ts';

/** The server's answers to requests captured from real firmware and clients (test/fixtures/dhcp/README.md). */
describe('DHCP server answering real captured requests', () => {
  it('iPXE (SeaBIOS ROM) DISCOVER → its HTTP script URL, 175.176 = 1, PXEClient, 97 echoed; its REQUEST is ACKed', async () => {
    const h = makeHarness();
    const [offer] = await h.exchange(hexFixture('dhcp', 'ipxe-bios-discover'));
    assert.equal(optU8(offer!.p, Opt.MESSAGE_TYPE), T.OFFER);
    assert.equal(offer!.p.file, `http://${SERVER_ID}:8080/boot.ipxe?mac=52-54-00-c7-00-20`);
    assert.equal(offer!.p.options.get(Opt.VENDOR_CLASS)!.toString(), 'PXEClient');
    assert.equal(offer!.p.options.get(Opt.CLIENT_UUID)!.length, 17);
    assert.deepEqual(parseSubOptions(offer!.p.options.get(Opt.IPXE_ENCAP)!)!.get(0xb0), Buffer.from([1]));
    assert.ok(offer!.buf.length <= 1472 - 28, 'fits iPXE option 57 (1472, IP and UDP headers included)');
    // The captured REQUEST selected 10.199.0.142 from a server at 10.199.0.1: not us, so we stay silent.
    assert.deepEqual(await h.exchange(hexFixture('dhcp', 'ipxe-bios-request')), []);
    h.close();
  });

  it('EDK2 PXE DISCOVER (x64) → ipxe.efi by TFTP with option 43 for direct download, broadcast reply', async () => {
    const h = makeHarness();
    const [offer] = await h.exchange(hexFixture('dhcp', 'edk2-pxe-discover'));
    assert.equal(offer!.address, '255.255.255.255');
    assert.equal(offer!.p.file, 'ipxe.efi');
    assert.equal(intToIp(offer!.p.siaddr), SERVER_ID);
    assert.deepEqual(parseSubOptions(offer!.p.options.get(Opt.VENDOR_SPECIFIC)!)!.get(6), Buffer.from([8]));
    assert.ok(offer!.buf.length <= 1472 - 28);
    h.close();
  });

  it("boot waits (docs/dhcp.md): the OFFERs meet iPXE's and EDK2's conditions for going on at once", async () => {
    const h = makeHarness();
    // iPXE dhcp_discovery_rx leaves discovery on an offer with 175.176 (DHCP_EB_NO_PXEDHCP) = 1, or one that is
    // also a ProxyDHCP offer (60 = "PXEClient" and a boot file). Ours is both. No 43: a PXE menu would prompt.
    const [ipxe] = await h.exchange(hexFixture('dhcp', 'ipxe-bios-discover'));
    assert.equal(optU8(ipxe!.p, Opt.MESSAGE_TYPE), T.OFFER);
    assert.notEqual(ipxe!.p.yiaddr, 0, 'a DHCP offer (yiaddr set), not only a proxy offer');
    assert.deepEqual(ipxe!.p.options.get(Opt.IPXE_ENCAP), Buffer.from([0xb0, 0x01, 0x01]));
    assert.equal(ipxe!.p.options.get(Opt.VENDOR_CLASS)!.toString('latin1'), 'PXEClient');
    assert.ok(ipxe!.p.options.get(Opt.BOOTFILE_NAME)!.length > 0 && ipxe!.p.file !== '');
    assert.equal(ipxe!.p.options.has(Opt.VENDOR_SPECIFIC), false);
    // EDK2 PxeBcParseDhcp4Packet: yiaddr set + 43.6 → PxeOfferTypeDhcpPxe10 (first choice, no port 4011 request);
    // 43.6 bit 3 with a boot file → no prompt or menu (PxeBcSelectBootPrompt); 43.10 timeout 0; no 43.8/43.9.
    const [edk2] = await h.exchange(hexFixture('dhcp', 'edk2-pxe-discover'));
    assert.notEqual(edk2!.p.yiaddr, 0);
    assert.deepEqual(edk2!.p.options.get(Opt.VENDOR_SPECIFIC), Buffer.from([6, 1, 0x08, 10, 4, 0, 0x50, 0x58, 0x45, 0xff]));
    assert.equal(edk2!.p.file, 'ipxe.efi');
    h.close();
  });

  it('EDK2 UEFI HTTP boot DISCOVER → HTTPClient with an IP-literal http:// URL in option 67, ≤ 1472 bytes', async () => {
    const h = makeHarness();
    const [offer] = await h.exchange(hexFixture('dhcp', 'edk2-httpboot-discover'));
    assert.equal(offer!.p.options.get(Opt.VENDOR_CLASS)!.toString(), 'HTTPClient');
    assert.equal(offer!.p.options.get(Opt.BOOTFILE_NAME)!.toString(), `http://${SERVER_ID}:8080/ipxe.efi`);
    assert.ok(offer!.buf.length <= 1472);
    h.close();
  });

  it('udhcpc and dhclient DISCOVERs → plain offers honouring their 576-byte limit', async () => {
    const h = makeHarness();
    for (const name of ['udhcpc-discover', 'dhclient-discover']) {
      const [offer] = await h.exchange(hexFixture('dhcp', name));
      assert.equal(optU8(offer!.p, Opt.MESSAGE_TYPE), T.OFFER);
      assert.ok(offer!.buf.length <= 548);
      assert.equal(offer!.p.options.has(Opt.VENDOR_CLASS), false);
    }
    h.close();
  });
});
