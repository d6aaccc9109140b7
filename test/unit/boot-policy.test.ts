import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bootConfigSchema } from '../../src/boot/config.ts';
import { ConfiguredBootPolicy } from '../../src/boot/policy.ts';
import type { ClientBootInfo } from '../../src/dhcp/pxe.ts';
import type { BootProfile } from '../../src/http/ipxe-script.ts';
import { parseMac } from '../../src/terminal/mac.ts';
import { ipToInt } from '../../src/wire/ipv4.ts';

const profiles: Record<string, BootProfile> = {
  thin: { kernel: '/vmlinuz', initrd: ['initrd.gz'], cmdline: 'quiet' },
  disk: { sanboot: 'win10' },
  local: { exit: true },
};
const boot = bootConfigSchema.parse({ defaultProfile: 'thin' });
const DISK = parseMac('52:54:00:00:00:01');
const policy = new ConfiguredBootPolicy({
  boot,
  profiles,
  reservations: [{ mac: '52-54-00-00-00-01', profile: 'disk' }, { mac: '52:54:00:00:00:02' }],
  serverAddress: ipToInt('10.72.0.1'),
  httpPort: 8080,
});
const info = (o: Partial<ClientBootInfo>): ClientBootInfo =>
  ({ pxe: false, ipxe: false, ipxeHttp: false, httpBoot: false, firmware: 'bios', ...o }) as ClientBootInfo;

describe('the boot policy: one answer to "what does this terminal boot?"', () => {
  it('profile: a reservation naming a profile wins (reservation MACs in any form); others get the default', () => {
    assert.deepEqual(policy.profileFor(DISK), { name: 'disk', profile: profiles.disk });
    assert.equal(policy.profileFor(parseMac('52:54:00:00:00:02')).name, 'thin', 'reservation without a profile');
    assert.equal(policy.profileFor(parseMac('52:54:00:00:00:99')).name, 'thin');
    assert.equal(policy.profileFor(undefined).name, 'thin', 'UUID-only request');
  });
  it('seat class: its profile sits between a reservation and the default; a name no longer configured is ignored', () => {
    const p = new ConfiguredBootPolicy({
      boot,
      profiles,
      reservations: [{ mac: '52:54:00:00:00:01', profile: 'disk' }],
      serverAddress: 1,
      httpPort: 80,
    });
    const classes = new Map<string, string>([
      ['52:54:00:00:00:01', 'local'],
      ['52:54:00:00:00:03', 'disk'],
      ['52:54:00:00:00:04', 'gone'],
    ]);
    p.setClassProfile((mac) => classes.get(mac));
    assert.equal(p.profileFor(parseMac('52:54:00:00:00:01')).name, 'disk', 'the reservation wins');
    assert.deepEqual(p.profileFor(parseMac('52:54:00:00:00:03')), { name: 'disk', profile: profiles.disk });
    assert.equal(p.profileFor(parseMac('52:54:00:00:00:04')).name, 'thin', 'unknown class profile → the default');
    assert.equal(p.profileFor(parseMac('52:54:00:00:00:05')).name, 'thin', 'no class');
    assert.equal(p.classifyFile(parseMac('52:54:00:00:00:03'), '/vmlinuz'), undefined, "the class's sanboot profile has no kernel");
    assert.deepEqual(p.profileNames(), ['thin', 'disk', 'local']);
    assert.deepEqual(p.profile('disk'), { sanboot: 'win10' });
    assert.equal(p.profile('toString'), undefined);
  });

  it('DHCP: a PXE ROM gets its architecture NBP by TFTP; iPXE gets its script URL with the hyphenated MAC', () => {
    assert.equal(policy.bootReply(info({ pxe: true, firmware: 'bios' }), DISK)?.file, 'undionly.kpxe');
    assert.equal(policy.bootReply(info({ pxe: true, firmware: 'x64-efi' }), DISK)?.file, 'ipxe.efi');
    const ipxe = policy.bootReply(info({ pxe: true, ipxe: true, ipxeHttp: true }), DISK);
    assert.equal(ipxe?.bootfileOption, 'http://10.72.0.1:8080/boot.ipxe?mac=52-54-00-00-00-01');
    assert.equal(policy.bootReply(info({}), DISK), undefined, 'a plain DHCP client gets no boot information');
  });
  it('timeline: NBPs, and the kernel and initrd of this terminal profile, are classified; other files are not', () => {
    const thin = parseMac('52:54:00:00:00:99');
    assert.equal(policy.classifyFile(thin, '/undionly.kpxe'), 'nbp');
    assert.equal(policy.classifyFile(thin, 'vmlinuz'), 'kernel');
    assert.equal(policy.classifyFile(thin, '/initrd.gz?x=1'), 'initrd');
    assert.equal(policy.classifyFile(DISK, 'vmlinuz'), undefined, 'the sanboot terminal boots no kernel');
    assert.equal(policy.classifyFile(thin, 'other.bin'), undefined);
  });
  it('no profiles configured: every terminal boots its local disk under the default profile name', () => {
    const local = new ConfiguredBootPolicy({ boot, profiles: {}, reservations: [], serverAddress: 1, httpPort: 80 });
    assert.deepEqual(local.profileFor(DISK), { name: 'thin', profile: { exit: true } });
    assert.equal(local.bootsLocalDisk, true);
  });
  it('refuses an unknown default or reservation profile, and a malformed reservation MAC, at construction', () => {
    const mk = (o: Partial<ConstructorParameters<typeof ConfiguredBootPolicy>[0]>) => () =>
      new ConfiguredBootPolicy({ boot, profiles, reservations: [], serverAddress: 1, httpPort: 80, ...o });
    assert.throws(mk({ boot: { ...boot, defaultProfile: 'nope' } }), RangeError);
    assert.throws(mk({ boot: { ...boot, defaultProfile: 'toString' } }), RangeError);
    assert.throws(mk({ reservations: [{ mac: '52:54:00:00:00:01', profile: 'nope' }] }), RangeError);
    assert.throws(mk({ reservations: [{ mac: 'xx' }] }), RangeError);
  });
});
