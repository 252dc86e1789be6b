/**
 * sRGB <-> CIE L*a*b* (D65, 2-degree observer), as skimage.color.rgb2lab / lab2rgb compute
 * it. CMC (Tian et al. 2019) trains on the L channel and the ab channels of this space as two
 * views of one image.
 *
 *   linear = v/255 > 0.04045 ? ((v/255 + 0.055) / 1.055)^2.4 : v/255 / 12.92
 *   [X Y Z] = M_sRGB * linear / white(0.95047, 1, 1.08883)
 *   f(t)    = t > 0.008856 ? cbrt(t) : 7.787 t + 16/116
 *   L = 116 f(Y) - 16,  a = 500 (f(X) - f(Y)),  b = 200 (f(Y) - f(Z))
 *
 * L is in [0, 100]; a, b roughly in [-86.2, 98.2] and [-107.9, 94.5]. A 1-channel input is
 * treated as R = G = B (so a = b = 0 up to rounding).
 */

const M = [0.412453, 0.35758, 0.180423, 0.212671, 0.71516, 0.072169, 0.019334, 0.119193, 0.950227];
const WHITE = [0.95047, 1.0, 1.08883];

// inverse of M (computed once)
const MI = (() => {
  const [a, b, c, d, e, f, g, h, i] = M;
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  return [
    (e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det,
    (f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det,
    (d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det,
  ];
})();

const LINEAR = new Float64Array(256);
for (let v = 0; v < 256; v++) {
  const x = v / 255;
  LINEAR[v] = x > 0.04045 ? ((x + 0.055) / 1.055) ** 2.4 : x / 12.92;
}

function f(t: number): number {
  return t > 0.008856 ? Math.cbrt(t) : 7.787 * t + 16 / 116;
}

/** CMC's normalisation of L and ab: mean and std of the channel ranges. */
export const CMC_LAB_MEAN = [(0 + 100) / 2, (-86.183 + 98.233) / 2, (-107.857 + 94.478) / 2] as const;
export const CMC_LAB_STD = [(100 - 0) / 2, (86.183 + 98.233) / 2, (107.857 + 94.478) / 2] as const;

/**
 * HWC uint8 RGB (or 1-channel grey) -> L [pixels] and ab [pixels * 2] float32.
 */
export function rgbToLab(src: Uint8Array, pixels: number, channels: number, outL: Float32Array, outAb: Float32Array): void {
  for (let i = 0, o = 0; i < pixels; i++, o += channels) {
    const r = LINEAR[src[o]];
    const g = channels >= 3 ? LINEAR[src[o + 1]] : r;
    const b = channels >= 3 ? LINEAR[src[o + 2]] : r;
    const fx = f((M[0] * r + M[1] * g + M[2] * b) / WHITE[0]);
    const fy = f((M[3] * r + M[4] * g + M[5] * b) / WHITE[1]);
    const fz = f((M[6] * r + M[7] * g + M[8] * b) / WHITE[2]);
    outL[i] = 116 * fy - 16;
    outAb[2 * i] = 500 * (fx - fy);
    outAb[2 * i + 1] = 200 * (fy - fz);
  }
}

function finv(t: number): number {
  return t > 0.2068966 ? t * t * t : (t - 16 / 116) / 7.787;
}

function gamma(x: number): number {
  const v = x > 0.0031308 ? 1.055 * x ** (1 / 2.4) - 0.055 : 12.92 * x;
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** L, ab float -> HWC RGB in [0, 1] (float32), skimage.color.lab2rgb. */
export function labToRgb(L: Float32Array, ab: Float32Array, pixels: number, out: Float32Array): void {
  for (let i = 0; i < pixels; i++) {
    const fy = (L[i] + 16) / 116;
    const fx = ab[2 * i] / 500 + fy;
    let fz = fy - ab[2 * i + 1] / 200;
    if (fz < 0) fz = 0;
    const x = finv(fx) * WHITE[0];
    const y = finv(fy) * WHITE[1];
    const z = finv(fz) * WHITE[2];
    out[3 * i] = gamma(MI[0] * x + MI[1] * y + MI[2] * z);
    out[3 * i + 1] = gamma(MI[3] * x + MI[4] * y + MI[5] * z);
    out[3 * i + 2] = gamma(MI[6] * x + MI[7] * y + MI[8] * z);
  }
}
