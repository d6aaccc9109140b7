import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { ChildProcess } from 'node:child_process';
import pino from 'pino';
import { Registry } from 'prom-client';
import { LinkWatcher, createLinkMetrics } from '../../src/net/link-watcher.ts';
import { linkProblems, type LinkState } from '../../src/net/link-state.ts';

const READY: LinkState = { ifname: 'br0', exists: true, ifindex: 4, adminUp: true, carrier: true, operstate: 'up', ipv4: ['10.0.0.1'] };

/** A stand-in for `ip -o monitor`: lines written to its stdout are events. */
function fakeMonitor(): ChildProcess & { stdout: PassThrough } {
  const child = Object.assign(new EventEmitter(), { stdout: new PassThrough(), exitCode: null, signalCode: null, kill: () => true });
  return child as unknown as ChildProcess & { stdout: PassThrough };
}

function setup(first: LinkState) {
  let state = first;
  const reads: (() => void)[] = [];
  const lines: { msg: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as { msg: string }) });
  const registry = new Registry();
  const monitor = fakeMonitor();
  const changes: LinkState[] = [];
  const watcher = new LinkWatcher({
    ifname: 'br0',
    role: 'lan',
    logger,
    metrics: createLinkMetrics(registry),
    read: () => {
      const r = Promise.resolve(state);
      // the watcher applies the state in the read's continuation; resolve waiters after that
      void r.then(() => setImmediate(() => reads.splice(0).forEach((w) => w())));
      return r;
    },
    monitor: () => monitor,
    // no backstop poll in these tests: every read comes from an event
    waitingPollMs: 2 ** 31 - 1,
  });
  watcher.onChange((s) => changes.push(s));
  const metric = async (name: string): Promise<number> => (await registry.getSingleMetric(name)!.get()).values[0]?.value ?? NaN;
  /** an event line from the monitor; for br0, resolves once the read it triggers has been applied */
  const event = async (next: LinkState, line = '4: br0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500'): Promise<void> => {
    state = next;
    const read = new Promise<void>((r) => reads.push(r));
    monitor.stdout.write(`${line}\n`);
    await read;
  };
  /** an event line for another interface: no read follows (checked by the next br0 event's read being the only one) */
  const otherEvent = (line: string): void => void monitor.stdout.write(`${line}\n`);
  return { watcher, lines, changes, metric, event, otherEvent, setState: (s: LinkState) => (state = s) };
}

describe('LinkWatcher', () => {
  it('says what is missing: down, no carrier, no address, no such interface', () => {
    assert.deepEqual(linkProblems(READY), []);
    assert.deepEqual(linkProblems({ ...READY, carrier: false }), ['no carrier']);
    assert.deepEqual(linkProblems({ ...READY, adminUp: false, carrier: false, ipv4: [] }), ['down', 'no address']);
    assert.deepEqual(linkProblems({ ...READY, exists: false }), ['no such network interface']);
  });

  it('logs the wait once, counts it, and reports readiness and a new device index', async () => {
    const t = setup({ ...READY, carrier: false });
    await t.watcher.start();
    assert.equal(await t.metric('bootgate_interface_up'), 0);
    assert.equal(await t.metric('bootgate_interface_waits_total'), 1);
    // another event while still waiting: no second log line
    await t.event({ ...READY, carrier: false, ipv4: [] });
    assert.equal(t.lines.filter((l) => /waiting/.test(l.msg)).length, 1);
    assert.equal(t.changes.length, 0);
    await t.event(READY);
    assert.equal(await t.metric('bootgate_interface_up'), 1);
    assert.equal(t.changes.length, 1);
    assert.ok(t.lines.some((l) => l.msg === 'interfaces.lan "br0" is up'));
    // the same state again is no change; a device made again under the same name is
    await t.event(READY);
    assert.equal(t.changes.length, 1);
    await t.event({ ...READY, ifindex: 9 }, '9: br0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500');
    assert.equal(t.changes.length, 2);
    t.watcher.stop();
  });

  it('ignores events for other interfaces, including a name that starts the same', async () => {
    const t = setup({ ...READY, carrier: false });
    await t.watcher.start();
    t.setState(READY);
    t.otherEvent('5: br01: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500');
    t.otherEvent('6: tap0@if5: <BROADCAST> master br0 state UP');
    // lines are handled in order: had either been taken for br0, this event's read would find no change
    await t.event(READY, '4: br0    inet 10.0.0.1/24 scope global br0');
    assert.equal(t.changes.length, 1);
    t.watcher.stop();
  });
});
