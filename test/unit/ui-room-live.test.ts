import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { OverlayTerminal } from '../../src/overlay/manager.ts';
import { OverlayWatch, queueView } from '../../src/ui/room-live.ts';
import type { OverlayEventData, QueueEventData, QueueView } from '../../src/ui/wire.ts';
import { AdmissionQueue } from '../../src/boot/admission.ts';
import { admissionConfigSchema } from '../../src/boot/config.ts';
import { applyQueueEvent, queuePlace } from '../../ui/src/model.ts';
import type { Mac } from '../../src/terminal/mac.ts';

const M1 = '52:54:00:00:00:01' as Mac;
const M2 = '52:54:00:00:00:02' as Mac;
const term = (mac: Mac, bytes: number, inUse = false): OverlayTerminal => ({
  mac,
  mode: 'discard',
  overlayMode: 'discard',
  baseVersion: 1,
  createdAt: null,
  bytes,
  inUse,
});

describe('room tiles: overlay use and the boot queue, live', () => {
  it('the overlay watch publishes only changes, prefers the overlay in use, and says when one went', async () => {
    const files: Record<string, OverlayTerminal[]> = { win: [term(M1, 4096)], linux: [term(M1, 10_000_000, true)] };
    const events: OverlayEventData[] = [];
    const watch = new OverlayWatch({
      overlays: { images: () => Object.keys(files).map((image) => ({ image })), terminals: (i) => Promise.resolve(files[i]!) },
      limitFor: () => 1 << 30,
      publish: (d) => events.push(d),
      sampleMs: 60_000,
      logger: pino({ level: 'silent' }),
    });
    await watch.sample();
    assert.deepEqual(events, [{ mac: M1, overlay: { image: 'linux', bytes: 10_000_000, limitBytes: 1 << 30, inUse: true, mode: 'discard' } }]);
    assert.equal(watch.current(M1)?.image, 'linux');
    await watch.sample();
    assert.equal(events.length, 1, 'nothing changed, nothing published');
    files.linux = [term(M1, 12_000_000, true), { ...term(M2, 0), overlayMode: null }];
    await watch.sample();
    assert.deepEqual(
      events.slice(1).map((e) => [e.mac, e.overlay?.bytes]),
      [[M1, 12_000_000]],
      'a terminal with only a mode set has no overlay to show',
    );
    files.linux = [];
    files.win = [];
    await watch.sample();
    assert.deepEqual(events.at(-1), { mac: M1, overlay: null });
    assert.equal(watch.current(M1), null);
  });

  it('the browser follows the real admission queue from its events: positions, heavy phase, consistency', () => {
    const events: QueueEventData[] = [];
    let now = 0;
    const q = new AdmissionQueue({
      config: admissionConfigSchema.parse({ enabled: true, maxInHeavyPhase: 1, pollSeconds: 2, abandonSeconds: 30 }),
      isPriority: (mac) => mac.endsWith('09'),
      clock: () => now,
      onEvent: (e) => events.push(e),
    });
    let view: QueueView | null = queueView(q.snapshot());
    const follow = () => {
      for (const e of events.splice(0)) {
        const r = applyQueueEvent(view, e);
        assert.ok(r.consistent, JSON.stringify(e));
        view = r.queue;
      }
      assert.deepEqual(view, queueView(q.snapshot()), 'the browser agrees with the server');
    };
    for (const m of ['a1', 'a2', 'a3', '09']) q.request(`52:54:00:00:00:${m}`);
    follow();
    assert.deepEqual(queuePlace(view, '52:54:00:00:00:a1'), { state: 'heavy', holders: 1, bound: 1 });
    assert.deepEqual(queuePlace(view, '52:54:00:00:00:09'), { state: 'waiting', position: 1, of: 3 }, 'priority goes first');
    assert.deepEqual(queuePlace(view, '52:54:00:00:00:a3'), { state: 'waiting', position: 3, of: 3 });
    q.release('52:54:00:00:00:a1', 'booted');
    follow();
    assert.deepEqual(queuePlace(view, '52:54:00:00:00:a3'), { state: 'waiting', position: 2, of: 2 });
    assert.equal(queuePlace(view, '52:54:00:00:00:a1'), undefined);
    now = 31_000; // a2 and a3 stopped polling
    q.expire();
    follow();
    assert.deepEqual(view!.waiting, []);
    // a missed event shows as inconsistent counts
    q.request('52:54:00:00:00:b1');
    q.request('52:54:00:00:00:b2');
    const missed = events.splice(0);
    assert.equal(applyQueueEvent(view, missed.at(-1)!).consistent, false);
  });
});
