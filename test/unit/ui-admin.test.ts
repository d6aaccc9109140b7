import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AdviceView, OverlayTerminalView } from '../../src/ui/wire.ts';
import { chartPaths } from '../../ui/src/chart.ts';
import { formatBytes, formatPercent } from '../../ui/src/format.ts';
import { terminalsPerVersion } from '../../ui/src/images-view.ts';
import { desiredSeries } from '../../ui/src/platforms-view.ts';
import { SCREENS, screenFromHash } from '../../ui/src/shell.ts';

const overlay = (mac: string, baseVersion: number | null): OverlayTerminalView => ({
  mac,
  mode: 'keep',
  overlayMode: baseVersion === null ? null : 'keep',
  baseVersion,
  createdAt: null,
  bytes: 0,
  inUse: false,
});
const event = (cls: string, at: number, desired: number): AdviceView => ({
  class: cls,
  at,
  desired,
  average: 0,
  target: 1,
  current: 1,
  direction: 'up',
  why: '',
});

describe('admin screens: pure helpers', () => {
  it('sizes in decimal units per locale', () => {
    assert.equal(formatBytes(0, 'en'), '0 byte');
    assert.equal(formatBytes(999, 'en'), '999 byte');
    assert.equal(formatBytes(65_536, 'en'), '65.5 kB');
    assert.equal(formatBytes(1_500_000, 'fr'), '1,5\u202fMo');
    assert.equal(formatBytes(2_000_000_000, 'zh-CN'), '2 GB');
    assert.equal(formatPercent(0.25, 'en'), '25%');
    assert.match(formatPercent(0.25, 'fr'), /^25[\u00a0\u202f]%$/);
  });

  it('counts the terminals on each image version; terminals without an overlay count nowhere', () => {
    const per = terminalsPerVersion([overlay('a', 1), overlay('b', 2), overlay('c', 2), overlay('d', null)]);
    assert.deepEqual([...per.entries()].sort(), [
      [1, 1],
      [2, 2],
    ]);
  });

  it('chart paths span the box, y from 0 up to the largest value', () => {
    const g = chartPaths(
      [
        {
          name: 'a',
          points: [
            [10, 0],
            [20, 5],
            [30, 10],
          ],
        },
        { name: 'b', points: [[10, 10]] },
      ],
      100,
      50,
    );
    assert.equal(g.yMax, 10);
    assert.deepEqual(
      g.paths.map((p) => p.d),
      ['M0.0,50.0 L50.0,25.0 L100.0,0.0', 'M0.0,0.0'],
    );
    assert.deepEqual(chartPaths([], 100, 50).paths, []);
    // one point in time: drawn at the right edge, not NaN
    assert.equal(chartPaths([{ name: 'x', points: [[5, 2]] }], 100, 50).paths[0]!.d, 'M100.0,0.0');
  });

  it('advisor events become one series per class, in time order', () => {
    const s = desiredSeries([event('game', 30, 3), event('web', 10, 1), event('game', 20, 2)]);
    assert.deepEqual(s, [
      { name: 'web', points: [[10, 1]] },
      {
        name: 'game',
        points: [
          [20, 2],
          [30, 3],
        ],
      },
    ]);
  });

  it('only admins have the images and platforms screens', () => {
    assert.deepEqual(SCREENS.admin, ['room', 'cashier', 'audit', 'images', 'platforms']);
    assert.equal(screenFromHash('#images', 'admin'), 'images');
    assert.equal(screenFromHash('#platforms', 'cashier'), 'room');
    assert.equal(screenFromHash('#images', 'auditor'), 'room');
  });
});
