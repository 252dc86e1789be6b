import { describe, it, expect } from 'vitest';
import { cosineWithWarmup } from '../../src/optim/cosineWithWarmup.ts';
import { stepDecay } from '../../src/optim/stepDecay.ts';
import { ArgumentError } from '../../src/errors.ts';

describe('optim: learning-rate schedules', () => {
  it('cosineWithWarmup: linear warmup to baseLr, cosine to minLr, flat after', () => {
    const f = cosineWithWarmup({ baseLr: 1, totalSteps: 110, warmupSteps: 10, minLr: 0.1 });
    expect(f(0)).toBeCloseTo(0.1, 12);
    expect(f(4)).toBeCloseTo(0.5, 12);
    expect(f(9)).toBeCloseTo(1, 12);
    expect(f(10)).toBeCloseTo(1, 12);
    expect(f(60)).toBeCloseTo(0.55, 12); // half way: minLr + (base − min)/2
    expect(f(35)).toBeCloseTo(0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI / 4)), 12);
    expect(f(110)).toBe(0.1);
    expect(f(1000)).toBe(0.1);
    for (let t = 10; t < 110; t++) expect(f(t + 1)).toBeLessThanOrEqual(f(t));
    const g = cosineWithWarmup({ baseLr: 0.5, totalSteps: 4 });
    expect([0, 1, 2, 3].map(g).map((x) => +x.toFixed(6))).toEqual([0.5, 0.426777, 0.25, 0.073223]);
    expect(() => cosineWithWarmup({ baseLr: 1, totalSteps: 5, warmupSteps: 6 })).toThrow(ArgumentError);
  });

  it('stepDecay: milestones (MultiStepLR) and stepSize (StepLR)', () => {
    const f = stepDecay({ baseLr: 0.03, milestones: [120, 160], gamma: 0.1 });
    expect(f(0)).toBe(0.03);
    expect(f(119)).toBe(0.03);
    expect(f(120)).toBeCloseTo(0.003, 12);
    expect(f(160)).toBeCloseTo(0.0003, 12);
    const g = stepDecay({ baseLr: 1, stepSize: 3, gamma: 0.5 });
    expect([0, 2, 3, 5, 6].map(g)).toEqual([1, 1, 0.5, 0.5, 0.25]);
    expect(() => stepDecay({ baseLr: 1 })).toThrow(/exactly one/);
    expect(() => stepDecay({ baseLr: 1, milestones: [5, 3] })).toThrow(/ascending/);
  });
});
