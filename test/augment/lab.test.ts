import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { rgbToLab, labToRgb } from '../../src/augment/lab.ts';

describe('Lab', () => {
  it('known colours (skimage rgb2lab values)', () => {
    const px = Uint8Array.from([255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]);
    const L = new Float32Array(5);
    const ab = new Float32Array(10);
    rgbToLab(px, 5, 3, L, ab);
    const want = [
      [100, 0, 0],
      [0, 0, 0],
      [53.2408, 80.0925, 67.2032],
      [87.7347, -86.1827, 83.1793],
      [32.2970, 79.1875, -107.8602],
    ];
    want.forEach(([l, a, b], i) => {
      expect(L[i]).toBeCloseTo(l, 2);
      expect(ab[2 * i]).toBeCloseTo(a, 1);
      expect(ab[2 * i + 1]).toBeCloseTo(b, 1);
    });
  });

  it('round trip RGB -> Lab -> RGB is within 1e-3 (of 1.0) for every colour', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 3, maxLength: 300 }), (bytes) => {
        const n = Math.floor(bytes.length / 3);
        const px = bytes.subarray(0, n * 3);
        const L = new Float32Array(n);
        const ab = new Float32Array(2 * n);
        const back = new Float32Array(3 * n);
        rgbToLab(px, n, 3, L, ab);
        labToRgb(L, ab, n, back);
        let worst = 0;
        for (let i = 0; i < 3 * n; i++) worst = Math.max(worst, Math.abs(back[i] - px[i] / 255));
        expect(worst).toBeLessThan(1e-3);
      }),
      { numRuns: 100 },
    );
  });

  it('grey (1-channel) input gives a = b = 0 and L of the grey level', () => {
    const L = new Float32Array(2);
    const ab = new Float32Array(4);
    rgbToLab(Uint8Array.from([0, 200]), 2, 1, L, ab);
    const L3 = new Float32Array(1);
    const ab3 = new Float32Array(2);
    rgbToLab(Uint8Array.from([200, 200, 200]), 1, 3, L3, ab3);
    expect(L[1]).toBeCloseTo(L3[0], 5);
    for (const v of ab) expect(Math.abs(v)).toBeLessThan(0.01); // M's rows do not hit the white point exactly (as in skimage)
  });
});
