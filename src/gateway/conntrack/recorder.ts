/**
 * Audit records for forwarded flows the proxies do not see (UDP, ICMP, TCP to other ports than 80/443), from the
 * kernel's connection tracking: a `conntrack -E` child prints NEW and DESTROY events as XML lines (event.ts), and
 * each DESTROY of a flow a seat started and the gateway forwarded (policy.ts) becomes one `flow` record with the
 * protocol, destination, bytes each way and duration.
 *
 * Who: the seat's open session is looked up when the flow starts (NEW) and kept by conntrack id until it ends, so
 * a session that closes (or changes hands) mid-flow does not move the flow to someone else. Flows that began
 * before the recorder started have no NEW: their session is looked up at the end. A flow with no session at
 * either point is not recorded (counted as `no_session`; the gate lets no such flow through, so it means a
 * session closed while the recorder was not listening).
 *
 * start() turns on `net.netfilter.nf_conntrack_acct` (byte counters) and `nf_conntrack_timestamp` (start/stop
 * times) in the namespace it runs in, logs it, and restores them on stop(). The child is restarted with
 * exponential backoff if it exits; stop() ends it by PID. Flows still open at stop() are not recorded.
 */
import type { ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../log/logger.ts';
import { parseCidr } from '../../wire/ipv4.ts';
import type { AuditRecordInput, AuditSink, SeatLookup, SeatSession } from '../seats-and-audit.ts';
import { parseConntrackLine, type ConntrackEvent } from './event.ts';
import { LineFramer } from './line-framer.ts';
import type { ConntrackMetrics } from './metrics.ts';
import { classifyFlow, type FlowPolicy } from './policy.ts';

export interface ConntrackRecorderOptions {
  /** the LAN subnet (seats), e.g. 10.76.1.0/24; conntrack filters on it (`--orig-src`) */
  lanSubnet: string;
  /** the conntrack-tools binary (Debian package `conntrack`) */
  binary?: string;
  /** netlink receive buffer of the event socket, bytes (`conntrack -b`; the kernel doubles it) */
  bufferBytes?: number;
  /** restart delay after the child exits: doubles from min to max, back to min once it delivers an event */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** open flows whose session is remembered; beyond it the oldest are forgotten (looked up at their end) */
  maxOpenFlows?: number;
}

/** `child_process.spawn` or a stand-in: starts `command args` with stdout and stderr piped. */
export type SpawnFunction = (command: string, args: string[]) => ChildProcess;

export interface ConntrackRecorderDeps {
  options: ConntrackRecorderOptions;
  spawn: SpawnFunction;
  seats: SeatLookup;
  audit: AuditSink;
  logger: Logger;
  metrics: ConntrackMetrics;
  /** every address of the gateway host: flows to it are its services, replies from it mean a redirect */
  isGatewayAddress: (ip: string) => boolean;
  /** where the nf_conntrack sysctls live (tests point it elsewhere) */
  sysctlDir?: string;
  /** unix ms, for flows without kernel timestamps */
  clock?: () => number;
}

/** The sysctls the recorder needs (Documentation/networking/nf_conntrack-sysctl.rst). */
const SYSCTLS = ['nf_conntrack_acct', 'nf_conntrack_timestamp'] as const;

interface OpenFlow {
  session: SeatSession | undefined;
}

export class ConntrackRecorder {
  private readonly log: Logger;
  private readonly policy: FlowPolicy;
  private readonly framer = new LineFramer();
  private readonly open = new Map<string, OpenFlow>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly previous = new Map<string, string>();
  private child: ChildProcess | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private running = false;

  constructor(private readonly deps: ConntrackRecorderDeps) {
    this.log = deps.logger.child({ module: 'gateway.conntrack' });
    this.policy = { lanSubnet: parseCidr(deps.options.lanSubnet), isGatewayAddress: deps.isGatewayAddress };
  }

  /** The command line of the child (exported for the docs and tests). */
  args(): string[] {
    const o = this.deps.options;
    return ['-E', '-e', 'NEW,DESTROY', '-o', 'xml,id,ktimestamp', '--orig-src', o.lanSubnet, '-b', String(o.bufferBytes ?? 4 * 1024 * 1024)];
  }

  /** Turns on counters and timestamps, then starts the child; rejects if it cannot be started (not installed). */
  async start(): Promise<void> {
    await this.enableAccounting();
    this.running = true;
    try {
      await this.spawnChild(true);
    } catch (err) {
      this.running = false;
      await this.restoreSysctls();
      throw err;
    }
  }

  /** Ends the child by PID, waits for records already handed to the audit sink, restores the sysctls. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const c = this.child;
    this.child = undefined;
    if (c && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise<void>((r) => c.once('close', () => r()));
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    }
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
    this.open.clear();
    this.deps.metrics.tracked.set(0);
    await this.restoreSysctls();
  }

  private async enableAccounting(): Promise<void> {
    const dir = this.deps.sysctlDir ?? '/proc/sys/net/netfilter';
    for (const name of SYSCTLS) {
      const path = join(dir, name);
      const before = (await readFile(path, 'utf8')).trim();
      if (before !== '1') {
        await writeFile(path, '1\n');
        this.previous.set(path, before);
      }
      this.log.info({ sysctl: `net.netfilter.${name}`, previous: before, value: '1' }, `net.netfilter.${name} = 1 (flow records need it)`);
    }
  }

  private async restoreSysctls(): Promise<void> {
    for (const [path, value] of this.previous) {
      try {
        await writeFile(path, `${value}\n`);
        this.log.info({ path, value }, 'conntrack sysctl restored');
      } catch (err) {
        this.log.warn({ err, path }, 'conntrack sysctl could not be restored');
      }
    }
    this.previous.clear();
  }

  /**
   * Starts one child; resolves once it is running, rejects if it could not be started. A child that ends (or a
   * restart that cannot spawn) schedules the next try, unless it is the first one: start() reports that.
   */
  private spawnChild(first = false): Promise<void> {
    const binary = this.deps.options.binary ?? 'conntrack';
    const args = this.args();
    const child = this.deps.spawn(binary, args);
    this.child = child;
    this.framer.reset();
    child.stdout?.on('data', (chunk: Buffer) => this.onData(chunk));
    let stderrTail = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      const lines = (stderrTail + chunk.toString('utf8')).split('\n');
      stderrTail = lines.pop() ?? '';
      for (const l of lines) this.onStderr(l);
    });
    return new Promise<void>((resolve, reject) => {
      let spawned = false;
      let ended = false;
      const gone = (why: Record<string, unknown>): void => {
        if (ended) return;
        ended = true;
        if (stderrTail) this.onStderr(stderrTail);
        stderrTail = '';
        if (this.framer.reset()) this.deps.metrics.malformed.inc({ reason: 'xml' });
        if (this.child !== child) return;
        this.child = undefined;
        if (!this.running || (first && !spawned)) return;
        this.failures++;
        const o = this.deps.options;
        const delay = Math.min(o.maxBackoffMs ?? 30_000, (o.minBackoffMs ?? 500) * 2 ** Math.min(this.failures - 1, 20));
        this.log.error({ ...why, restartInMs: delay }, 'conntrack child ended; restarting');
        this.restartTimer = setTimeout(() => {
          this.restartTimer = undefined;
          if (!this.running) return;
          this.deps.metrics.restarts.inc();
          this.spawnChild().catch(() => undefined /* logged; its end schedules the next try */);
        }, delay);
      };
      child.once('spawn', () => {
        spawned = true;
        this.log.info({ pid: child.pid, command: [binary, ...args].join(' ') }, 'conntrack event listener started');
        resolve();
      });
      child.once('error', (err) => {
        this.log.error({ err, binary }, 'conntrack child failed');
        if (!spawned) {
          reject(err);
          gone({ err: err.message });
        }
      });
      child.once('close', (code, signal) => gone({ code, signal }));
    });
  }

  private onStderr(line: string): void {
    if (!line.trim()) return;
    if (/ENOBUFS/.test(line)) {
      this.deps.metrics.eventsLost.inc();
      this.log.warn({ line }, 'kernel dropped conntrack events (netlink buffer full): some flows will not be recorded');
    } else if (/^NOTICE|flow events have been shown/.test(line)) this.log.debug({ line }, 'conntrack');
    else this.log.warn({ line }, 'conntrack stderr');
  }

  private onData(chunk: Buffer): void {
    for (const f of this.framer.push(chunk)) {
      if ('tooLong' in f) {
        this.deps.metrics.malformed.inc({ reason: 'line_too_long' });
        this.log.debug({ bytes: f.tooLong }, 'conntrack line too long: dropped');
        continue;
      }
      const r = parseConntrackLine(f.line);
      if (r.kind === 'framing') continue;
      if (r.kind === 'malformed') {
        this.deps.metrics.malformed.inc({ reason: r.reason });
        this.log.debug({ reason: r.reason, detail: r.detail }, 'conntrack line dropped');
        continue;
      }
      this.failures = 0;
      this.deps.metrics.lines.inc({ type: r.event.type });
      try {
        this.onEvent(r.event);
      } catch (err) {
        // a bug of ours must not take the listener down; the flow is lost and said so
        this.deps.metrics.flows.inc({ outcome: 'error' });
        this.log.error({ err }, 'flow event not handled');
      }
    }
  }

  /** Handles one parsed event (public for tests that feed events without a child). */
  onEvent(e: ConntrackEvent): void {
    if (e.type === 'update') return;
    const decision = classifyFlow(e, this.policy);
    const key = flowKey(e);
    if (e.type === 'new') {
      if (!decision.record) return;
      const max = this.deps.options.maxOpenFlows ?? 262_144;
      if (this.open.size >= max) {
        const oldest = this.open.keys().next().value;
        if (oldest !== undefined) this.open.delete(oldest);
      }
      this.open.set(key, { session: this.deps.seats.lookupByIp(e.original.src) });
      this.deps.metrics.tracked.set(this.open.size);
      return;
    }
    const started = this.open.get(key);
    if (started) {
      this.open.delete(key);
      this.deps.metrics.tracked.set(this.open.size);
    }
    if (!decision.record) {
      this.deps.metrics.flows.inc({ outcome: decision.reason });
      return;
    }
    const session = started?.session ?? this.deps.seats.lookupByIp(e.original.src);
    if (!session) {
      this.deps.metrics.flows.inc({ outcome: 'no_session' });
      this.log.warn(
        { ip: e.original.src, protocol: e.protocol, dst: e.original.dst, dport: e.original.dport },
        'flow from a seat without a session: not recorded',
      );
      return;
    }
    this.emit(flowRecord(e, session, this.deps.clock ?? Date.now));
  }

  private emit(record: AuditRecordInput): void {
    this.deps.metrics.flows.inc({ outcome: 'recorded' });
    const p = this.deps.audit.append(record).catch((err: unknown) => {
      this.deps.metrics.auditFailures.inc();
      this.log.error({ err, ip: record.ip, host: record.host, port: record.port }, 'flow record not committed');
    });
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }
}

