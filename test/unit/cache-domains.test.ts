import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  BUILTIN_CACHE_DOMAINS,
  DomainMatcher,
  loadCacheDomainsJson,
  loadDomainFile,
  parseCacheDomainsJson,
  parseDomainList,
} from '../../src/cache/cache-domains.ts';
import { BootgateError } from '../../src/errors.ts';

const code = (c: string) => (e: unknown) => e instanceof BootgateError && e.code === c;

test('a domain list: names, wildcards, comments, blank lines, case and trailing dots', () => {
  const text = '# Steam\n\nlancache.steamcontent.com\n*.steamcontent.com   # every depot host\r\nCONTENT1.SteamPowered.com.\n   \n';
  assert.deepEqual(parseDomainList(text, 'steam.txt'), ['lancache.steamcontent.com', '*.steamcontent.com', 'content1.steampowered.com']);
});

test('a domain list refuses what is not a name, with the line number', () => {
  assert.throws(
    () => parseDomainList('ok.example\nbad name.example\n', 'x.txt'),
    (e: unknown) => code('CACHE_DOMAINS_INVALID')(e) && /x\.txt:2/.test((e as Error).message),
  );
  assert.throws(() => parseDomainList('a.*.example\n', 'x.txt'), code('CACHE_DOMAINS_INVALID'));
  assert.throws(() => parseDomainList('*\n', 'x.txt'), code('CACHE_DOMAINS_INVALID'));
});

test('cache_domains.json: services and their files; malformed documents are refused', () => {
  const doc = {
    cache_domains: [
      { name: 'steam', description: 'x', domain_files: ['steam.txt'] },
      { name: 'wsus', domain_files: ['a.txt', 'b.txt'] },
    ],
  };
  assert.deepEqual(parseCacheDomainsJson(JSON.stringify(doc), 'j'), [
    { service: 'steam', files: ['steam.txt'] },
    { service: 'wsus', files: ['a.txt', 'b.txt'] },
  ]);
  assert.throws(() => parseCacheDomainsJson('{', 'j'), code('CACHE_DOMAINS_INVALID'));
  assert.throws(() => parseCacheDomainsJson('{"cache_domains": [{"name": "x"}]}', 'j'), code('CACHE_DOMAINS_INVALID'));
  assert.throws(
    () => parseCacheDomainsJson('{"cache_domains": [{"name": "x", "domain_files": ["../etc/passwd"]}]}', 'j'),
    code('CACHE_DOMAINS_INVALID'),
  );
});

test('matching: exact beats wildcard, a wildcard covers names below but not the apex, ports and case ignored', () => {
  const m = new DomainMatcher([
    { service: 'cdn', names: ['*.example.com'] },
    { service: 'special', names: ['dl.example.com', '*.deep.example.com'] },
  ]);
  assert.equal(m.match('a.example.com'), 'cdn');
  assert.equal(m.match('A.B.Example.COM.'), 'cdn');
  assert.equal(m.match('example.com'), undefined);
  assert.equal(m.match('dl.example.com:80'), 'special');
  assert.equal(m.match('x.deep.example.com'), 'special'); // the longest wildcard suffix wins
  assert.equal(m.match('deep.example.com'), 'cdn');
  assert.equal(m.match('example.org'), undefined);
  assert.equal(m.match('notexample.com'), undefined);
});

test('the shipped data set loads, and operator files are named after the file and override it', () => {
  const builtin = loadCacheDomainsJson(BUILTIN_CACHE_DOMAINS);
  assert.deepEqual(builtin.map((s) => s.service).sort(), ['blizzard', 'epicgames', 'steam', 'windowsupdate']);
  const dir = mkdtempSync(join(tmpdir(), 'cache-domains-'));
  writeFileSync(join(dir, 'lan-mirror.txt'), '# ours\nlancache.steamcontent.com\n*.mirror.lan\n');
  const own = loadDomainFile(join(dir, 'lan-mirror.txt'));
  assert.equal(own.service, 'lan-mirror');
  const m = new DomainMatcher([...builtin, own]);
  assert.equal(m.match('cache1-fra1.steamcontent.com'), 'steam');
  assert.equal(m.match('lancache.steamcontent.com'), 'lan-mirror');
  assert.equal(m.match('pkg.mirror.lan'), 'lan-mirror');
  assert.equal(m.match('x.dl.delivery.mp.microsoft.com'), 'windowsupdate');
  assert.equal(m.match('level3.blizzard.com'), 'blizzard');
  assert.throws(() => loadDomainFile(join(dir, 'missing.txt')), code('CACHE_DOMAINS_INVALID'));
});
