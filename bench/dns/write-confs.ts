/**
 * Writes the benchmark's peer configs into DIR: upstream.conf (unbound, authoritative test zone) and
 * resolver-unbound.conf (unbound as a caching forwarder, the peer measured). Usage: write-confs.ts DIR UPSTREAM_IP
 * RESOLVER_IP ALLOW_CIDR
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unboundConfig } from '../../test/helpers/dns-upstream.ts';

const [dir, upstream, resolver, allow] = process.argv.slice(2) as [string, string, string, string];
writeFileSync(join(dir, 'upstream.conf'), unboundConfig({ listen: upstream, allow: '0.0.0.0/0', dir }));
writeFileSync(
  join(dir, 'resolver-unbound.conf'),
  [
    'server:',
    `  interface: ${resolver}@53`,
    `  access-control: ${allow} allow`,
    '  do-daemonize: no',
    '  chroot: ""',
    '  username: ""',
    `  directory: "${dir}"`,
    `  pidfile: "${join(dir, 'resolver-unbound.pid')}"`,
    '  use-syslog: no',
    '  logfile: ""',
    '  verbosity: 0',
    '  do-ip6: no',
    '  num-threads: 1',
    '  module-config: "iterator"',
    '  do-not-query-localhost: no',
    '  msg-cache-size: 16m',
    '  rrset-cache-size: 32m',
    'forward-zone:',
    '  name: "."',
    `  forward-addr: ${upstream}`,
    'remote-control:',
    '  control-enable: no',
    '',
  ].join('\n'),
);
