import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { BootTimeline, formatTimeline } from '../../src/boot/timeline.ts';
import { createLogger } from '../../src/log/logger.ts';
import { BootRepository } from '../../src/store/boot-repository.ts';
import { openDatabase } from '../../src/store/database.ts';
import { parseMac } from '../../src/terminal/mac.ts';

const MAC = '52:54:00:00:00:01';

function setup() {
  const db = openDatabase(':memory:');
  const repo = new BootRepository(db);
  const now = { t: 1_000_000 };
  const registry = new Registry();
  const timeline = new BootTimeline({
    repo,
    registry,
    logger: createLogger('silent'),
    clock: () => now.t,
    terminals: { macForIp: (ip) => (ip === '10.0.0.5' ? parseMac(MAC) : undefined) },
    classifyFile: (_mac, path) => (path === 'undionly.kpxe' ? 'nbp' : path === '/vmlinuz' ? 'kernel' : path === '/initrd.gz' ? 'initrd' : undefined),
  });
  return { db, repo, now, timeline, registry };
}

describe('boot timeline', () => {
  it('PXE ROM → NBP → iPXE → script → kernel → initrd → booted is one boot with every stage timed', async () => {
    const { repo, now, timeline, registry } = setup();
    const step = (ms: number): void => void (now.t += ms);
    timeline.dhcp({ mac: MAC, ip: 1, acked: false, ipxe: false, firmware: 'bios' });
    step(10);
    timeline.dhcp({ mac: MAC, ip: 1, acked: true, ipxe: false, firmware: 'bios' });
    step(300);
    timeline.fileServed('10.0.0.5', 'undionly.kpxe');
    step(1000);
    timeline.dhcp({ mac: MAC, ip: 1, acked: false, ipxe: true, firmware: 'bios' });
    timeline.dhcp({ mac: MAC, ip: 1, acked: true, ipxe: true, firmware: 'bios' });
    step(100);
    timeline.scriptServed(MAC);
    timeline.fileServed('10.0.0.5', '/vmlinuz');
    timeline.fileServed('10.0.0.5', '/initrd.gz');
    timeline.fileServed('10.0.0.9', '/vmlinuz'); // not a terminal we know: ignored
    timeline.fileServed('10.0.0.5', '/other'); // not a boot file: ignored
    step(3000);
    timeline.booted(MAC);
    const boots = repo.boots(MAC);
    assert.equal(boots.length, 1);
    assert.equal(boots[0]!.stage, 'booted');
    assert.deepEqual(
      boots[0]!.events.map((e) => e.stage),
      ['dhcp-offered', 'dhcp-acked', 'nbp', 'ipxe-dhcp-offered', 'ipxe-dhcp-acked', 'script', 'kernel', 'initrd', 'booted'],
    );
    assert.match(formatTimeline(boots[0]!), /booted \+4\.41s$/);
    const metrics = await registry.getMetricsAsJSON();
    assert.equal(metrics.find((m) => m.name === 'bootgate_boots_completed_total')!.values[0]!.value, 1);
    assert.equal(repo.terminals()[0]!.firmware, 'bios');
  });

  it('a reboot (or a DHCP restart after booting) starts a new boot; DHCP retries stay in the same boot', () => {
    const { repo, now, timeline } = setup();
    timeline.dhcp({ mac: MAC, ip: 1, acked: false, ipxe: true, firmware: 'bios' });
    timeline.dhcp({ mac: MAC, ip: 1, acked: false, ipxe: true, firmware: 'bios' });
    timeline.dhcp({ mac: MAC, ip: 1, acked: true, ipxe: true, firmware: 'bios' });
    timeline.scriptServed(MAC);
    now.t += 2000;
    timeline.dhcp({ mac: MAC, ip: 1, acked: false, ipxe: true, firmware: 'bios' }); // rebooted mid-way
    assert.equal(repo.boots(MAC).length, 2);
    timeline.booted(MAC);
    timeline.dhcp({ mac: MAC, ip: 1, acked: false, ipxe: false, firmware: 'bios' });
    assert.equal(repo.boots(MAC).length, 3);
    assert.equal(repo.boots(MAC)[1]!.events.length, 2);
  });
  it('a boot first seen over HTTP (no DHCP from us) is recorded, not an error: the terminal row is created', () => {
    const { repo, timeline } = setup();
    const other = '52:54:00:00:00:77';
    timeline.scriptServed(other);
    timeline.booted(other);
    const b = repo.latestBoot(other)!;
    assert.deepEqual(
      b.events.map((e) => e.stage),
      ['script', 'booted'],
    );
    assert.ok(repo.terminals().some((t) => t.mac === other));
  });
});
