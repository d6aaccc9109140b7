import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { MALFORMED_REASONS, parseConntrackLine, type ConntrackEvent } from '../../src/gateway/conntrack/event.ts';
import { LineFramer } from '../../src/gateway/conntrack/line-framer.ts';
import { createConntrackMetrics } from '../../src/gateway/conntrack/metrics.ts';
import { classifyFlow } from '../../src/gateway/conntrack/policy.ts';
import { ConntrackRecorder } from '../../src/gateway/conntrack/recorder.ts';
import { createLogger } from '../../src/log/logger.ts';
import { parseCidr } from '../../src/wire/ipv4.ts';
import { MemoryAudit, MemorySeats, session } from '../helpers/gateway-harness.ts';

const CAPTURE = readFileSync(new URL('../fixtures/conntrack/events-new-destroy.xml', import.meta.url), 'utf8');
const LINES = CAPTURE.split('\n').filter((l) => l !== '');
const SEAT = '10.93.250.10';
const GATEWAY = new Set(['10.93.250.1', '10.93.251.1']);
const policy = { lanSubnet: parseCidr('10.93.250.0/24'), isGatewayAddress: (ip: string) => GATEWAY.has(ip) };

function events(): ConntrackEvent[] {
  return LINES.map(parseConntrackLine).flatMap((r) => (r.kind === 'event' ? [r.event] : []));
}
function destroyOf(pred: (e: ConntrackEvent) => boolean): ConntrackEvent {
  const e = events().find((x) => x.type === 'destroy' && pred(x));
  assert.ok(e);
  return e;
}
const udpLine = LINES.find((l) => l.startsWith('<flow type="destroy"') && l.includes('<dport>5353</dport>'))!;

