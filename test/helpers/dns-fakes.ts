import { Registry } from 'prom-client';
import { pino } from 'pino';
import { decodeMessage, encodeMessage, type DnsMessage, type DnsRecord } from '../../src/dns/codec.ts';
import { dnsConfigSchema } from '../../src/dns/config.ts';
import type { UpstreamAddress } from '../../src/dns/config.ts';
import { RRClass, RRType, Rcode } from '../../src/dns/constants.ts';
import { createDnsMetrics } from '../../src/dns/metrics.ts';
import { DnsResolver, type DnsQueryEvent, type QueryContext } from '../../src/dns/resolver.ts';
import type { LocalAnswers } from '../../src/dns/local.ts';
import { UpstreamError, type UpstreamTransport } from '../../src/dns/upstream.ts';

export const IN = RRClass.IN;
export const UDP: QueryContext = { clientIp: '10.53.0.2', transport: 'udp' };
export const TCP: QueryContext = { clientIp: '10.53.0.2', transport: 'tcp' };

/** How a fake upstream answers: records for a name/type, or a whole behaviour. */
export type Behaviour = 'answer' | 'timeout' | 'servfail' | 'spoof-then-answer' | 'truncate-udp';

/** Upstreams without sockets: each address answers from a small zone and counts what it was asked. */
export class FakeUpstreams implements UpstreamTransport {
  readonly asked: Array<{ to: string; transport: 'udp' | 'tcp'; name: string; type: number; id: number }> = [];
  readonly behaviour = new Map<string, Behaviour>();
  /** name → records (A/AAAA/TXT); a missing name is NXDOMAIN with an SOA */
  readonly zone = new Map<string, DnsRecord[]>();
  /** resolved by tests to hold an answer back (coalescing) */
  gate: Promise<void> | undefined;

  private reply(q: DnsMessage, tc = false): Buffer {
    const question = q.questions[0]!;
    const records = this.zone.get(question.name.toLowerCase());
    const answers = (records ?? []).filter((r) => r.type === question.type);
    const soa: DnsRecord = {
      name: 'example.org',
      type: RRType.SOA,
      class: IN,
      ttl: 3600,
      data: { kind: 'soa', mname: 'ns.example.org', rname: 'h.example.org', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 60 },
    };
    return encodeMessage({
      id: q.id,
      flags: { qr: true, opcode: 0, aa: false, tc, rd: true, ra: true, ad: false, cd: false },
      rcode: records ? Rcode.NOERROR : Rcode.NXDOMAIN,
      questions: q.questions,
      answers: tc ? [] : answers,
      authority: answers.length === 0 ? [soa] : [],
      additional: [],
    });
  }

  private async exchange(transport: 'udp' | 'tcp', to: UpstreamAddress, query: Buffer, accept: (b: Buffer) => boolean): Promise<Buffer> {
    const q = decodeMessage(query);
    const key = `${to.address}:${to.port}`;
    this.asked.push({ to: key, transport, name: q.questions[0]!.name, type: q.questions[0]!.type, id: q.id });
    if (this.gate) await this.gate;
    const b = this.behaviour.get(key) ?? 'answer';
    if (b === 'timeout') throw new UpstreamError('timeout', 'fake timeout');
    if (b === 'servfail') {
      const r = Buffer.from(this.reply(q));
      r[3] = (r[3]! & 0xf0) | Rcode.SERVFAIL;
      if (!accept(r)) throw new UpstreamError('timeout', 'servfail not accepted');
      return r;
    }
    if (b === 'spoof-then-answer') {
      const wrongId = this.reply({ ...q, id: (q.id + 1) & 0xffff });
      const wrongName = this.reply({ ...q, questions: [{ ...q.questions[0]!, name: 'evil.example.org' }] });
      if (accept(wrongId) || accept(wrongName) || accept(Buffer.from('garbage'))) throw new Error('a forged reply was accepted');
    }
    const r = this.reply(q, b === 'truncate-udp' && transport === 'udp');
    if (!accept(r)) throw new UpstreamError('timeout', 'reply not accepted');
    return r;
  }

  udp = (to: UpstreamAddress, query: Buffer, accept: (b: Buffer) => boolean): Promise<Buffer> => this.exchange('udp', to, query, accept);
  tcp = (to: UpstreamAddress, query: Buffer, accept: (b: Buffer) => boolean): Promise<Buffer> => this.exchange('tcp', to, query, accept);
}

export function makeResolver(config: Record<string, unknown> = {}, extra: { localAnswers?: LocalAnswers } = {}) {
  const clock = { now: 5_000_000 };
  const registry = new Registry();
  const upstreams = new FakeUpstreams();
  const events: DnsQueryEvent[] = [];
  const resolver = new DnsResolver({
    config: dnsConfigSchema.parse({ enabled: true, upstreams: ['192.0.2.53', '192.0.2.54:5353'], domain: 'lan', ...config }),
    logger: pino({ level: 'silent' }),
    metrics: createDnsMetrics(registry),
    clock: () => clock.now,
    transport: upstreams,
    onQuery: (e) => events.push(e),
    ...extra,
  });
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
    const m = registry.getSingleMetric(name);
    if (!m) return 0;
    const { values } = await m.get();
    return values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((s, v) => s + v.value, 0);
  };
  return { resolver, upstreams, events, clock, metric, registry };
}

export function query(name: string, type: number = RRType.A, opts: { id?: number; edns?: number; cls?: number; opcode?: number } = {}): Buffer {
  return encodeMessage({
    id: opts.id ?? 0x4242,
    flags: { qr: false, opcode: opts.opcode ?? 0, aa: false, tc: false, rd: true, ra: false, ad: false, cd: false },
    rcode: 0,
    questions: [{ name, type, class: opts.cls ?? IN }],
    answers: [],
    authority: [],
    additional: [],
    ...(opts.edns ? { edns: { udpSize: opts.edns, extendedRcode: 0, version: 0, dnssecOk: false, options: Buffer.alloc(0) } } : {}),
  });
}

export async function ask(resolver: DnsResolver, buf: Buffer, ctx: QueryContext = UDP): Promise<DnsMessage | undefined> {
  const out = await resolver.handle(buf, ctx);
  return out ? decodeMessage(out) : undefined;
}
