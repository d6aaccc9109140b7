import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { linkProblems, linkReady, readLinkState, type LinkState } from './link-state.ts';

export interface LinkMetrics {
  up: Gauge<'interface' | 'role'>;
  waits: Counter<'interface' | 'role'>;
}

export function createLinkMetrics(registry: Registry): LinkMetrics {
  return {
    up: new Gauge({
      name: 'bootgate_interface_up',
      help: 'whether a configured interface is ready to serve (up, carrier, an IPv4 address)',
      labelNames: ['interface', 'role'],
      registers: [registry],
    }),
    waits: new Counter({
      name: 'bootgate_interface_waits_total',
      help: 'times a configured interface was found not ready (down, no carrier or no address) and waited for',
      labelNames: ['interface', 'role'],
      registers: [registry],
    }),
  };
}

export interface LinkWatcherDeps {
  ifname: string;
  /** the config key it comes from, for logs and the metric's `role` label: `lan` for interfaces.lan */
  role: string;
  logger: Logger;
  metrics: LinkMetrics;
  /** tests replace these; the defaults read sysfs + iproute2 and follow `ip -o monitor link address` */
  read?: (ifname: string) => Promise<LinkState>;
  monitor?: () => ChildProcess;
  /** re-read this often while the link is not ready, in case an event was missed (the monitor's start races the first read) */
  waitingPollMs?: number;
}

/**
 * Follows one interface: every rtnetlink link or address event that names it (from `ip -o monitor`, a child
 * process) triggers a fresh read of its state, so what listeners see is always the kernel's state, never parsed
 * from the monitor's text. Logs once when it starts waiting and once when it is ready again; listeners hear each
 * change of readiness or of the device's index.
 */
export class LinkWatcher {
  private current: LinkState | undefined;
  private monitor: ChildProcess | undefined;
  private stopped = false;
  private reading: Promise<void> | undefined;
  private again = false;
  private poll: NodeJS.Timeout | undefined;
  private restart: NodeJS.Timeout | undefined;
  private readonly listeners: ((s: LinkState, previous: LinkState) => void)[] = [];

  constructor(private readonly deps: LinkWatcherDeps) {}

  get state(): LinkState {
    if (!this.current) throw new Error('LinkWatcher.state read before start()');
    return this.current;
  }

  /** Called when it becomes ready or stops being ready, and when, ready, its device index or primary address changes. */
  onChange(listener: (s: LinkState, previous: LinkState) => void): void {
    this.listeners.push(listener);
  }

  /** Starts following the interface and resolves with its state now. */
  async start(): Promise<LinkState> {
    this.stopped = false;
    this.spawnMonitor();
    const first = await (this.deps.read ?? readLinkState)(this.deps.ifname);
    this.apply(first, undefined);
    return first;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.poll);
    clearTimeout(this.restart);
    this.poll = this.restart = undefined;
    const m = this.monitor;
    this.monitor = undefined;
    if (m && m.exitCode === null && m.signalCode === null) m.kill('SIGTERM');
  }

  private spawnMonitor(): void {
    if (this.stopped) return;
    const child = this.deps.monitor
      ? this.deps.monitor()
      : spawn('ip', ['-o', 'monitor', 'link', 'address'], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.monitor = child;
    // `ip -o` prints one event per line: "3: br0: <…>" (link), "3: br0    inet …" (address), "Deleted 3: br0 …"
    const mine = new RegExp(`^(?:Deleted )?\\d+: ${this.deps.ifname.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[:@ ]`);
    if (child.stdout) createInterface({ input: child.stdout }).on('line', (line) => mine.test(line) && this.refresh());
    child.once('error', (err) => this.deps.logger.warn({ err }, 'cannot follow interface events (ip monitor); polling instead'));
    child.once('exit', () => {
      if (this.stopped || this.monitor !== child) return;
      // without events, poll: re-read now and again each second until a new monitor runs
      this.deps.logger.warn({ interface: this.deps.ifname }, 'ip monitor exited; restarting it');
      this.refresh();
      this.restart = setTimeout(() => this.spawnMonitor(), 1000);
      this.restart.unref();
    });
  }

  /** Reads the state again (coalesced: one read at a time, one more if events came in during it). */
  refresh(): void {
    if (this.stopped) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = (async () => {
      do {
        this.again = false;
        const next = await (this.deps.read ?? readLinkState)(this.deps.ifname);
        if (!this.stopped) this.apply(next, this.current);
      } while (this.again && !this.stopped);
    })()
      .catch((err: unknown) => this.deps.logger.error({ err }, 'cannot read interface state'))
      .finally(() => (this.reading = undefined));
  }

  private apply(next: LinkState, previous: LinkState | undefined): void {
    this.current = next;
    const { ifname, role, logger, metrics } = this.deps;
    const labels = { interface: ifname, role };
    const ready = linkReady(next);
    const wasReady = previous ? linkReady(previous) : undefined;
    metrics.up.set(labels, ready ? 1 : 0);
    if (ready !== wasReady) {
      if (!ready) {
        metrics.waits.inc(labels);
        const reason = linkProblems(next).join(' / ');
        if (previous === undefined)
          logger.warn({ interface: ifname, operstate: next.operstate }, `waiting for interfaces.${role} ${JSON.stringify(ifname)}: ${reason}`);
        else
          logger.warn(
            { interface: ifname, operstate: next.operstate },
            `interfaces.${role} ${JSON.stringify(ifname)} is not ready (${reason}): waiting for it`,
          );
      } else if (previous !== undefined)
        logger.info({ interface: ifname, addresses: next.ipv4 }, `interfaces.${role} ${JSON.stringify(ifname)} is up`);
    }
    // while waiting, a slow re-read covers an event the monitor missed (it subscribes after our first read began)
    if (!ready && !this.poll) {
      this.poll = setInterval(() => this.refresh(), this.deps.waitingPollMs ?? 2000);
      this.poll.unref();
    } else if (ready && this.poll) {
      clearInterval(this.poll);
      this.poll = undefined;
    }
    if (previous && (ready !== wasReady || (ready && (next.ifindex !== previous.ifindex || next.ipv4[0] !== previous.ipv4[0]))))
      for (const l of this.listeners) l(next, previous);
  }
}
