import type { Logger } from 'pino';
import type { CachedReply } from './cache.ts';
import { decodeMessage, encodeMessage, type DnsMessage, type DnsQuestion } from './codec.ts';
import type { DnsConfig, UpstreamAddress } from './config.ts';
import { Opcode, Rcode } from './constants.ts';
import type { DnsMetrics } from './metrics.ts';
import { canonicalName } from './name.ts';
import { UpstreamError, type UpstreamTransport } from './upstream.ts';

export interface ForwarderDeps {
  config: Readonly<DnsConfig>;
  transport: UpstreamTransport;
  metrics: DnsMetrics;
  log: Logger;
  clock: () => number;
  /** a uniformly random 16-bit query ID (crypto-strength by default: RFC 5452 §4.3) */
  randomId: () => number;
}

const label = (u: UpstreamAddress): string => `${u.address}:${u.port}`;

/**
 * Sends a question to the configured upstreams, in order, `attempts` rounds at most: a timeout, a socket error or
 * a SERVFAIL/REFUSED/NOTIMP/FORMERR reply moves on to the next upstream; an upstream that timed out is tried
 * last for `holdDownMs`. Each query gets a new random ID; a reply counts only if its ID, QR, opcode and question
 * match (RFC 5452 §3), anything else is ignored while the exchange waits. A truncated UDP reply is asked again
 * over TCP of the same upstream (RFC 7766 §5).
 */
export class Forwarder {
  private readonly heldUntil = new Map<string, number>();

  constructor(private readonly deps: ForwarderDeps) {}

  private order(): UpstreamAddress[] {
    const now = this.deps.clock();
    const ups = this.deps.config.upstreams;
    const fresh = ups.filter((u) => (this.heldUntil.get(label(u)) ?? 0) <= now);
    return fresh.length === ups.length ? ups : [...fresh, ...ups.filter((u) => !fresh.includes(u))];
  }

  /** The reply's sections, or undefined when no upstream gave a usable answer (the client gets SERVFAIL). */
  async forward(q: DnsQuestion): Promise<CachedReply | undefined> {
    const { attempts } = this.deps.config;
    for (let round = 0; round < attempts; round++) {
      for (const up of this.order()) {
        const reply = await this.ask(up, q);
        if (reply) return reply;
      }
    }
    return undefined;
  }

  private async ask(up: UpstreamAddress, q: DnsQuestion): Promise<CachedReply | undefined> {
    const { metrics, config, transport } = this.deps;
    const name = label(up);
    const id = this.deps.randomId() & 0xffff;
    const query = encodeMessage({
      id,
      flags: { qr: false, opcode: Opcode.QUERY, aa: false, tc: false, rd: true, ra: false, ad: false, cd: false },
      rcode: 0,
      questions: [{ name: q.name, type: q.type, class: q.class }],
      answers: [],
      authority: [],
      additional: [],
      edns: { udpSize: config.maxUdpPayloadBytes, extendedRcode: 0, version: 0, dnssecOk: false, options: Buffer.alloc(0) },
    });
    const want = canonicalName(q.name);
    let accepted: DnsMessage | undefined;
    const accept =
      (transportName: string) =>
      (buf: Buffer): boolean => {
        let m: DnsMessage;
        try {
          m = decodeMessage(buf);
        } catch {
          metrics.upstreamQueries.inc({ upstream: name, transport: transportName, outcome: 'malformed' });
          return false;
        }
        const mq = m.questions[0];
        const ok =
          m.id === id &&
          m.flags.qr &&
          m.flags.opcode === Opcode.QUERY &&
          m.questions.length === 1 &&
          mq!.type === q.type &&
          mq!.class === q.class &&
          canonicalName(mq!.name) === want;
        if (!ok) {
          metrics.upstreamQueries.inc({ upstream: name, transport: transportName, outcome: 'mismatch' });
          return false;
        }
        accepted = m;
        return true;
      };
    const started = this.deps.clock();
    let via = 'udp';
    try {
      await transport.udp(up, query, accept('udp'), config.timeoutMs);
      if (accepted!.flags.tc) {
        metrics.upstreamQueries.inc({ upstream: name, transport: 'udp', outcome: 'truncated' });
        accepted = undefined;
        via = 'tcp';
        await transport.tcp(up, query, accept('tcp'), config.timeoutMs);
      }
    } catch (e) {
      const outcome = e instanceof UpstreamError ? e.outcome : 'error';
      metrics.upstreamQueries.inc({ upstream: name, transport: via, outcome });
      if (outcome === 'timeout' || outcome === 'error') this.heldUntil.set(name, this.deps.clock() + config.holdDownMs);
      this.deps.log.debug({ upstream: name, qname: q.name, err: (e as Error).message }, 'dns upstream failed');
      return undefined;
    }
    const m = accepted!;
    const rcode = ((m.edns?.extendedRcode ?? 0) << 4) | m.rcode;
    if (rcode !== Rcode.NOERROR && rcode !== Rcode.NXDOMAIN) {
      metrics.upstreamQueries.inc({ upstream: name, transport: via, outcome: 'servfail' });
      return undefined;
    }
    metrics.upstreamQueries.inc({ upstream: name, transport: via, outcome: 'ok' });
    metrics.upstreamLatency.observe({ upstream: name }, (this.deps.clock() - started) / 1000);
    this.heldUntil.delete(name);
    return { rcode, answers: m.answers, authority: m.authority, additional: m.additional };
  }
}
