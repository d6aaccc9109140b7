import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { forecastFull, MIN_SAMPLES, percentile, recommendOverlay } from '../../src/overlay/sizing.ts';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

describe('overlay sizing: recommendation from measured write-back, forecast of a full disk', () => {
  it('nearest-rank percentile', () => {
    assert.equal(percentile([], 95), undefined);
    assert.equal(percentile([7], 95), 7);
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1); // 1 … 100
    assert.equal(percentile(hundred, 95), 95);
    assert.equal(percentile(hundred, 100), 100);
    assert.equal(percentile([5, 1, 4, 2, 3], 50), 3, 'order of input does not matter');
  });

  it('recommends p95 × 1.25 rounded up to 256 MiB, only from enough sessions', () => {
    assert.deepEqual(recommendOverlay([GiB, GiB]), { samples: 2, p95Bytes: null, recommendedBytes: null });
    // 19 sessions near 1 GiB and one 4 GiB outlier: p95 of 20 is the 19th value (1 GiB), the outlier is ignored
    const sizes = [...Array.from({ length: 19 }, () => GiB), 4 * GiB];
    const r = recommendOverlay(sizes);
    assert.equal(r.p95Bytes, GiB);
    assert.equal(r.recommendedBytes, 1.25 * GiB, '1.25 GiB is a whole number of 256 MiB steps');
    assert.equal(recommendOverlay(Array.from({ length: MIN_SAMPLES }, () => 0)).recommendedBytes, 256 * MiB, 'never below one step');
  });

  it('property: the recommendation covers the p95 and exceeds it by less than 25 % + one step', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 200 * GiB }), { minLength: MIN_SAMPLES, maxLength: 300 }), (sizes) => {
        const r = recommendOverlay(sizes);
        assert.ok(r.recommendedBytes! >= r.p95Bytes!);
        assert.ok(r.recommendedBytes! < r.p95Bytes! * 1.25 + 256 * MiB + 1);
        assert.equal(r.recommendedBytes! % (256 * MiB), 0);
      }),
    );
  });

  it('forecasts when the disk is full at the current growth; shrinking or flat is no forecast', () => {
    const h = 3_600_000;
    // 1 GiB per hour over the last hour, 3 GiB free → about 3 h
    const growing = [
      { at: 0, bytes: 50 * GiB }, // outside the one-hour window
      { at: 2 * h, bytes: 10 * GiB },
      { at: 2.5 * h, bytes: 10.5 * GiB },
      { at: 3 * h, bytes: 11 * GiB },
    ];
    const f = forecastFull(growing, 3 * GiB, h);
    assert.equal(f.bytesPerHour, GiB);
    assert.equal(f.hoursToFull, 3);
    assert.deepEqual(
      forecastFull(
        [
          { at: 0, bytes: GiB },
          { at: h, bytes: GiB },
        ],
        GiB,
        h,
      ),
      { bytesPerHour: 0, hoursToFull: null },
    );
    assert.equal(
      forecastFull(
        [
          { at: 0, bytes: 2 * GiB },
          { at: h, bytes: GiB },
        ],
        GiB,
        h,
      ).hoursToFull,
      null,
      'a reset shrank it',
    );
    assert.deepEqual(forecastFull([{ at: 0, bytes: GiB }], GiB, h), { bytesPerHour: null, hoursToFull: null });
  });
});
