/**
 * Issue 7, item 2: pixel bombs. A 20000x20000 PNG under 1 MB is rejected from its header
 * before decoding, and RSS grows by less than 100 MB. Images whose header disagrees with
 * their data are rejected without a crash (the worker keeps serving the next images).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDeflate, crc32 } from 'node:zlib';
import { lastValueFrom, toArray } from 'rxjs';
import { fromImageFolder } from '../../src/sources/fromImageFolder.ts';
import { augmentInPool } from '../../src/operators/augmentInPool.ts';
import { createAugmentPool, type AugmentPool } from '../../src/augment/createAugmentPool.ts';
import { simclr } from '../../src/augment/presets.ts';
import { readImageHeader, checkImageHeader } from '../../src/augment/imageHeader.ts';
import { decodeImage, DEFAULT_DECODE_CONFIG } from '../../src/augment/decodeImage.ts';
import { setNativeAugment } from '../../src/augment/nativeKernels.ts';
import { SampleError } from '../../src/data.ts';
import { encode, smoothImage } from '../augment/fixtures.ts';

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

/** A valid width x height 1-bit greyscale PNG of one colour, deflated row by row (small memory). */
async function solidPng(width: number, height: number): Promise<Buffer> {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // greyscale
  const deflate = createDeflate({ level: 9, memLevel: 9 });
  const parts: Buffer[] = [];
  deflate.on('data', (d: Buffer) => parts.push(d));
  const done = new Promise((r) => deflate.on('end', r));
  const row = Buffer.alloc(Math.ceil(width / 8) + 1, 0); // filter byte 0 + black pixels
  for (let y = 0; y < height; y++) if (!deflate.write(row)) await new Promise((r) => deflate.once('drain', r));
  deflate.end();
  await done;
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', Buffer.concat(parts)), chunk('IEND', Buffer.alloc(0))]);
}

/** Rewrites the PNG IHDR size (with a valid CRC: only the data disagrees). */
function pngWithSize(png: Buffer, w: number, h: number): Buffer {
  const c = Buffer.from(png);
  c.writeUInt32BE(w, 16);
  c.writeUInt32BE(h, 20);
  c.writeUInt32BE(crc32(c.subarray(12, 29)) >>> 0, 29);
  return c;
}

/** Rewrites the JPEG SOF size. */
function jpegWithSize(jpg: Buffer, w: number, h: number): Buffer {
  const c = Buffer.from(jpg);
  for (let i = 2; i < c.length; ) {
    const m = c[i + 1];
    if (m === 0xc0 || m === 0xc2) {
      c.writeUInt16BE(h, i + 5);
      c.writeUInt16BE(w, i + 7);
      return c;
    }
    i += 2 + c.readUInt16BE(i + 2);
  }
  throw new Error('no SOF');
}

/** Rewrites the size of a lossless (VP8L) WebP. */
function webpWithSize(webp: Buffer, w: number, h: number): Buffer {
  const c = Buffer.from(webp);
  const bits = c.readUInt32LE(21);
  c.writeUInt32LE(((bits & ~0x0fffffff) | ((w - 1) & 0x3fff) | (((h - 1) & 0x3fff) << 14)) >>> 0, 21);
  return c;
}