/** Identifies a flow between its NEW and DESTROY: the conntrack id plus the original tuple (ids are reused). */
export function flowKey(e: ConntrackEvent): string {
  const o = e.original;
  return `${e.id ?? ''} ${e.protonum} ${o.src}:${o.sport ?? ''} ${o.dst}:${o.dport ?? ''}`;
}

const NS_PER_MS = 1_000_000n;

/**
 * The audit record of an ended flow: `method` carries the protocol (`udp`, `tcp`, `icmp`, …), `host`/`port` the
 * destination the seat dialled (port 0 without ports), bytes are layer-3 bytes (IP headers included) from the
 * kernel counters, `time` the flow start and `durationMs` start → end as the kernel saw them (the end of a UDP or
 * ICMP flow is its conntrack timeout after the last packet; a TCP flow ends when its entry goes, after TIME_WAIT).
 * `detail` keeps start and end with µs and the packet counts: the audit log stamps `time` with its commit time
 * (time never decreases along the chain), so this is where the flow's own start survives.
 */
export function flowRecord(e: ConntrackEvent, s: SeatSession, clock: () => number): AuditRecordInput {
  let startMs: number;
  let durationMs: number;
  let timestamps: { start: string; end: string } | undefined;
  if (e.startNs !== undefined) {
    startMs = Number(e.startNs / NS_PER_MS);
    const stop = e.stopNs ?? BigInt(clock()) * NS_PER_MS;
    durationMs = stop > e.startNs ? Number((stop - e.startNs) / NS_PER_MS) : 0;
    timestamps = { start: nsToIso(e.startNs), end: nsToIso(stop) };
  } else {
    // no kernel timestamp (a flow that began before nf_conntrack_timestamp was on): whole seconds at best
    durationMs = (e.deltaSeconds ?? 0) * 1000;
    startMs = clock() - durationMs;
  }
  return {
    time: new Date(startMs).toISOString(),
    seat: s.seat,
    ip: e.original.src,
    mac: s.mac,
    userId: s.user.id,
    userName: s.user.name,
    docType: s.user.docType,
    docNumber: s.user.docNumber,
    ...(s.user.docCountry ? { docCountry: s.user.docCountry } : {}),
    sessionId: s.sessionId,
    kind: 'flow',
    method: e.protocol,
    host: e.original.dst,
    port: e.original.dport ?? 0,
    bytesUp: e.original.bytes ?? 0,
    bytesDown: e.reply.bytes ?? 0,
    durationMs,
    verdict: 'allowed',
    detail: JSON.stringify({
      ...timestamps,
      packetsUp: e.original.packets ?? null,
      packetsDown: e.reply.packets ?? null,
      conntrackId: e.id ?? null,
    }),
  };
}

/** ns since the epoch → ISO-8601 with microseconds (Date keeps only ms). */
function nsToIso(ns: bigint): string {
  const ms = new Date(Number(ns / NS_PER_MS)).toISOString();
  return `${ms.slice(0, -1)}${String((ns / 1000n) % 1000n).padStart(3, '0')}Z`;
}
