import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsLab } from '../../src/lab/netns.ts';
import { BIN, BootgateProcess, writeScript } from '../helpers/bootgate-process.ts';

/**
 * The running appliance's image/overlay administration (issue 4 "CLI/API"), with real terminals: two client
 * namespaces take DHCP leases from bootgate, then write through QEMU's iSCSI initiator (qemu-io) to their own
 * per-terminal disks. A super terminal's writes become a new image version on commit; rollback restores the old
 * one; a terminal cannot open another terminal's disk (the IQN's MAC must hold the connecting IP's lease).
 */
const API = '127.0.0.1:18444';
const IQN = (mac: string): string => `iqn.2026-11.io.bootgate:disk.gold.${mac.replaceAll(':', '-')}`;
const A = '52:54:00:0a:00:01';
const B = '52:54:00:0a:00:02';

describe('overlay administration through bootgate serve (CLI → API → overlays), with real iSCSI initiators', () => {
  const lab = new NetnsLab('bgovl');
  let bg: BootgateProcess;
  let nsA: string;
  let nsB: string;

  before(async () => {
    lab.createServer('br0', '10.78.0.1/24');
    nsA = lab.addClient({ name: 'a', bridge: 'br0', mac: A });
    nsB = lab.addClient({ name: 'b', bridge: 'br0', mac: B });
    const image = join(mkdtempSync(join(tmpdir(), 'bg-ovl-')), 'gold.img');
    writeFileSync(image, Buffer.alloc(8 << 20));
    bg = new BootgateProcess(lab, {
      interfaces: { lan: 'br0' },
      dhcp: { subnet: '10.78.0.0/24', range: { start: '10.78.0.10', end: '10.78.0.20' } },
      iscsi: { images: { gold: image }, overlays: { defaultMode: 'keep' } },
      api: { listen: API },
    });
    await bg.start();
    const script = writeScript(
      bg.dir,
      'udhcpc.sh',
      'case "$1" in bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface";; esac',
    );
    for (const ns of [nsA, nsB])
      lab.exec(ns, 'busybox', ['udhcpc', '-i', 'eth0', '-q', '-n', '-t', '4', '-T', '1', '-s', script], { timeoutMs: 20_000 });
  });

  after(async () => {
    await lab.destroy();
  });

  const cli = (...args: string[]): string => lab.exec(lab.server, process.execPath, [BIN, ...args, '--config', bg.configFile]);
  const qemuIo = (ns: string, mac: string, ...cmds: string[]): string =>
    lab.exec(ns, 'qemu-io', ['-f', 'raw', ...cmds.flatMap((c) => ['-c', c]), `iscsi://10.78.0.1/${IQN(mac)}/0`], { timeoutMs: 30_000 });

  it('images list shows the golden image at version 1', () => {
    const images = JSON.parse(cli('images', 'list')) as Array<{ image: string; current: number; versions: Array<{ version: number }> }>;
    assert.equal(images[0]!.image, 'gold');
    assert.equal(images[0]!.current, 1);
  });

  it('a terminal writes to its own overlay; overlays size reports it; the image and the other terminal are untouched', () => {
    assert.match(qemuIo(nsA, A, 'write -P 0xab 0 64k', 'flush'), /wrote 65536\/65536 bytes/);
    const size = JSON.parse(cli('overlays', 'size', '--image', 'gold', '--mac', A)) as { bytes: number; mode: string };
    assert.ok(size.bytes >= 65536, `overlay holds ${size.bytes} bytes`);
    assert.equal(size.mode, 'keep');
    assert.match(qemuIo(nsB, B, 'read -P 0 0 64k'), /read 65536\/65536 bytes/);
  });

  it("a terminal cannot open another terminal's disk", () => {
    assert.throws(() => qemuIo(nsB, A, 'read 0 512'));
  });

  it('overlays reset gives the terminal the clean image again', () => {
    cli('overlays', 'reset', '--image', 'gold', '--mac', A);
    assert.match(qemuIo(nsA, A, 'read -P 0 0 64k'), /read 65536\/65536 bytes/);
  });

  it('super terminal: commit makes its writes version 2 for everyone who boots afterwards; rollback restores version 1', () => {
    cli('overlays', 'mode', '--mac', A, '--mode', 'super');
    assert.match(qemuIo(nsA, A, 'write -P 0xcd 1M 64k', 'flush'), /wrote/);
    const v = JSON.parse(cli('images', 'commit', '--image', 'gold', '--mac', A, '--note', 'test update')) as { version: number };
    assert.equal(v.version, 2);
    const listed = JSON.parse(cli('images', 'list')) as Array<{ current: number }>;
    assert.equal(listed[0]!.current, 2);
    cli('overlays', 'reset', '--image', 'gold', '--mac', B);
    assert.match(qemuIo(nsB, B, 'read -P 0xcd 1M 64k'), /read 65536\/65536 bytes/, 'B sees version 2');
    cli('images', 'rollback', '--image', 'gold', '--version', '1');
    cli('overlays', 'reset', '--image', 'gold', '--mac', B);
    assert.match(qemuIo(nsB, B, 'read -P 0 1M 64k'), /read 65536\/65536 bytes/, 'B sees version 1 again');
  });

  it('the API refuses callers without a token (401); /metrics stays open', () => {
    const code = lab.exec(lab.server, 'curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-X',
      'POST',
      `http://${API}/api/v1/images/gold/rollback`,
      '-H',
      'content-type: application/json',
      '-d',
      '{"version":1}',
    ]);
    assert.equal(code, '401');
    assert.equal(lab.exec(lab.server, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${API}/api/v1/leases`]), '401');
    assert.equal(lab.exec(lab.server, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${API}/metrics`]), '200');
  });

  it('API errors are clear: unknown image → exit 2 with IMAGE_UNKNOWN', () => {
    assert.throws(() => cli('overlays', 'size', '--image', 'nope', '--mac', A), /IMAGE_UNKNOWN/);
  });
});
