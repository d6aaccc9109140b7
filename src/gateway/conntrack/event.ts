/**
 * One line of `conntrack -E -o xml,id,ktimestamp` (conntrack-tools 1.4.x, Debian package `conntrack`) → one flow
 * event. Pure: no process, no socket. The tool writes
 *
 *   <?xml version="1.0" encoding="utf-8"?>          once, before the first event
 *   <conntrack>                                      once
 *   <flow type="new|update|destroy">                 one line per event:
 *     <meta direction="original">  layer3 (src, dst), layer4 (sport, dport; none for ICMP), counters (packets, bytes)
 *     <meta direction="reply">     the same for the reply direction (after NAT: the masqueraded or redirected tuple)
 *     <meta direction="independent"> state, timeout, id, assured/unreplied, timestamp (start, stop: ns since the
 *                                  epoch), deltatime (whole seconds)
 *   </flow> [USERSPACE] portid=… progname=…          the tail names who deleted the entry (`conntrack -D`)
 *   </conntrack>                                     once, when the tool exits on SIGTERM/SIGINT
 *
 * Counters are there only with `net.netfilter.nf_conntrack_acct=1` and only on DESTROY; the timestamp only with
 * `net.netfilter.nf_conntrack_timestamp=1` (kernel ≥ 2.6.38) and `-o ktimestamp`. The text formats (`-o
 * extended`) print the timestamp as a local date with whole seconds only, hence XML.
 */
import { isIPv6 } from 'node:net';
import { DecodeError } from '../../wire/decode-error.ts';
import { isIpv4 } from '../../wire/ipv4.ts';
import { child, parseXmlElement, type XmlElement } from './xml.ts';

export type ConntrackEventType = 'new' | 'update' | 'destroy';

export interface FlowTuple {
  src: string;
  dst: string;
  /** absent for protocols without ports (ICMP) */
  sport?: number;
  dport?: number;
  /** absent without nf_conntrack_acct, and in NEW/UPDATE events */
  packets?: number;
  /** layer-3 bytes: IP header included */
  bytes?: number;
}

export interface ConntrackEvent {
  type: ConntrackEventType;
  /** layer3 protoname: `ipv4` or `ipv6` */
  family: 'ipv4' | 'ipv6';
  /** layer4 protoname as the tool prints it (`tcp`, `udp`, `icmp`, `unknown`, …) */
  protocol: string;
  protonum: number;
  original: FlowTuple;
  reply: FlowTuple;
  /** the kernel's conntrack id (with `-o id`) */
  id?: number;
  /** flow start and end, ns since the epoch (with nf_conntrack_timestamp and `-o ktimestamp`); stop on DESTROY only */
  startNs?: bigint;
  stopNs?: bigint;
  /** whole seconds the flow lived (with nf_conntrack_timestamp) */
  deltaSeconds?: number;
}

/** Stable codes for lines that are dropped (the recorder's metric label). */
export const MALFORMED_REASONS = [
  'not_a_flow',
  'xml',
  'event_type',
  'direction_missing',
  'layer3',
  'address',
  'layer4',
  'port',
  'counter',
  'id',
  'timestamp',
  'line_too_long',
] as const;
export type MalformedReason = (typeof MALFORMED_REASONS)[number];

export type LineResult =
  | { kind: 'event'; event: ConntrackEvent }
  /** the document's own lines (`<?xml …?>`, `<conntrack>`, `</conntrack>`, blank): not events, not errors */
  | { kind: 'framing' }
  | { kind: 'malformed'; reason: MalformedReason; detail: string };

