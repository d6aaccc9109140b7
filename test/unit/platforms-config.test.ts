/** The platforms: config slice (src/platforms/config.ts): defaults, and bad values named by key with the reason. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classSettings, heartbeatTtlMs, platformsConfigSchema } from '../../src/platforms/config.ts';

const issues = (doc: unknown) => {
  const r = platformsConfigSchema.safeParse(doc);
  assert.ok(!r.success, 'expected a refusal');
  return r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('platforms config', () => {
  it('defaults in the spirit of HAProxy, Envoy and the HPA', () => {
    const c = platformsConfigSchema.parse({});
    assert.deepEqual(c.health, { intervalMs: 2000, fall: 3, rise: 2, timeoutMs: 1000 });
    assert.equal(heartbeatTtlMs(c), 6000);
    assert.equal(c.slowStartMs, 30_000);
    assert.equal(c.panicThreshold, 0.5);
    assert.equal(c.deregisterAfterMs, null);
    assert.equal(c.advisor.tolerance, 0.1);
    assert.equal(c.advisor.scaleDownStabilizationMs, 300_000);
    assert.equal(c.sleep.idleMs, null);
    assert.equal(c.wol.port, 9);
    assert.deepEqual(classSettings(c, 'anything'), { mode: 'redirect', affinity: false, targetSessionsPerInstance: null, retryAfterSeconds: 5 });
  });

  it('instances and classes as written', () => {
    const c = platformsConfigSchema.parse({
      classes: { game: { mode: 'proxy', affinity: true, targetSessionsPerInstance: 20 } },
      instances: [
        { class: 'game', name: 'g1', url: 'http://10.0.5.1:8080', capacity: 40, healthUrl: 'http://10.0.5.1:8080/health', mac: '52:54:00:aa:bb:cc' },
      ],
    });
    assert.equal(classSettings(c, 'game').mode, 'proxy');
    assert.deepEqual(c.instances[0], {
      class: 'game',
      name: 'g1',
      url: 'http://10.0.5.1:8080',
      capacity: 40,
      weight: 1,
      healthUrl: 'http://10.0.5.1:8080/health',
      expectedStatus: 200,
      mac: '52:54:00:aa:bb:cc',
    });
  });

  it('bad values are refused with their key and the reason', () => {
    assert.deepEqual(issues({ instances: [{ class: 'Game', name: 'g', url: 'ftp://x', capacity: 0 }] }), [
      'instances.0.class: must be a class name: a-z, 0-9 and -, starting with a letter, at most 32',
      'instances.0.url: must use http or https',
      'instances.0.capacity: Too small: expected number to be >=1',
    ]);
    assert.deepEqual(issues({ panicThreshold: 2 }), ['panicThreshold: Too big: expected number to be <=1']);
    assert.deepEqual(issues({ health: { fall: 0 } }), ['health.fall: Too small: expected number to be >=1']);
    assert.deepEqual(issues({ classes: { web: { mode: 'tunnel' } } }), ['classes.web.mode: Invalid option: expected one of "redirect"|"proxy"']);
    assert.deepEqual(issues({ advisor: { command: [] } }), ['advisor.command: Too small: expected array to have >=1 items']);
    assert.deepEqual(issues({ wol: { schedules: [{ at: '7:30' }] } }), ['wol.schedules.0.at: must be a time HH:MM (24 h)']);
    assert.deepEqual(issues({ wol: { password: '01:02:03' } }), ['wol.password: must be 4 or 6 bytes in hex, e.g. 01:02:03:04']);
    assert.deepEqual(issues({ instances: [{ class: 'web', name: 'w', url: 'http://a/?q=1', capacity: 1 }] }), [
      'instances.0.url: must have no query or fragment',
    ]);
    const two = { class: 'web', name: 'w', url: 'http://a', capacity: 1 };
    assert.deepEqual(issues({ instances: [two, two] }), ['instances.1.name: is used twice in class web']);
    assert.deepEqual(issues({ advisor: { minInstances: 3, maxInstances: 2 } }), ['advisor.maxInstances: must not be below minInstances']);
    assert.equal(platformsConfigSchema.safeParse({ bogus: 1 }).error?.issues[0]?.code, 'unrecognized_keys');
  });
});
