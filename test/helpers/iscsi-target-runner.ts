/**
 * Runs the iSCSI target alone, for tests and benchmarks (the appliance wires it into `bootgate serve`).
 *
 *   node --import tsx test/helpers/iscsi-target-runner.ts --port 3260 --image /path/disk.img [--iqn IQN] [--read-only]
 *   node --import tsx test/helpers/iscsi-target-runner.ts --port 3260 --data-dir DIR --overlay-image NAME=/path/disk.img \
 *        [--mode discard|keep|super] [--terminal-mode MAC=MODE ...] [--overlay-limit-bytes N]
 *        [--chap user:secret[:tuser:tsecret]] [--bind MAC=IP,...]
 *
 * Without --overlay-image every initiator sees the one image (plain file disk). With it, each terminal gets
 * its own copy-on-write overlay; target names are iqn.2026-11.io.bootgate:disk.<image>.<mac> and, as there
 * are no DHCP leases here, any client may open any MAC (`--bind mac=ip,...` restricts them).
 * Prints "iscsi target ready <port>" on stdout when listening; SIGTERM/SIGINT stop it cleanly.
 */
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/log/logger.ts';
import { parseMac, type Mac } from '../../src/terminal/mac.ts';
import { iscsiTargetConfigSchema } from '../../src/iscsi/config.ts';
import { overlaySettings } from '../../src/overlay/config.ts';
import { OverlayManager, type OverlayMode } from '../../src/overlay/manager.ts';
import { OverlayDeviceProvider } from '../../src/overlay/provider.ts';
import type { BlockDeviceProvider, ChapCredentials } from '../../src/iscsi/block-device.ts';
import { FileBlockDevice } from '../../src/iscsi/file-device.ts';
import { IscsiTarget } from '../../src/iscsi/target.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '3260' },
    listen: { type: 'string', default: '0.0.0.0' },
    image: { type: 'string' },
    iqn: { type: 'string', default: 'iqn.2026-11.io.bootgate:disk.test' },
    'read-only': { type: 'boolean', default: false },
    'data-dir': { type: 'string' },
    'overlay-image': { type: 'string', multiple: true },
    mode: { type: 'string', default: 'discard' },
    'overlay-limit-bytes': { type: 'string' },
    chap: { type: 'string' },
    bind: { type: 'string' },
    'terminal-mode': { type: 'string', multiple: true },
    'log-level': { type: 'string', default: 'warn' },
    'immediate-data': { type: 'string' },
    'initial-r2t': { type: 'string' },
  },
});

function chapFrom(spec: string | undefined): ChapCredentials | undefined {
  if (!spec) return undefined;
  const [user, secret, targetUser, targetSecret] = spec.split(':');
  return { user: user!, secret: secret!, targetUser, targetSecret };
}

const logger = createLogger(values['log-level'] as 'warn');
const chap = chapFrom(values.chap);
let provider: BlockDeviceProvider;
let manager: OverlayManager | undefined;
if (values['overlay-image']?.length) {
  const images = Object.fromEntries(values['overlay-image'].map((s) => s.split('=') as [string, string]));
  manager = new OverlayManager({
    dataDir: values['data-dir'] ?? '/tmp/bootgate-iscsi',
    settings: overlaySettings({
      images,
      overlays: {
        defaultMode: values.mode as OverlayMode,
        terminals: Object.fromEntries((values['terminal-mode'] ?? []).map((s) => s.split('=') as [string, OverlayMode])),
        ...(values['overlay-limit-bytes'] ? { limitBytes: Number(values['overlay-limit-bytes']) } : {}),
      },
    }),
    logger,
  });
  await manager.start();
  const binds = new Map(
    (values.bind ?? '')
      .split(',')
      .filter(Boolean)
      .map((kv) => kv.split('=') as [string, string])
      .map(([m, ip]) => [parseMac(m), ip] as [Mac, string]),
  );
  provider = new OverlayDeviceProvider({
    manager,
    ipForMac: binds.size ? (mac) => binds.get(mac) : undefined,
    chap: chap ? () => chap : undefined,
    macsForIp: (ip) => [...binds].filter(([, v]) => v === ip).map(([m]) => m),
  });
} else {
  if (!values.image) throw new Error('--image or --overlay-image is required');
  const device = await FileBlockDevice.open(values.image, { readOnly: values['read-only'], id: values.iqn });
  const iqn = values.iqn;
  provider = {
    async resolve(ctx) {
      if (ctx.targetName !== iqn) return { status: 'not-found' };
      return { status: 'ok', chap, open: async () => ({ device, release: () => {} }) };
    },
    async listTargets() {
      return [iqn];
    },
  };
}

const target = new IscsiTarget({
  config: {
    ...iscsiTargetConfigSchema.parse({}),
    listen: values.listen,
    port: Number(values.port),
    preferences: {
      ...(values['immediate-data'] ? { immediateData: values['immediate-data'] === 'Yes' } : {}),
      ...(values['initial-r2t'] ? { initialR2T: values['initial-r2t'] === 'Yes' } : {}),
    },
  },
  logger,
  registry: new Registry(),
  provider,
});
await target.start();
process.stdout.write(`iscsi target ready ${target.port}\n`);
const stop = async (): Promise<void> => {
  await target.stop();
  await manager?.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