const EVENT_TYPES: readonly string[] = ['new', 'update', 'destroy'];
const FRAMING = /^(<\?xml [^>]*\?>|<conntrack>|<\/conntrack>|)$/;
const DIGITS = /^\d{1,20}$/;
/** what the tool may print after </flow>: ` [USERSPACE] portid=… progname=…` (or a cut-off part of it) */
const TAIL = /^(\s*|\s+\[[^<>]*)$/;

class LineError extends Error {
  constructor(
    readonly reason: MalformedReason,
    detail: string,
  ) {
    super(detail);
  }
}

function unsigned(text: string, max: number, reason: MalformedReason, what: string): number {
  if (!DIGITS.test(text)) throw new LineError(reason, `${what} is not a number: ${JSON.stringify(text.slice(0, 40))}`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n > max) throw new LineError(reason, `${what} out of range: ${text}`);
  return n;
}

function nanoseconds(text: string, what: string): bigint {
  if (!DIGITS.test(text)) throw new LineError('timestamp', `${what} is not a number: ${JSON.stringify(text.slice(0, 40))}`);
  return BigInt(text);
}

function tuple(meta: XmlElement, family: 'ipv4' | 'ipv6', direction: string): FlowTuple {
  const l3 = child(meta, 'layer3');
  const src = l3 && child(l3, 'src')?.text;
  const dst = l3 && child(l3, 'dst')?.text;
  if (src === undefined || dst === undefined) throw new LineError('layer3', `${direction}: no layer3 src/dst`);
  const valid = family === 'ipv4' ? isIpv4 : isIPv6;
  for (const a of [src, dst])
    if (!valid(a)) throw new LineError('address', `${direction}: not an ${family} address: ${JSON.stringify(a.slice(0, 60))}`);
  const t: FlowTuple = { src, dst };
  const l4 = child(meta, 'layer4');
  if (!l4) throw new LineError('layer4', `${direction}: no layer4`);
  const sport = child(l4, 'sport');
  const dport = child(l4, 'dport');
  if (sport) t.sport = unsigned(sport.text, 65535, 'port', `${direction} sport`);
  if (dport) t.dport = unsigned(dport.text, 65535, 'port', `${direction} dport`);
  const counters = child(meta, 'counters');
  if (counters) {
    const p = child(counters, 'packets');
    const b = child(counters, 'bytes');
    if (!p || !b) throw new LineError('counter', `${direction}: counters without packets/bytes`);
    t.packets = unsigned(p.text, Number.MAX_SAFE_INTEGER, 'counter', `${direction} packets`);
    t.bytes = unsigned(b.text, Number.MAX_SAFE_INTEGER, 'counter', `${direction} bytes`);
  }
  return t;
}

function toEvent(flow: XmlElement): ConntrackEvent {
  if (flow.name !== 'flow') throw new LineError('not_a_flow', `<${flow.name}> is not <flow>`);
  const type = flow.attrs.type ?? '';
  if (!EVENT_TYPES.includes(type)) throw new LineError('event_type', `unknown event type ${JSON.stringify(type.slice(0, 20))}`);
  const orig = child(flow, 'meta', ['direction', 'original']);
  const reply = child(flow, 'meta', ['direction', 'reply']);
  if (!orig || !reply) throw new LineError('direction_missing', 'original or reply direction missing');
  const l3 = child(orig, 'layer3');
  const family = l3?.attrs.protoname;
  if (family !== 'ipv4' && family !== 'ipv6') throw new LineError('layer3', `layer3 protoname ${JSON.stringify(String(family).slice(0, 20))}`);
  const l4 = child(orig, 'layer4');
  if (!l4) throw new LineError('layer4', 'original: no layer4');
  const protonum = unsigned(l4.attrs.protonum ?? '', 255, 'layer4', 'layer4 protonum');
  const event: ConntrackEvent = {
    type: type as ConntrackEventType,
    family,
    protocol: l4.attrs.protoname || String(protonum),
    protonum,
    original: tuple(orig, family, 'original'),
    reply: tuple(reply, family, 'reply'),
  };
  const ind = child(flow, 'meta', ['direction', 'independent']);
  if (ind) {
    const id = child(ind, 'id');
    if (id) event.id = unsigned(id.text, 0xffffffff, 'id', 'id');
    const ts = child(ind, 'timestamp');
    if (ts) {
      const start = child(ts, 'start');
      const stop = child(ts, 'stop');
      if (start) event.startNs = nanoseconds(start.text, 'start');
      if (stop) event.stopNs = nanoseconds(stop.text, 'stop');
      if (event.startNs !== undefined && event.stopNs !== undefined && event.stopNs < event.startNs) {
        throw new LineError('timestamp', 'stop before start');
      }
    }
    const delta = child(ind, 'deltatime');
    if (delta) event.deltaSeconds = unsigned(delta.text, Number.MAX_SAFE_INTEGER, 'timestamp', 'deltatime');
  }
  return event;
}

/** Parses one line (without its newline). Never throws: a bad line comes back as `malformed` with a reason. */
export function parseConntrackLine(line: string): LineResult {
  const s = line.trim();
  if (FRAMING.test(s)) return { kind: 'framing' };
  if (!s.startsWith('<flow')) return { kind: 'malformed', reason: 'not_a_flow', detail: `line starts with ${JSON.stringify(s.slice(0, 20))}` };
  // The tail after </flow> (" [USERSPACE] portid=… progname=…") is the tool's, outside the XML.
  const end = s.lastIndexOf('</flow>') + '</flow>'.length;
  if (end < '</flow>'.length) return { kind: 'malformed', reason: 'xml', detail: '<flow> not closed' };
  if (!TAIL.test(s.slice(end))) return { kind: 'malformed', reason: 'xml', detail: 'unexpected data after </flow>' };
  try {
    return { kind: 'event', event: toEvent(parseXmlElement(s.slice(0, end))) };
  } catch (e) {
    if (e instanceof LineError) return { kind: 'malformed', reason: e.reason, detail: e.message };
    if (e instanceof DecodeError) return { kind: 'malformed', reason: 'xml', detail: e.message };
    throw e;
  }
}
