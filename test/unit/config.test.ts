import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig, parseConfig } from '../../src/config/load.ts';
import { BootgateError } from '../../src/errors.ts';
import { parseTargetIqn, targetIqn } from '../../src/terminal/iqn.ts';
import { parseMac } from '../../src/terminal/mac.ts';

const minimal = { interfaces: { lan: 'eth1' }, dhcp: { subnet: '10.0.0.0/24', range: { start: '10.0.0.10', end: '10.0.0.20' } } };

function configError(doc: unknown): BootgateError {
  try {
    parseConfig(doc);
  } catch (e) {
    assert.ok(e instanceof BootgateError);
    return e;
  }
  assert.fail('config was accepted');
}

describe('config', () => {
  it('the example config validates, and its documented values are the defaults', () => {
    const example = loadConfig(join(import.meta.dirname, '../../config/bootgate.example.yaml'));
    const defaults = parseConfig({ ...minimal, dhcp: { ...minimal.dhcp, subnet: example.dhcp.subnet, range: example.dhcp.range } });
    assert.equal(example.dhcp.leaseSeconds, defaults.dhcp.leaseSeconds);
    assert.deepEqual(example.boot, defaults.boot);
    assert.deepEqual(example.dhcp.rateLimit, defaults.dhcp.rateLimit);
    assert.deepEqual(example.dhcp.conflictCheck, defaults.dhcp.conflictCheck);
    assert.equal(example.api.listen, defaults.api.listen);
    assert.deepEqual(example.tftp, defaults.tftp);
    assert.deepEqual(example.http, defaults.http);
    assert.deepEqual(example.ipv6, defaults.ipv6);
  });

  it('is frozen', () => {
    const c = parseConfig(minimal);
    assert.ok(Object.isFrozen(c.dhcp.range));
  });

  it('unknown keys are rejected by name', () => {
    const e = configError({ ...minimal, dhcp: { ...minimal.dhcp, leaseSecs: 60 } });
    assert.equal(e.code, 'CONFIG_INVALID');
    assert.match(e.message, /dhcp\.leaseSecs = unknown key: is not a known key/);
  });

  it('a bad value names the key, the value and the reason', () => {
    const e = configError({ ...minimal, dhcp: { ...minimal.dhcp, router: '10.0.0.256' } });
    assert.match(e.message, /dhcp\.router = "10\.0\.0\.256": must be a dotted IPv4 address/);
    const r = configError({ ...minimal, dhcp: { ...minimal.dhcp, range: { start: '10.0.0.10', end: '10.0.1.20' } } });
    assert.match(r.message, /dhcp\.range = .*range must lie inside subnet/);
    const m = configError({ ...minimal, dhcp: { ...minimal.dhcp, reservations: [{ mac: 'zz', ip: '10.0.0.5' }] } });
    assert.match(m.message, /dhcp\.reservations\.0\.mac = "zz": must be a MAC address/);
    const p = configError({ ...minimal, dhcp: { ...minimal.dhcp, reservations: [{ mac: '52:54:00:00:00:01', ip: '10.0.0.5', profile: 'nope' }] } });
    assert.match(p.message, /dhcp\.reservations\.0\.profile = "nope": names no profile/);
    const relay = { subnet: '10.1.0.0/24', range: { start: '10.1.0.10', end: '10.1.0.20' } };
    const a = configError({ ...minimal, dhcp: { ...minimal.dhcp, relaySubnets: [relay] } });
    assert.match(a.message, /dhcp\.relayAgents = missing: relaySubnets needs relayAgents/);
    const bad = configError({ ...minimal, dhcp: { ...minimal.dhcp, relaySubnets: [relay], relayAgents: ['10.1.0.300'] } });
    assert.match(bad.message, /dhcp\.relayAgents\.0 = "10\.1\.0\.300": must be a dotted IPv4 address/);
  });

  it('an image name the config accepts is one the target accepts (one rule, terminal/iqn.ts), and the reverse', () => {
    const withImage = (name: string) => ({ ...minimal, iscsi: { images: { [name]: '/srv/disk.img' } } });
    for (const good of ['debian-12.1', 'win10', 'a']) {
      assert.deepEqual(Object.keys(parseConfig(withImage(good)).iscsi.images), [good]);
      assert.equal(parseTargetIqn(targetIqn(good, parseMac('52:54:00:00:00:01')))?.image, good, good);
    }
    for (const bad of ['Debian', 'x.', '-x', 'a_b', 'a/b']) {
      assert.match(configError(withImage(bad)).message, /iscsi\.images\..* image names are 1-63 lowercase letters/, bad);
      assert.throws(() => targetIqn(bad, parseMac('52:54:00:00:00:01')), RangeError, bad);
    }
  });

  it('a profile, reservation or image named like an Object prototype member is still unknown', () => {
    const p = configError({
      ...minimal,
      dhcp: { ...minimal.dhcp, reservations: [{ mac: '52:54:00:00:00:01', ip: '10.0.0.5', profile: 'toString' }] },
    });
    assert.match(p.message, /dhcp\.reservations\.0\.profile = "toString": names no profile/);
    const s = configError({ ...minimal, profiles: { disk: { sanboot: 'constructor' } }, boot: { defaultProfile: 'disk' } });
    assert.match(s.message, /profiles\.disk\.sanboot = "constructor": names no image/);
  });
  it('bootgate check-config prints the effective config, or fails with exit 2 and the reason', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-cfg-'));
    const good = join(dir, 'good.yaml');
    writeFileSync(good, JSON.stringify(minimal));
    const out = execFileSync(process.execPath, [join(import.meta.dirname, '../../bin/bootgate.js'), 'check-config', good], { encoding: 'utf8' });
    assert.equal(parse(out).dhcp.leaseSeconds, 86400);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'interfaces: { lan: eth1 }\ndhcp: { subnet: 10.0.0.0/33, range: { start: 10.0.0.1, end: 10.0.0.2 } }\n');
    const r = spawnSync(process.execPath, [join(import.meta.dirname, '../../bin/bootgate.js'), 'check-config', bad], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /CONFIG_INVALID/);
    assert.match(r.stderr, /dhcp\.subnet = "10\.0\.0\.0\/33"/);
  });

  it('check-config warns on stderr, naming the profile, the key and the path, when a kernel or initrd is not under the boot root', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-cfg-'));
    const root = join(dir, 'boot');
    mkdirSync(join(root, 'sub'), { recursive: true });
    writeFileSync(join(root, 'vmlinuz'), 'k');
    writeFileSync(join(root, 'sub', 'initrd.gz'), 'i');
    const file = join(dir, 'c.yaml');
    const doc = {
      ...minimal,
      tftp: { root },
      profiles: {
        good: { kernel: 'vmlinuz', initrd: ['/sub/initrd.gz'] },
        typo: { kernel: 'vmlinux', initrd: ['sub/initrd.gz', 'sub'] },
        escape: { kernel: '../outside' },
      },
      boot: { defaultProfile: 'good' },
    };
    writeFileSync(file, JSON.stringify(doc));
    const r = spawnSync(process.execPath, [join(import.meta.dirname, '../../bin/bootgate.js'), 'check-config', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(parse(r.stdout).boot.defaultProfile, 'good', 'stdout is still the effective config');
    const warnings = r.stderr.trim().split('\n');
    assert.deepEqual(warnings, [
      `bootgate: warning: profiles.typo.kernel = "vmlinux": no such file under the boot root ${root} (${join(root, 'vmlinux')}); terminals on this profile will get a 404`,
      `bootgate: warning: profiles.typo.initrd.1 = "sub": not a regular file under the boot root ${root} (${join(root, 'sub')}); terminals on this profile will get a 404`,
      `bootgate: warning: profiles.escape.kernel = "../outside": outside the boot root ${root} (${join(dir, 'outside')}); terminals on this profile will get a 404`,
    ]);
  });
});
