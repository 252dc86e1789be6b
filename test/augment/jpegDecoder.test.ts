import { describe, it, expect } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeJpeg, parseJpeg, readJpegHeader, JpegFormatError, JpegUnsupportedError } from '../../src/internal/jpegDecoder.ts';
import { JpegSourceImage, PixelImage } from '../../src/augment/sourceImage.ts';
import { decodeImage } from '../../src/augment/decodeImage.ts';
import { encode, noiseImage, smoothImage } from './fixtures.ts';

async function sharpRaw(buf: Buffer) {
  const { data, info } = await sharp(buf).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: info.channels };
}

describe('jpegDecoder', () => {
  // Reference: libjpeg-turbo inside sharp. The decoder follows its default path (islow IDCT,
  // fancy upsampling, jdcolor tables), so the output must match bit for bit.
  const cases: [string, number, number, Record<string, unknown>, number][] = [
    ['baseline 4:2:0', 64, 48, {}, 3],
    ['baseline 4:4:4', 40, 24, { chromaSubsampling: '4:4:4' }, 3],
    ['progressive 4:2:0', 64, 48, { progressive: true }, 3],
    ['progressive 4:4:4 q75', 33, 17, { progressive: true, chromaSubsampling: '4:4:4', quality: 75 }, 3],
    ['odd size baseline', 77, 53, { quality: 80 }, 3],
    ['odd size progressive', 77, 53, { quality: 80, progressive: true }, 3],
    ['mozjpeg trellis', 48, 40, { mozjpeg: true }, 3],
    ['1x1', 1, 1, {}, 3],
    ['greyscale', 45, 31, {}, 1],
    ['greyscale progressive', 45, 31, { progressive: true }, 1],
  ];
  for (const [name, w, h, opts, c] of cases) {
    it(`matches libjpeg-turbo (sharp) exactly: ${name}`, async () => {
      for (const [k, px] of [smoothImage(1, w, h, c), noiseImage(2, w, h, c)].entries()) {
        const buf = await encode(px, w, h, c as 1 | 3, 'jpeg', opts);
        const ref = await sharpRaw(buf);
        const mine = decodeJpeg(buf);
        expect([mine.width, mine.height], `${name} #${k}`).toEqual([ref.width, ref.height]);
        // sharp returns a grey JPEG as 1 channel
        expect(mine.channels).toBe(ref.channels);
        expect(Buffer.from(mine.pixels).equals(Buffer.from(ref.data)), `${name} #${k}: pixels differ`).toBe(true);
      }
    });
  }

  const ffmpeg = existsSync('/usr/bin/ffmpeg');
  it.skipIf(!ffmpeg)('handles restart markers (ffmpeg MJPEG slices write DRI/RSTn)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'contrastream-rst-'));
    try {
      const file = join(dir, 'rst.jpg');
      const r = spawnSync('/usr/bin/ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=72x40', '-frames:v', '1', '-pix_fmt', 'yuvj420p', '-slices', '4', '-threads', '2', file]);
      expect(r.status).toBe(0);
      const buf = readFileSync(file);
      expect(buf.indexOf(Buffer.from([0xff, 0xdd]))).toBeGreaterThan(0); // DRI present
      const ref = await sharpRaw(buf);
      expect(Buffer.from(decodeJpeg(buf).pixels).equals(Buffer.from(ref.data))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the frame header without decoding', async () => {
    const buf = await encode(smoothImage(3, 50, 20, 3), 50, 20, 3, 'jpeg', { progressive: true });
    expect(readJpegHeader(buf)).toEqual({ width: 50, height: 20, components: 3, progressive: true });
    expect(readJpegHeader(new Uint8Array([1, 2, 3]))).toBeUndefined();
  });

  it('rejects truncated and corrupt data with JpegFormatError, oversized frames before allocating', async () => {
    const buf = await encode(noiseImage(4, 64, 64, 3), 64, 64, 3, 'jpeg');
    expect(() => decodeJpeg(buf.subarray(0, buf.length >> 1))).toThrow(JpegFormatError);
    expect(() => decodeJpeg(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]))).toThrow(JpegFormatError);
    expect(() => decodeJpeg(buf, { maxPixels: 64 * 64 - 1 })).toThrow(/more than the limit/);
  });

  it('CMYK JPEGs are unsupported here and fall back to sharp in decodeImage', async () => {
    const cmyk = await sharp(smoothImage(5, 24, 16, 3), { raw: { width: 24, height: 16, channels: 3 } }).toColourspace('cmyk').jpeg().toBuffer();
    expect(() => decodeJpeg(cmyk)).toThrow(JpegUnsupportedError);
    const img = await decodeImage(cmyk);
    expect(img).toBeInstanceOf(PixelImage);
    expect([img.width, img.height, img.channels]).toEqual([24, 16, 3]);
  });

  it('per-view reconstruction (planes, DCT scaling) stays close to decode-then-resize', async () => {
    const w = 160;
    const h = 120;
    const buf = await encode(smoothImage(6, w, h, 3), w, h, 3, 'jpeg');
    const exact = new PixelImage(decodeJpeg(buf).pixels, w, h, 3);
    const boxes = [
      { x: 0, y: 0, w, h, fallback: false }, // 1.25x: full-size IDCT
      { x: 10, y: 7, w: 97, h: 81, fallback: false },
      { x: 3, y: 2, w: 150, h: 110, fallback: false },
    ];
    for (const [outW, outH] of [[48, 48], [24, 20], [64, 40]]) {
      for (const box of boxes) {
        const a = new Uint8Array(outW * outH * 3);
        const b = new Uint8Array(outW * outH * 3);
        exact.resizedCrop(box, outW, outH, a);
        new JpegSourceImage(parseJpeg(buf), 3).resizedCrop(box, outW, outH, b);
        let sum = 0;
        for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
        // chroma filtering and DCT-domain downscaling differ slightly from the exact path
        expect(sum / a.length, `box ${JSON.stringify(box)} -> ${outW}x${outH}`).toBeLessThan(3);
      }
    }
  });
});
