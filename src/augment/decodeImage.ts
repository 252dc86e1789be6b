/**
 * Encoded bytes -> SourceImage, once per image.
 *
 * JPEG: when the native addon is built and the system has libjpeg-turbo (the library PIL
 * links), JPEGs are decoded fully by libjpeg-turbo with its defaults (islow IDCT, fancy
 * upsampling) - the same pixels PIL gives torchvision - in the calling thread, without
 * sharp's fixed cost (about 2 ms of CPU per image, which dominates small images). Otherwise
 * (baseline/progressive Huffman, 8-bit, 1 or 3 components) they are entropy-decoded by
 * contrastream's TypeScript decoder (src/internal/jpegDecoder.ts) and each view is
 * reconstructed from the coefficients (see JpegSourceImage).
 * Everything else - PNG, WebP, and JPEG variants the decoder does not handle (CMYK,
 * arithmetic, 12-bit, lossless) - goes through sharp with `limitInputPixels`, after a
 * header-only `metadata()` check. In both paths the pixel count is checked from the header
 * before any pixel buffer is allocated.
 *
 * Decoded images are not auto-rotated from EXIF orientation (neither are PIL's).
 */
import sharp from 'sharp';
import { parseJpeg, readJpegHeader, JpegUnsupportedError } from '../internal/jpegDecoder.ts';
import { checkImageHeader } from './imageHeader.ts';
import { JpegSourceImage, PixelImage, convertChannels, type SourceImage } from './sourceImage.ts';
import { nativeJpegDecoder } from './nativeKernels.ts';

export interface DecodeConfig {
  /** 3 = RGB (grey images replicated, alpha dropped), 1 = luminance. Default 3. */
  channels?: 1 | 3;
  /** Reject images with more pixels than this, from the header. Default 40 megapixels. */
  maxInputPixels?: number;
  /**
   * Decode JPEGs fully with libjpeg-turbo and crop/resize the RGB image, instead of the
   * TypeScript decoder's per-view reconstruction with DCT-domain downscaling. Always the case
   * when the native addon decodes JPEGs; without it this goes through sharp, which is slower.
   * Default false.
   */
  exactJpeg?: boolean;
}

export const DEFAULT_DECODE_CONFIG = { channels: 3, maxInputPixels: 40_000_000, exactJpeg: false } as const;

/** An error with a failure reason, for SampleError. */
export class DecodeError extends Error {
  constructor(
    message: string,
    readonly reason: 'decode' | 'too-large',
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DecodeError';
  }
}

export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

function tooLarge(w: number, h: number, max: number): DecodeError {
  return new DecodeError(`image is ${w}x${h} = ${w * h} pixels, more than maxInputPixels ${max}`, 'too-large');
}

export async function decodeImage(bytes: Uint8Array, config: DecodeConfig = {}): Promise<SourceImage> {
  checkImageHeader(bytes, config.maxInputPixels ?? DEFAULT_DECODE_CONFIG.maxInputPixels); // pixel bombs, truncated JPEGs (imageHeader.ts)
  return decodeSync(bytes, config, false) ?? decodeWithSharp(bytes, config.channels ?? DEFAULT_DECODE_CONFIG.channels, config.maxInputPixels ?? DEFAULT_DECODE_CONFIG.maxInputPixels);
}

/**
 * The synchronous part of decodeImage: JPEGs the native or TypeScript decoder handles.
 * Returns undefined when sharp is needed. The image borrows per-thread scratch memory until
 * the next decodeImageSync (the native decoder's pixel buffer, or the TypeScript decoder's
 * planes), so use it before decoding (or awaiting anything that may decode) again.
 * decodeImage's images own their memory.
 */
export function decodeImageSync(bytes: Uint8Array, config: DecodeConfig = {}): SourceImage | undefined {
  return decodeSync(bytes, config, true);
}

// Per-thread pixel buffer the native decoder reuses (decodeImageSync borrows it).
let scratch: Uint8Array | undefined;
const MAX_SCRATCH = 16 * 2 ** 20;

function decodeSync(bytes: Uint8Array, config: DecodeConfig, borrow: boolean): SourceImage | undefined {
  const channels = config.channels ?? DEFAULT_DECODE_CONFIG.channels;
  const max = config.maxInputPixels ?? DEFAULT_DECODE_CONFIG.maxInputPixels;
  const exact = config.exactJpeg ?? DEFAULT_DECODE_CONFIG.exactJpeg;
  if (!isJpeg(bytes)) return undefined;
  const native = nativeJpegDecoder();
  if (native) {
    const r = native.jpegDecode(bytes, max, borrow ? scratch : undefined);
    if (r.data || r.inScratch) {
      const n = r.width * r.height;
      let data = r.data ?? scratch!.subarray(0, n * r.channels);
      if (borrow && r.data && r.data.length <= MAX_SCRATCH) scratch = r.data;
      if (r.channels !== channels) data = convertChannels(data, n, r.channels, channels);
      return new PixelImage(data, r.width, r.height, channels);
    }
    if (r.error !== undefined) throw new DecodeError(r.tooLarge ? r.error : `corrupt JPEG: ${r.error}`, r.tooLarge ? 'too-large' : 'decode');
    return undefined; // a colour space libjpeg cannot give as RGB: sharp handles it
  }
  // A full decode is faster in libjpeg-turbo (SIMD, in sharp) than in TypeScript.
  if (exact) return undefined;
  const hdr = readJpegHeader(bytes);
  if (hdr && hdr.width * hdr.height > max) throw tooLarge(hdr.width, hdr.height, max);
  try {
    return new JpegSourceImage(parseJpeg(bytes, { maxPixels: max }), channels);
  } catch (err) {
    if (err instanceof JpegUnsupportedError) return undefined; // sharp handles it
    throw new DecodeError(`corrupt JPEG: ${(err as Error).message}`, 'decode', { cause: err });
  }
}

export async function decodeWithSharp(bytes: Uint8Array, channels: 1 | 3, max: number): Promise<PixelImage> {
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: max }).metadata();
  } catch (err) {
    throw new DecodeError((err as Error).message, 'decode', { cause: err });
  }
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  if (w * h > max) throw tooLarge(w, h, max);
  try {
    let pipeline = sharp(bytes, { limitInputPixels: max, failOn: 'error' }).removeAlpha();
    pipeline = channels === 3 ? pipeline.toColourspace('srgb') : pipeline.toColourspace('b-w');
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== channels) throw new Error(`sharp returned ${info.channels} channels, expected ${channels}`);
    // sharp's Buffer may sit in a shared pool: copy into an array we own
    return new PixelImage(new Uint8Array(data), info.width, info.height, channels);
  } catch (err) {
    throw new DecodeError((err as Error).message, 'decode', { cause: err });
  }
}
