import { parseIpLiteral } from '../wire/ip-address.ts';
import type { CachedReply } from './cache.ts';
import type { DnsQuestion, DnsRecord } from './codec.ts';
import type { DnsConfig } from './config.ts';
import { Rcode, RRClass, RRType } from './constants.ts';
import { canonicalName, isSubdomain } from './name.ts';

/** The addresses a local name stands for. */
export interface LocalAddresses {
  addresses: readonly string[];
  /** defaults to dns.localTtlSeconds */
  ttlSeconds?: number;
}

/**
 * The port the appliance implements to answer names it owns: `<class>.svc.<domain>` (a platform class's service
 * address), the boot server's name, … Called for every query before the cache, with the name folded to lower case
 * and without the final dot; `undefined` means "not mine". It must answer synchronously and quickly.
 */
export interface LocalAnswers {
  lookup(name: string, clientIp: string): LocalAddresses | undefined;
}

export interface LocalReply extends CachedReply {
  /** authoritative (AA=1): a name we own */
  authoritative: true;
}

/** in-addr.arpa / ip6.arpa name of an address (RFC 1035 §3.5, RFC 3596 §2.5). */
export function reverseName(address: string): string | undefined {
  const a = parseIpLiteral(address);
  if (!a) return undefined;
  if (a.family === 4) {
    const v = Number(a.value & 0xffffffffn);
    return `${v & 0xff}.${(v >>> 8) & 0xff}.${(v >>> 16) & 0xff}.${v >>> 24}.in-addr.arpa`;
  }
  return `${[...a.value.toString(16).padStart(32, '0')].reverse().join('.')}.ip6.arpa`;
}

/**
 * The local data: fixed `hosts` entries (with their PTR records), the appliance's LocalAnswers, and the local
 * domain itself, which is never forwarded: a name below it that nobody owns is NXDOMAIN, a type it lacks NODATA,
 * both with the domain's SOA so clients cache the negative answer (RFC 2308 §3).
 */
export class LocalData {
  private readonly hosts = new Map<string, string[]>();
  private readonly ptr = new Map<string, string>();
  private readonly domain: string;

  constructor(
    private readonly config: Readonly<DnsConfig>,
    private readonly answers?: LocalAnswers,
  ) {
    this.domain = canonicalName(config.domain.replace(/\.$/, ''));
    for (const [raw, value] of Object.entries(config.hosts)) {
      const addresses = typeof value === 'string' ? [value] : [...value];
      const name = canonicalName(raw.replace(/\.$/, ''));
      const names = name.includes('.') ? [name] : [name, `${name}.${this.domain}`];
      for (const n of names) this.hosts.set(n, [...(this.hosts.get(n) ?? []), ...addresses]);
      for (const a of addresses) {
        const r = reverseName(a);
        if (r && !this.ptr.has(r)) this.ptr.set(r, names.at(-1)!);
      }
    }
  }

  private soa(): DnsRecord {
    const ttl = this.config.localTtlSeconds;
    const d = this.domain;
    return {
      name: d,
      type: RRType.SOA,
      class: RRClass.IN,
      ttl,
      data: { kind: 'soa', mname: d, rname: `hostmaster.${d}`, serial: 1, refresh: 3600, retry: 600, expire: 86_400, minimum: ttl },
    };
  }

  /** A reply from local data, or undefined when the question is not ours (it goes to the cache and upstreams). */
  answer(q: DnsQuestion, clientIp: string): LocalReply | undefined {
    const name = canonicalName(q.name);
    const ptr = q.type === RRType.PTR || q.type === RRType.ANY ? this.ptr.get(name) : undefined;
    if (ptr !== undefined)
      return this.reply(Rcode.NOERROR, [
        { name: q.name, type: RRType.PTR, class: RRClass.IN, ttl: this.config.localTtlSeconds, data: { kind: 'name', target: ptr } },
      ]);
    let found: LocalAddresses | undefined;
    const fixed = this.hosts.get(name);
    if (fixed) found = { addresses: fixed };
    else found = this.answers?.lookup(name, clientIp);
    if (found) {
      const ttl = found.ttlSeconds ?? this.config.localTtlSeconds;
      const rrs: DnsRecord[] = [];
      for (const address of found.addresses) {
        const a = parseIpLiteral(address);
        if (!a) continue;
        const v4 = a.family === 4;
        if (q.type === (v4 ? RRType.A : RRType.AAAA) || q.type === RRType.ANY)
          rrs.push({
            name: q.name,
            type: v4 ? RRType.A : RRType.AAAA,
            class: RRClass.IN,
            ttl,
            data: v4 ? { kind: 'a', address } : { kind: 'aaaa', address },
          });
      }
      return this.reply(Rcode.NOERROR, rrs, rrs.length === 0);
    }
    if (!isSubdomain(name, this.domain)) return undefined;
    if (name === this.domain && (q.type === RRType.SOA || q.type === RRType.ANY)) return this.reply(Rcode.NOERROR, [this.soa()]);
    return this.reply(name === this.domain ? Rcode.NOERROR : Rcode.NXDOMAIN, [], true);
  }

  private reply(rcode: number, answers: DnsRecord[], withSoa = false): LocalReply {
    return { rcode, answers, authority: withSoa ? [this.soa()] : [], additional: [], authoritative: true };
  }
}