let dir: string;
let pool: AugmentPool;
let bomb: Buffer;
const spec = simclr({ size: 8 });
const MB = 1024 * 1024;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'contrastream-bomb-'));
  bomb = await solidPng(20000, 20000);
  writeFileSync(join(dir, 'a-bomb.png'), bomb);
  writeFileSync(join(dir, 'b-good.jpg'), await encode(smoothImage(1, 24, 16, 3), 24, 16, 3, 'jpeg'));
  pool = createAugmentPool({ size: 1 });
});
afterAll(async () => {
  await pool?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('pixel bombs (item 2)', () => {
  it('a 20000x20000 PNG under 1 MB is rejected from its header before decoding; RSS grows < 100 MB', async () => {
    const size = statSync(join(dir, 'a-bomb.png')).size;
    expect(size).toBeLessThan(MB);
    expect(readImageHeader(bomb)).toEqual({ format: 'png', width: 20000, height: 20000 });
    expect(() => checkImageHeader(bomb, DEFAULT_DECODE_CONFIG.maxInputPixels)).toThrow(/20000x20000 = 400000000 pixels, more than maxInputPixels 40000000/);
    // warm the worker (sharp, modules) so that the measurement sees only the bomb
    await lastValueFrom(fromImageFolder(dir, { subset: [1] }).pipe(augmentInPool({ augment: spec, pool }), toArray()));
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
    const skips: SampleError[] = [];
    const t0 = performance.now();
    let out;
    try {
      out = await lastValueFrom(fromImageFolder(dir, { epochs: 3 }).pipe(augmentInPool({ augment: spec, pool, onSkip: (e) => skips.push(e), log: null }), toArray()));
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    const growth = (peak - base) / MB;
    console.log(`[item 2] bomb PNG ${(size / 1024).toFixed(0)} KB declaring 20000x20000 (1.2 GB as RGB): rejected 3x in ${(performance.now() - t0).toFixed(0)} ms, peak RSS growth ${growth.toFixed(1)} MB`);
    expect(out.map((s) => s.path!.split('/').pop())).toEqual(['b-good.jpg', 'b-good.jpg', 'b-good.jpg']);
    expect(skips.map((s) => s.reason)).toEqual(['too-large', 'too-large', 'too-large']);
    expect(skips[0].path).toMatch(/a-bomb\.png$/);
    expect(skips[0].message).toMatch(/rejected before decoding/);
    expect(growth).toBeLessThan(100);
    // fromImageFolder({ decode: true }) applies the same check
    const err = await lastValueFrom(fromImageFolder(dir, { decode: true, subset: [0], onError: 'error' })).catch((e) => e);
    expect(err).toBeInstanceOf(SampleError);
    expect(err.reason).toBe('too-large');
    // raising the limit is possible (here only checked from the header: 400 M pixels pass)
    expect(checkImageHeader(bomb, 400_000_000)).toEqual({ format: 'png', width: 20000, height: 20000 });
  });

  it('reads the size of PNG, JPEG, WebP and GIF headers and rejects crafted huge ones', async () => {
    const jpg = await encode(smoothImage(2, 40, 30, 3), 40, 30, 3, 'jpeg', { progressive: true });
    const webpLossless = await encode(smoothImage(2, 40, 30, 3), 40, 30, 3, 'webp');
    const webpLossy = await encode(smoothImage(2, 40, 30, 3), 40, 30, 3, 'webp', { lossless: false });
    const png = await encode(smoothImage(2, 40, 30, 3), 40, 30, 3, 'png');
    for (const b of [jpg, webpLossless, webpLossy, png]) expect(readImageHeader(b)).toMatchObject({ width: 40, height: 30 });
    const gif = Buffer.from('GIF89a\x40\x9c\x40\x9c\x00\x00\x00', 'latin1'); // 40000x40000
    expect(readImageHeader(gif)).toEqual({ format: 'gif', width: 40000, height: 40000 });
    for (const b of [jpegWithSize(jpg, 60000, 60000), webpWithSize(webpLossless, 16000, 16000), pngWithSize(png, 100000, 100000), gif]) {
      expect(() => checkImageHeader(b, 40_000_000)).toThrow(/rejected before decoding/);
      await expect(decodeImage(b)).rejects.toMatchObject({ reason: 'too-large' });
    }
    expect(readImageHeader(Buffer.from('plain text'))).toBeUndefined();
    expect(() => readImageHeader(new Uint8Array(0))).toThrow(/empty file/);
    expect(() => readImageHeader(png.subarray(0, 20))).toThrow(/corrupt PNG header/);
  });

  it('rejects images whose header disagrees with their data, without crashing the worker', async () => {
    const jpg = await encode(smoothImage(3, 64, 48, 3), 64, 48, 3, 'jpeg');
    const png = await encode(smoothImage(3, 64, 48, 3), 64, 48, 3, 'png');
    const webp = await encode(smoothImage(3, 64, 48, 3), 64, 48, 3, 'webp');
    const cases: Record<string, Buffer> = {
      'png-bigger.png': pngWithSize(png, 640, 480),
      'png-smaller.png': pngWithSize(png, 16, 12),
      'webp-bigger.webp': webpWithSize(webp, 640, 480),
      'webp-smaller.webp': webpWithSize(webp, 16, 12),
      'jpeg-truncated.jpg': jpg.subarray(0, jpg.length - 200),
      // SOF larger / smaller than the scan data: libjpeg-turbo (the native decoder) only warns
      // ("premature end of data", "extraneous bytes"); both decoders must reject them.
      'jpeg-bigger.jpg': jpegWithSize(jpg, 640, 480),
      'jpeg-smaller.jpg': jpegWithSize(jpg, 16, 12),
    };
    const mis = mkdtempSync(join(tmpdir(), 'contrastream-mismatch-'));
    try {
      const good = await encode(smoothImage(4, 24, 16, 3), 24, 16, 3, 'jpeg');
      let k = 0;
      for (const [name, bytes] of Object.entries(cases)) {
        writeFileSync(join(mis, `${k}-${name}`), bytes);
        writeFileSync(join(mis, `${k++}-ok.jpg`), good); // the next image, on the same worker
      }
      const skips: SampleError[] = [];
      const out = await lastValueFrom(fromImageFolder(mis).pipe(augmentInPool({ augment: spec, pool, chunkSize: 1, onSkip: (e) => skips.push(e), log: null }), toArray()));
      console.log(`[item 2] header/data mismatches rejected: ${skips.map((s) => `${s.path!.split('/').pop()} (${s.message.split(': ').slice(3).join(': ').slice(0, 60)})`).join('; ')}`);
      expect(out.length).toBe(Object.keys(cases).length);
      expect(out.every((s) => s.path!.endsWith('ok.jpg'))).toBe(true);
      expect(skips.map((s) => s.path!.split('/').pop()!.slice(2)).sort()).toEqual(Object.keys(cases).sort());
      expect(skips.every((s) => s.reason === 'decode')).toBe(true);
      // JPEG SOF larger or smaller than the scan data: the TypeScript decoder and the native
      // libjpeg-turbo one (whose warnings count as errors) reject both, with the reason.
      for (const useNative of [false, true]) {
        const prev = setNativeAugment(useNative);
        try {
          await expect(decodeImage(jpegWithSize(jpg, 640, 480))).rejects.toMatchObject({ reason: 'decode', message: expect.stringMatching(/corrupt JPEG/) });
          await expect(decodeImage(jpegWithSize(jpg, 16, 12))).rejects.toMatchObject({ reason: 'decode', message: expect.stringMatching(/extraneous bytes|corrupt JPEG/) });
          await expect(decodeImage(jpg)).resolves.toMatchObject({ width: 64, height: 48 });
        } finally {
          setNativeAugment(prev);
        }
      }
      const bytes = readFileSync(join(mis, '0-ok.jpg'));
      expect(bytes.length).toBe(good.length);
    } finally {
      rmSync(mis, { recursive: true, force: true });
    }
  });
});
