/**
 * The uklans `cache-domains` format (github.com/uklans/cache-domains): a `cache_domains.json` naming services,
 * each with domain files; a domain file holds one name per line, `*.name` for every name below `name`, `#`
 * comments and blank lines. `DomainMatcher` answers "which service is this host?" for the key and for DNS.
 *
 * Matching: an exact line matches that name only; `*.example.com` matches names strictly below example.com (not
 * example.com itself, as in the RPZ and dnsmasq outputs of the uklans scripts: the lists carry the apex on its own
 * line where it is wanted). The exact name wins over wildcards; among wildcards the longest suffix wins.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BootgateError } from '../errors.ts';

export interface ServiceDomains {
  service: string;
  /** lowercase names without a trailing dot; a leading `*.` marks a wildcard */
  names: string[];
}

const NAME = /^(\*\.)?([a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*)$/;

/** One domain file's text → its names. `where` names the file in errors. Throws CACHE_DOMAINS_INVALID with the line number. */
export function parseDomainList(text: string, where: string): string[] {
  const names: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim().toLowerCase().replace(/\.$/, '');
    if (line === '') return;
    if (line.length > 253 || !NAME.test(line))
      throw new BootgateError('CACHE_DOMAINS_INVALID', `${where}:${i + 1}: not a domain name or *.name: ${JSON.stringify(raw)}`);
    names.push(line);
  });
  return names;
}

interface ServiceEntry {
  name?: unknown;
  domain_files?: unknown;
}

/** `cache_domains.json` text → services with their domain files' paths (relative to the JSON file's directory). */
export function parseCacheDomainsJson(text: string, where: string): { service: string; files: string[] }[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new BootgateError('CACHE_DOMAINS_INVALID', `${where}: not JSON: ${(e as Error).message}`);
  }
  const list = (doc as { cache_domains?: unknown } | null)?.cache_domains;
  if (!Array.isArray(list)) throw new BootgateError('CACHE_DOMAINS_INVALID', `${where}: no cache_domains array`);
  return list.map((e: ServiceEntry, i) => {
    const ok = typeof e?.name === 'string' && /^[A-Za-z0-9_-]+$/.test(e.name) && Array.isArray(e.domain_files);
    const files = ok ? (e.domain_files as unknown[]) : [];
    if (!ok || !files.every((f) => typeof f === 'string' && f !== '' && !f.includes('..')))
      throw new BootgateError('CACHE_DOMAINS_INVALID', `${where}: cache_domains[${i}] needs a name and domain_files`);
    return { service: e.name as string, files: files as string[] };
  });
}

/** Reads a cache_domains.json and its domain files. */
export function loadCacheDomainsJson(path: string): ServiceDomains[] {
  return parseCacheDomainsJson(readText(path), path).map(({ service, files }) => ({
    service,
    names: files.flatMap((f) => {
      const p = join(dirname(path), f);
      return parseDomainList(readText(p), p);
    }),
  }));
}

/** An operator's domain file: the service is the file's base name without its extension (`games.txt` → `games`). */
export function loadDomainFile(path: string): ServiceDomains {
  return { service: basename(path).replace(/\.[^.]*$/, ''), names: parseDomainList(readText(path), path) };
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new BootgateError('CACHE_DOMAINS_INVALID', `${path}: ${(e as Error).message}`);
  }
}

/** The data set shipped in the repository (config/cache-domains/). */
export const BUILTIN_CACHE_DOMAINS = new URL('../../config/cache-domains/cache_domains.json', import.meta.url).pathname;

/** host → service. Later sources override earlier ones for the same name (the operator's files come last). */
export class DomainMatcher {
  private readonly exact = new Map<string, string>();
  private readonly wild = new Map<string, string>();

  constructor(sources: readonly ServiceDomains[]) {
    for (const s of sources)
      for (const n of s.names) {
        if (n.startsWith('*.')) this.wild.set(n.slice(2), s.service);
        else this.exact.set(n, s.service);
      }
  }

  /** The service of a host name (any case, trailing dot and port ignored), or undefined. */
  match(host: string): string | undefined {
    const h = host.toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
    const e = this.exact.get(h);
    if (e !== undefined) return e;
    // walk up from the longest proper suffix: a.b.c.com → b.c.com → c.com → com
    for (let i = h.indexOf('.'); i !== -1; i = h.indexOf('.', i + 1)) {
      const s = this.wild.get(h.slice(i + 1));
      if (s !== undefined) return s;
    }
    return undefined;
  }

  get size(): number {
    return this.exact.size + this.wild.size;
  }
}