describe('conntrack XML event lines (real capture, conntrack-tools 1.4.7)', () => {
  it('framing lines are neither events nor errors; every flow line parses', () => {
    const results = LINES.map(parseConntrackLine);
    assert.deepEqual(
      results.map((r) => r.kind),
      ['framing', 'framing', ...Array(11).fill('event'), 'framing'],
    );
    assert.deepEqual(
      events().map((e) => e.type),
      ['new', 'new', 'new', 'new', 'new', 'destroy', 'destroy', 'destroy', 'destroy', 'destroy', 'destroy'],
    );
  });

  it('a UDP DESTROY: tuples, layer-3 byte counters each way, id and ns timestamps', () => {
    const e = destroyOf((x) => x.original.dport === 5353);
    assert.equal(e.family, 'ipv4');
    assert.equal(e.protocol, 'udp');
    assert.equal(e.protonum, 17);
    assert.deepEqual(e.original, { src: SEAT, dst: '10.93.251.2', sport: 40000, dport: 5353, packets: 3, bytes: 384 });
    // masqueraded: the reply goes to the gateway's WAN address
    assert.deepEqual(e.reply, { src: '10.93.251.2', dst: '10.93.251.1', sport: 5353, dport: 40000, packets: 3, bytes: 384 });
    assert.equal(typeof e.id, 'number');
    assert.ok(e.startNs !== undefined && e.stopNs !== undefined && e.stopNs >= e.startNs);
    assert.ok(e.startNs > 1_700_000_000_000_000_000n, 'ns since the epoch');
  });

  it('ICMP has no ports; the redirected flow has the gateway as its reply source; NEW has no counters', () => {
    const icmp = destroyOf((x) => x.protocol === 'icmp');
    assert.equal(icmp.original.sport, undefined);
    assert.equal(icmp.original.dport, undefined);
    assert.equal(icmp.original.bytes, 2 * 84);
    const redirected = destroyOf((x) => x.original.dport === 80);
    assert.equal(redirected.reply.src, '10.93.250.1');
    assert.equal(redirected.reply.sport, 3129);
    const created = events().find((x) => x.type === 'new')!;
    assert.equal(created.original.bytes, undefined);
    assert.equal(created.stopNs, undefined);
  });

  it('drops bad lines with a stable reason, never throws', () => {
    const cases: Array<[string, string]> = [
      ['garbage', 'not_a_flow'],
      ['[1795320106.661667]\t[DESTROY] ipv4     2 udp      17 src=10.93.250.10', 'not_a_flow'],
      [udpLine.replace('<flow type="destroy">', '<flow type="exploded">'), 'event_type'],
      [udpLine.replace('<src>10.93.250.10</src>', '<src>10.93.250.999</src>'), 'address'],
      [udpLine.replace('<src>10.93.250.10</src>', '<src>fe80::1</src>'), 'address'],
      [udpLine.replace('<sport>40000</sport>', '<sport>70000</sport>'), 'port'],
      [udpLine.replace('<bytes>384</bytes>', '<bytes>18446744073709551615</bytes>'), 'counter'],
      [udpLine.replace('<bytes>384</bytes>', '<bytes>-1</bytes>'), 'counter'],
      [udpLine.replace(/<counters><packets>3<\/packets>/, '<counters>'), 'counter'],
      [udpLine.replace(/<id>\d+<\/id>/, '<id>4294967296</id>'), 'id'],
      [udpLine.replace(/<start>(\d+)<\/start>/, '<start>9$1</start>'), 'timestamp'],
      [udpLine.replace('<meta direction="reply">', '<meta direction="other">'), 'direction_missing'],
      [udpLine.replace('protoname="ipv4"', 'protoname="ipx"'), 'layer3'],
      [udpLine.replace(/<layer4 [^>]*>.*?<\/layer4>/, ''), 'layer4'],
      [udpLine.replace('</layer3>', '</layer4>'), 'xml'],
      [udpLine.replace('<src>10.93.250.10</src>', '<src>10.93&bogus;</src>'), 'xml'],
      [udpLine.replace('</flow>', '</flow><flow>'), 'xml'],
      ['<flow type="destroy">' + '<a>'.repeat(20) + '</a>'.repeat(20) + '</flow>', 'xml'],
    ];
    for (const [line, reason] of cases) {
      const r = parseConntrackLine(line);
      assert.equal(r.kind, 'malformed', line.slice(0, 80));
      if (r.kind === 'malformed') assert.equal(r.reason, reason, `${r.detail} — ${line.slice(0, 80)}`);
    }
  });

  it('a real line cut at every byte is malformed until </flow>, an event after it (the tail is not XML)', () => {
    const end = udpLine.lastIndexOf('</flow>') + '</flow>'.length;
    for (let n = 1; n < udpLine.length; n++) {
      const r = parseConntrackLine(udpLine.slice(0, n));
      if (n < end) assert.equal(r.kind, 'malformed', `cut at ${n}`);
      else assert.equal(r.kind, 'event', `cut at ${n}`);
    }
  });

  it('fuzz: random strings and mutated real lines never throw and report a known reason', () => {
    const check = (s: string): void => {
      const r = parseConntrackLine(s);
      if (r.kind === 'malformed') assert.ok((MALFORMED_REASONS as readonly string[]).includes(r.reason));
    };
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (s) => check(s)),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.nat(udpLine.length - 1), fc.string({ minLength: 0, maxLength: 8 }), fc.nat(8), (at, insert, del) => {
        check(udpLine.slice(0, at) + insert + udpLine.slice(at + del));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('LineFramer', () => {
  const bytes = Buffer.from(CAPTURE);
  const lines = (f: LineFramer, chunks: Buffer[]) => chunks.flatMap((c) => f.push(c)).map((x) => ('line' in x ? x.line : `tooLong ${x.tooLong}`));

  it('split at every byte into two chunks gives the same lines', () => {
    const want = lines(new LineFramer(), [bytes]);
    assert.equal(want.length, CAPTURE.split('\n').length - 1);
    for (let i = 0; i <= bytes.length; i++)
      assert.deepEqual(lines(new LineFramer(), [bytes.subarray(0, i), bytes.subarray(i)]), want, `split at ${i}`);
  });

  it('one byte at a time gives the same lines', () => {
    const chunks = [...bytes].map((b) => Buffer.from([b]));
    assert.deepEqual(lines(new LineFramer(), chunks), lines(new LineFramer(), [bytes]));
  });

  it('a line longer than the limit is dropped once, whole, and the next line is intact', () => {
    const f = new LineFramer(100);
    const out = lines(f, [Buffer.from('x'.repeat(60)), Buffer.from('y'.repeat(60)), Buffer.from('z'.repeat(30) + '\nok\n')]);
    assert.deepEqual(out, ['tooLong 150', 'ok']);
  });
});

describe('which ended flows become records', () => {
  it('forwarded tcp/udp/icmp yes; redirected, to the gateway, from outside the LAN, broadcast, IPv6 no', () => {
    const d = events().filter((e) => e.type === 'destroy');
    const verdict = (e: ConntrackEvent) => {
      const c = classifyFlow(e, policy);
      return c.record ? 'record' : c.reason;
    };
    assert.deepEqual(
      d.map((e) => `${e.protocol}/${e.original.dport ?? '-'} ${verdict(e)}`),
      ['tcp/2222 record', 'tcp/2222 record', 'tcp/80 redirected', 'udp/53 to_gateway', 'udp/5353 record', 'icmp/- record'],
    );
    const udp = d.find((e) => e.original.dport === 5353)!;
    const variant = (o: Partial<ConntrackEvent['original']>, family: 'ipv4' | 'ipv6' = 'ipv4') =>
      verdict({ ...udp, family, original: { ...udp.original, ...o } });
    assert.equal(variant({ src: '10.93.251.7' }), 'not_lan');
    assert.equal(variant({ src: '10.93.250.1' }), 'from_gateway');
    assert.equal(variant({ dst: '255.255.255.255' }), 'broadcast');
    assert.equal(variant({ dst: '10.93.250.255' }), 'broadcast');
    assert.equal(variant({ dst: '239.255.255.250' }), 'broadcast');
    assert.equal(variant({ dst: '10.93.250.11' }), 'lan_local');
    assert.equal(variant({}, 'ipv6'), 'not_ipv4');
  });
});

/** A stand-in for the conntrack child: the test writes its stdout; kill() ends it like a signal would. */
class FakeChild extends EventEmitter {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly pid: number;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly signals: string[] = [];
  constructor(pid: number, fail?: Error) {
    super();
    this.pid = pid;
    setImmediate(() => {
      if (fail) {
        this.emit('error', fail);
        this.emit('close', -2, null);
      } else this.emit('spawn');
    });
  }
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.signals.push(signal);
    this.exitCode = null;
    this.signalCode = signal;
    setImmediate(() => this.emit('close', null, signal));
    return true;
  }
  exit(code: number): void {
    this.exitCode = code;
    this.emit('close', code, null);
  }
  write(s: string): void {
    this.stdout.write(s);
  }
}

describe('ConntrackRecorder (fake child, real captured lines)', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function setup(opts: { fail?: Error; failAfter?: number } = {}) {
    const sysctlDir = mkdtempSync(join(tmpdir(), 'bgct-sysctl-'));
    dirs.push(sysctlDir);
    writeFileSync(join(sysctlDir, 'nf_conntrack_acct'), '0\n');
    writeFileSync(join(sysctlDir, 'nf_conntrack_timestamp'), '0\n');
    const registry = new Registry();
    const metrics = createConntrackMetrics(registry);
    const seats = new MemorySeats();
    const audit = new MemoryAudit();
    const children: FakeChild[] = [];
    const spawned: Array<{ command: string; args: string[] }> = [];
    const recorder = new ConntrackRecorder({
      options: { lanSubnet: '10.93.250.0/24', minBackoffMs: 5, maxBackoffMs: 20 },
      spawn: (command, args) => {
        spawned.push({ command, args });
        const c = new FakeChild(1000 + children.length, opts.fail);
        children.push(c);
        return c as unknown as ChildProcess;
      },
      seats,
      audit,
      logger: createLogger('silent'),
      metrics,
      isGatewayAddress: (ip) => GATEWAY.has(ip),
      sysctlDir,
      clock: () => Date.parse('2026-11-22T04:00:00Z'),
    });
    const counter = async (
      c: { get(): Promise<{ values: Array<{ labels: Partial<Record<string, string | number>>; value: number }> }> },
      label?: [string, string],
    ) => (await c.get()).values.filter((v) => !label || v.labels[label[0]] === label[1]).reduce((a, v) => a + v.value, 0);
    const sysctl = (name: string) => readFileSync(join(sysctlDir, name), 'utf8').trim();
    return { recorder, metrics, seats, audit, children, spawned, counter, sysctl };
  }
  const tick = () => new Promise((r) => setImmediate(r));

  it('start turns accounting and timestamps on and spawns the documented command; stop kills it and restores them', async () => {
    const t = setup();
    await t.recorder.start();
    assert.equal(t.sysctl('nf_conntrack_acct'), '1');
    assert.equal(t.sysctl('nf_conntrack_timestamp'), '1');
    assert.deepEqual(t.spawned, [
      { command: 'conntrack', args: ['-E', '-e', 'NEW,DESTROY', '-o', 'xml,id,ktimestamp', '--orig-src', '10.93.250.0/24', '-b', '4194304'] },
    ]);
    await t.recorder.stop();
    assert.deepEqual(t.children[0]!.signals, ['SIGTERM']);
    assert.equal(t.sysctl('nf_conntrack_acct'), '0');
    assert.equal(t.sysctl('nf_conntrack_timestamp'), '0');
  });

  it('one record per forwarded flow; the session noted at NEW is kept, flows without NEW are looked up at the end', async () => {
    const t = setup();
    t.seats.byIp.set(SEAT, session('seat-a', 'u-a'));
    await t.recorder.start();
    const firstDestroy = LINES.findIndex((l) => l.startsWith('<flow type="destroy"'));
    t.children[0]!.write(LINES.slice(0, firstDestroy).join('\n') + '\n');
    await tick();
    // the seat changes hands before the flows end: flows that began under seat-a stay seat-a's
    t.seats.byIp.set(SEAT, session('seat-b', 'u-b'));
    const rest = Buffer.from(LINES.slice(firstDestroy).join('\n') + '\n');
    for (let i = 0; i < rest.length; i += 97) t.children[0]!.write(rest.subarray(i, i + 97).toString('latin1'));
    const recs = await t.audit.waitFor(4);
    await t.recorder.stop();
    assert.equal(recs.length, 4);
    const by = (proto: string, port: number) => recs.find((r) => r.method === proto && r.port === port)!;
    const udp = by('udp', 5353);
    const udpEvent = destroyOf((x) => x.original.dport === 5353);
    assert.deepEqual(JSON.parse(udp.detail!), {
      start: new Date(Number(udpEvent.startNs! / 1_000_000n))
        .toISOString()
        .replace('Z', `${String((udpEvent.startNs! / 1000n) % 1000n).padStart(3, '0')}Z`),
      end: new Date(Number(udpEvent.stopNs! / 1_000_000n))
        .toISOString()
        .replace('Z', `${String((udpEvent.stopNs! / 1000n) % 1000n).padStart(3, '0')}Z`),
      packetsUp: 3,
      packetsDown: 3,
      conntrackId: udpEvent.id,
    });
    assert.deepEqual(
      { ...udp, time: undefined, detail: undefined },
      {
        time: undefined,
        detail: undefined,
        seat: 'seat-a',
        ip: SEAT,
        mac: '52:54:00:76:00:10',
        userId: 'u-a',
        userName: 'Ana Pérez',
        docType: 'passport',
        docNumber: 'X1234567',
        docCountry: 'ES',
        sessionId: 's-seat-a',
        kind: 'flow',
        method: 'udp',
        host: '10.93.251.2',
        port: 5353,
        bytesUp: 384,
        bytesDown: 384,
        durationMs: Number((udpEvent.stopNs! - udpEvent.startNs!) / 1_000_000n),
        verdict: 'allowed',
      },
    );
    assert.equal(udp.time, new Date(Number(udpEvent.startNs! / 1_000_000n)).toISOString());
    assert.equal(by('icmp', 0).bytesUp, 168);
    const tcp = recs.filter((r) => r.method === 'tcp' && r.port === 2222);
    assert.deepEqual(tcp.map((r) => r.seat).sort(), ['seat-a', 'seat-b'], 'the flow with a NEW keeps seat-a, the one without is seat-b');
    assert.equal(tcp.find((r) => r.seat === 'seat-a')!.bytesUp, 1320);
    assert.equal(await t.counter(t.metrics.flows, ['outcome', 'recorded']), 4);
    assert.equal(await t.counter(t.metrics.flows, ['outcome', 'redirected']), 1);
    assert.equal(await t.counter(t.metrics.flows, ['outcome', 'to_gateway']), 1);
    assert.equal(await t.counter(t.metrics.lines, ['type', 'destroy']), 6);
  });

  it('no session at either end: not recorded, counted; malformed lines counted by reason', async () => {
    const t = setup();
    await t.recorder.start();
    t.children[0]!.write(`${udpLine}\nnot xml at all\n${udpLine.replace('<sport>40000</sport>', '<sport>99999</sport>')}\n`);
    await tick();
    await t.recorder.stop();
    assert.equal(t.audit.records.length, 0);
    assert.equal(await t.counter(t.metrics.flows, ['outcome', 'no_session']), 1);
    assert.equal(await t.counter(t.metrics.malformed, ['reason', 'not_a_flow']), 1);
    assert.equal(await t.counter(t.metrics.malformed, ['reason', 'port']), 1);
  });

  it('a child that exits is restarted with backoff and keeps recording; stop ends the current one', async () => {
    const t = setup();
    t.seats.byIp.set(SEAT, session('seat-a'));
    await t.recorder.start();
    t.children[0]!.exit(1);
    for (let i = 0; i < 200 && t.children.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(t.children.length, 2);
    t.children[1]!.exit(1);
    for (let i = 0; i < 200 && t.children.length < 3; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(t.children.length, 3);
    await tick();
    t.children[2]!.write(`${udpLine}\n`);
    await t.audit.waitFor(1);
    await t.recorder.stop();
    assert.deepEqual(t.children[2]!.signals, ['SIGTERM']);
    assert.deepEqual(t.children[0]!.signals, []);
    assert.equal(await t.counter(t.metrics.restarts), 2);
    const n = t.children.length;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(t.children.length, n, 'nothing restarts after stop');
  });

  it('start rejects when conntrack cannot be started (not installed), restores the sysctls and does not retry', async () => {
    const t = setup({ fail: Object.assign(new Error('spawn conntrack ENOENT'), { code: 'ENOENT' }) });
    await assert.rejects(t.recorder.start(), /ENOENT/);
    assert.equal(t.sysctl('nf_conntrack_acct'), '0');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(t.children.length, 1);
  });
});
