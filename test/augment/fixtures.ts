/** Deterministic test images shared by the data-plane tests. */
import sharp from 'sharp';
import { Rng } from '../../src/internal/prng.ts';

/** Uniform random HWC bytes. */
export function noiseImage(seed: number, width: number, height: number, channels: number): Uint8Array {
  const rng = new Rng(seed, 0x7e57);
  const out = new Uint8Array(width * height * channels);
  for (let i = 0; i < out.length; i++) out[i] = rng.nextU32() & 255;
  return out;
}

/** A smooth "photo-like" HWC image: gradients, a disc, mild noise. */
export function smoothImage(seed: number, width: number, height: number, channels: number): Uint8Array {
  const rng = new Rng(seed, 0x5a00);
  const base = Array.from({ length: channels }, () => [rng.uniform(0, 255), rng.uniform(-1, 1), rng.uniform(-1, 1)]);
  const cx = rng.uniform(0, width);
  const cy = rng.uniform(0, height);
  const rad = rng.uniform(width / 8, width / 2);
  const disc = Array.from({ length: channels }, () => rng.uniform(0, 255));
  const out = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inDisc = (x - cx) ** 2 + (y - cy) ** 2 < rad * rad;
      for (let c = 0; c < channels; c++) {
        const [b, gx, gy] = base[c];
        const v = inDisc ? disc[c] : b + gx * x * (128 / width) + gy * y * (128 / height);
        out[(y * width + x) * channels + c] = Math.max(0, Math.min(255, Math.round(v + rng.uniform(-6, 6))));
      }
    }
  }
  return out;
}

export async function encode(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3 | 4,
  format: 'jpeg' | 'png' | 'webp',
  options: Record<string, unknown> = {},
): Promise<Buffer> {
  const img = sharp(pixels, { raw: { width, height, channels } });
  if (format === 'jpeg') return img.jpeg({ quality: 90, ...options }).toBuffer();
  if (format === 'png') return img.png(options).toBuffer();
  return img.webp({ lossless: true, ...options }).toBuffer();
}
