import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/log/logger.ts';
import type { BootProfile } from '../../src/http/ipxe-script.ts';
import { createHttpMetrics } from '../../src/http/metrics.ts';
import { ConfiguredBootPolicy } from '../../src/boot/policy.ts';
import { bootConfigSchema } from '../../src/boot/config.ts';
import { httpConfigSchema, type HttpBootConfig } from '../../src/http/config.ts';
import { HttpBootServer, type BootEvent, type TerminalRoute } from '../../src/http/server.ts';
import type { AdmissionQueue } from '../../src/boot/admission.ts';

export interface CurlResult {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/** Runs the real curl client; `-D` headers are parsed (last response only), body kept as bytes. */
export function curl(args: string[]): Promise<CurlResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bghttp-curl-'));
  const headerFile = join(dir, 'headers');
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--noproxy', '*', '-D', headerFile, ...args], { encoding: 'buffer', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      let raw = '';
      try {
        raw = readFileSync(headerFile, 'latin1');
      } catch {
        /* no response at all */
      }
      rmSync(dir, { recursive: true, force: true });
      if (err) return reject(new Error(`curl ${args.join(' ')}: ${err.message} ${stderr.toString()}`));
      const blocks = raw.split(/\r\n\r\n/).filter((b) => b.startsWith('HTTP/'));
      const last = blocks[blocks.length - 1] ?? '';
      const [statusLine, ...rest] = last.split('\r\n');
      const headers = new Map<string, string>();
      for (const l of rest) {
        const i = l.indexOf(':');
        if (i > 0) headers.set(l.slice(0, i).toLowerCase(), l.slice(i + 1).trim());
      }
      resolve({ status: Number(statusLine?.split(' ')[1]), headers, body: stdout });
    });
  });
}

export interface HttpBootHarness {
  server: HttpBootServer;
  registry: Registry;
  events: BootEvent[];
  root: string;
  base: string;
  close(): Promise<void>;
}

/** An HttpBootServer on 127.0.0.1 (ephemeral high port) serving a fresh temporary root. */
export async function startHttpBoot(
  opts: {
    reservations?: Array<{ mac: string; profile?: string }>;
    defaultProfile?: string;
    profiles?: Record<string, BootProfile>;
    config?: Partial<HttpBootConfig>;
    root?: string;
    admission?: AdmissionQueue;
    onBootEvent?: (e: BootEvent) => void;
    routes?: readonly TerminalRoute[];
  } = {},
): Promise<HttpBootHarness> {
  const root = opts.root ?? mkdtempSync(join(tmpdir(), 'bghttp-root-'));
  const registry = new Registry();
  const events: BootEvent[] = [];
  const profiles = opts.profiles ?? { thin: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'console=ttyS0 bootgate=${bootgate}' } };
  const server = new HttpBootServer({
    config: { ...httpConfigSchema.parse({}), listen: '127.0.0.1', port: 0, root, ...opts.config },
    profiles: new ConfiguredBootPolicy({
      boot: bootConfigSchema.parse({ defaultProfile: opts.defaultProfile ?? Object.keys(profiles)[0]! }),
      profiles,
      reservations: opts.reservations ?? [],
      serverAddress: 0,
      httpPort: 0,
    }),
    logger: createLogger('silent').child({ module: 'http' }),
    metrics: createHttpMetrics(registry),
    iscsiPort: 3260,
    onBootEvent: (e) => {
      events.push(e);
      opts.onBootEvent?.(e);
    },
    ...(opts.admission ? { admission: opts.admission } : {}),
    ...(opts.routes ? { routes: () => opts.routes! } : {}),
  });
  await server.start();
  return {
    server,
    registry,
    events,
    root,
    base: `http://127.0.0.1:${server.port}`,
    async close() {
      await server.stop();
      if (!opts.root) rmSync(root, { recursive: true, force: true });
    },
  };
}
