import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultCacheDirectory } from '../../src/cache/edge-cache.ts';
import { parseConfig } from '../../src/config/load.ts';
import { BootgateError } from '../../src/errors.ts';

const minimal = { interfaces: { lan: 'eth1' }, dhcp: { subnet: '10.0.0.0/24', range: { start: '10.0.0.10', end: '10.0.0.20' } } };

test('the cache slice: off by default, 1 MiB slices, the shipped domains, the directory under dataDir', () => {
  const c = parseConfig(minimal);
  assert.equal(c.cache.enabled, false);
  assert.equal(c.cache.sliceBytes, 1024 * 1024);
  assert.equal(c.cache.builtinDomains, true);
  assert.equal(defaultCacheDirectory(c.dataDir, c.cache), '/var/lib/bootgate/cache');
  const on = parseConfig({ ...minimal, cache: { enabled: true, maxBytes: 1e9, domains: ['/etc/bootgate/games.txt'], directory: '/srv/cache' } });
  assert.equal(on.cache.maxBytes, 1e9);
  assert.equal(defaultCacheDirectory(on.dataDir, on.cache), '/srv/cache');
});

test('the cache slice rejects unknown keys and slices outside 64 KiB … 64 MiB', () => {
  const bad = (cache: object) =>
    assert.throws(
      () => parseConfig({ ...minimal, cache }),
      (e: unknown) => e instanceof BootgateError && e.code === 'CONFIG_INVALID',
    );
  bad({ maxbytes: 1 });
  bad({ sliceBytes: 1000 });
  bad({ sliceBytes: 128 * 1024 * 1024 });
});

test('cache.dnsListener: an IPv4 address and port 80 by default; refused where the HTTP boot server listens', () => {
  const c = parseConfig({ ...minimal, http: { listen: '10.0.0.1' }, cache: { enabled: true, dnsListener: { address: '10.0.0.2' } } });
  assert.deepEqual(c.cache.dnsListener, { address: '10.0.0.2', port: 80 });
  const refused = (config: object, why: RegExp) =>
    assert.throws(
      () => parseConfig({ ...minimal, ...config }),
      (e: unknown) => e instanceof BootgateError && e.code === 'CONFIG_INVALID' && why.test(e.message),
    );
  // the boot server on 0.0.0.0:80 (the default) holds port 80 on every address
  refused(
    { cache: { enabled: true, dnsListener: { address: '10.0.0.2' } } },
    /cache\.dnsListener\.address = "10\.0\.0\.2": the HTTP boot server listens on 0\.0\.0\.0:80/,
  );
  refused({ http: { listen: '10.0.0.2' }, cache: { enabled: true, dnsListener: { address: '10.0.0.2' } } }, /cache\.dnsListener\.address/);
  refused({ cache: { enabled: true, dnsListener: { address: 'cache.lan' } } }, /cache\.dnsListener\.address = "cache\.lan"/);
  // another port, or the boot server on another address: fine
  assert.equal(parseConfig({ ...minimal, cache: { enabled: true, dnsListener: { address: '10.0.0.2', port: 8080 } } }).cache.dnsListener?.port, 8080);
});
