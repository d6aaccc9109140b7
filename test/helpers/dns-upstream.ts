import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The test zone served as authoritative local-data by the upstream resolvers (unbound, dnsmasq). */
export const ZONE = 'test.example';
export const SOA_MINIMUM = 300;
/** A TXT RRset larger than 1232 bytes: truncated over UDP at every hop, complete over TCP. */
export const BIG_TXT_STRINGS = Array.from({ length: 12 }, (_, i) => `chunk${String(i).padStart(2, '0')}-${'x'.repeat(200)}`);

export const ZONE_RECORDS = {
  'www.test.example': { a: '192.0.2.10', aaaa: '2001:db8::10' },
  'other.test.example': { a: '192.0.2.11' },
  'alias.test.example': { cname: 'www.test.example' },
};

/** An unbound.conf serving the test zone (local-zone static: unknown names are NXDOMAIN with the SOA). */
export function unboundConfig(opts: { listen: string; port?: number; allow: string; dir: string }): string {
  const lines = [
    'server:',
    `  interface: ${opts.listen}@${opts.port ?? 53}`,
    `  access-control: ${opts.allow} allow`,
    '  do-daemonize: no',
    '  chroot: ""',
    '  username: ""',
    `  directory: "${opts.dir}"`,
    `  pidfile: "${join(opts.dir, 'unbound.pid')}"`,
    '  use-syslog: no',
    '  logfile: ""',
    '  verbosity: 0',
    '  do-ip6: no',
    '  num-threads: 1',
    '  module-config: "iterator"',
    '  harden-referral-path: no',
    `  local-zone: "${ZONE}." static`,
    `  local-data: "${ZONE}. 3600 IN SOA ns.${ZONE}. admin.${ZONE}. 1 3600 600 86400 ${SOA_MINIMUM}"`,
    `  local-data: "www.${ZONE}. 600 IN A ${ZONE_RECORDS['www.test.example'].a}"`,
    `  local-data: "www.${ZONE}. 600 IN AAAA ${ZONE_RECORDS['www.test.example'].aaaa}"`,
    `  local-data: "other.${ZONE}. 600 IN A ${ZONE_RECORDS['other.test.example'].a}"`,
    `  local-data: "alias.${ZONE}. 600 IN CNAME www.${ZONE}."`,
    `  local-data: 'big.${ZONE}. 600 IN TXT ${BIG_TXT_STRINGS.map((s) => `"${s}"`).join(' ')}'`,
    'remote-control:',
    '  control-enable: no',
  ];
  return `${lines.join('\n')}\n`;
}

/** A throwaway directory for a peer's config (world-readable: unbound may drop privileges). */
export function peerDir(prefix: string): { dir: string; write: (name: string, text: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return {
    dir,
    write: (name, text) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
