/**
 * Offline overlay administration (while no target serves this data dir; the running appliance exposes the
 * same OverlayManager methods through its API):
 *
 *   node --import tsx test/helpers/overlay-admin-runner.ts --data-dir DIR --image NAME=PATH [--image …] <command>
 *     list                         images, versions (* = current)
 *     size <image> <mac>           bytes in a terminal's overlay
 *     reset <image> <mac>          empty a terminal's overlay
 *     commit <image> <mac> [note]  turn a super terminal's overlay into the next image version
 *     rollback <image> <version>   make an existing version current
 * Output is JSON on stdout; exit code 2 on a usage error, 1 on a failed command (with the error code).
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { OverlayError, OverlayManager } from '../../src/overlay/manager.ts';
import { parseMac } from '../../src/terminal/mac.ts';
import { overlaySettings } from '../../src/overlay/config.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'data-dir': { type: 'string' }, image: { type: 'string', multiple: true } },
});
const [cmd, a, b, c] = positionals;
if (!values['data-dir'] || !values.image?.length || !cmd) {
  process.stderr.write('usage: admin.ts --data-dir DIR --image NAME=PATH <list|size|reset|commit|rollback> …\n');
  process.exit(2);
}
const manager = new OverlayManager({
  dataDir: values['data-dir'],
  settings: overlaySettings({
    images: Object.fromEntries(values.image.map((s) => s.split('=') as [string, string])),
    overlays: { defaultMode: 'keep' },
  }),
  logger: pino({ level: 'silent' }),
});
const out = (v: unknown): void => void process.stdout.write(JSON.stringify(v) + '\n');
try {
  await manager.start();
  switch (cmd) {
    case 'list':
      out(manager.images());
      break;
    case 'size':
      out({ image: a, mac: b, overlayBytes: await manager.overlayBytes(a!, parseMac(b!)) });
      break;
    case 'reset':
      await manager.reset(a!, parseMac(b!));
      out({ image: a, mac: b, reset: true });
      break;
    case 'commit':
      manager.setMode(parseMac(b!), 'super');
      out(await manager.commit(a!, parseMac(b!), c));
      break;
    case 'rollback':
      await manager.rollback(a!, Number(b));
      out({ image: a, current: Number(b) });
      break;
    default:
      process.stderr.write(`unknown command ${cmd}\n`);
      process.exit(2);
  }
  await manager.stop();
} catch (err) {
  process.stderr.write(`${err instanceof OverlayError ? err.code : 'ERROR'}: ${(err as Error).message}\n`);
  process.exit(1);
}
