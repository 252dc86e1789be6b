/**
 * Image size from the file header, before any decoding: the pixel-bomb guard.
 *
 * A 20000x20000 PNG of one colour compresses to well under 1 MB but decodes to 1.2 GB. Like
 * sharp's `limitInputPixels`, the augmentation workers (and `fromImageFolder({ decode: true })`)
 * read the declared width and height from the first bytes of the file and reject the image
 * when `width * height > maxInputPixels` (default 40 megapixels, DEFAULT_DECODE_CONFIG) without
 * allocating anything for its pixels.
 *
 * Formats read: PNG (IHDR), JPEG (the first SOFn segment), WebP (VP8, VP8L and VP8X), GIF
 * (logical screen). For other bytes `readImageHeader` returns undefined and the decoder's own
 * limit (sharp's limitInputPixels) applies. A recognised format whose header is cut short or
 * declares a zero size is rejected as corrupt, and so is a JPEG with no end-of-image marker
 * after its scan data: a truncated file (libjpeg would only warn and fill the rest with grey).
 */
import { DecodeError } from './decodeImage.ts';

export interface ImageHeader {
  format: 'png' | 'jpeg' | 'webp' | 'gif';
  /** Declared size; 0 height for a JPEG whose height comes later (DNL marker). */
  width: number;
  height: number;
}

const PNG_SIG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function ascii(b: Uint8Array, at: number, s: string): boolean {
  if (at + s.length > b.length) return false;
  for (let i = 0; i < s.length; i++) if (b[at + i] !== s.charCodeAt(i)) return false;
  return true;
}

const be16 = (b: Uint8Array, at: number) => (b[at] << 8) | b[at + 1];
const be32 = (b: Uint8Array, at: number) => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
const le16 = (b: Uint8Array, at: number) => b[at] | (b[at + 1] << 8);
const le24 = (b: Uint8Array, at: number) => b[at] | (b[at + 1] << 8) | (b[at + 2] << 16);

function corrupt(format: string, problem: string): DecodeError {
  return new DecodeError(`corrupt ${format} header: ${problem}`, 'decode');
}

/** Truncated JPEG: no EOI (FF D9) after the first SOS. Entropy data stuffs FF as FF 00, so an FF D9 there is the marker. */
function jpegTruncated(b: Uint8Array): boolean {
  let p = 2;
  while (p + 3 < b.length) {
    if (b[p] !== 0xff) return false; // malformed; left to the decoder
    const m = b[p + 1];
    if (m === 0xff) {
      p++;
      continue;
    }
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) {
      p += 2;
      continue;
    }
    if (m === 0xd9) return false;
    const len = be16(b, p + 2);
    if (m === 0xda) {
      const from = p + 2 + len;
      const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
      return buf.indexOf(EOI, from) < 0;
    }
    p += 2 + len;
  }
  return true;
}

const EOI = Buffer.from([0xff, 0xd9]);

function jpegHeader(b: Uint8Array): ImageHeader {
  let p = 2;
  while (p < b.length) {
    if (b[p] !== 0xff) throw corrupt('JPEG', `expected a marker at byte ${p}`);
    while (p < b.length && b[p] === 0xff) p++; // fill bytes
    if (p >= b.length) break;
    const m = b[p++];
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) continue; // no length
    if (m === 0xd9 || m === 0xda) throw corrupt('JPEG', m === 0xda ? 'scan data before any frame header (SOF)' : 'end of image before any frame header (SOF)');
    if (p + 2 > b.length) break;
    const len = be16(b, p);
    if (len < 2) throw corrupt('JPEG', `segment length ${len} at byte ${p}`);
    const isSof = m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
    if (isSof) {
      if (p + 7 > b.length) break;
      const height = be16(b, p + 3);
      const width = be16(b, p + 5);
      if (width === 0) throw corrupt('JPEG', 'frame width 0');
      return { format: 'jpeg', width, height };
    }
    p += len;
  }
  throw corrupt('JPEG', `file ends (${b.length} bytes) before the frame header (SOF)`);
}

function webpHeader(b: Uint8Array): ImageHeader {
  if (b.length < 30) throw corrupt('WebP', `only ${b.length} bytes`);
  if (ascii(b, 12, 'VP8 ')) {
    if (!(b[23] === 0x9d && b[24] === 0x01 && b[25] === 0x2a)) throw corrupt('WebP', 'missing VP8 start code');
    return { format: 'webp', width: le16(b, 26) & 0x3fff, height: le16(b, 28) & 0x3fff };
  }
  if (ascii(b, 12, 'VP8L')) {
    if (b[20] !== 0x2f) throw corrupt('WebP', 'missing VP8L signature');
    const bits = (b[21] | (b[22] << 8) | (b[23] << 16) | (b[24] << 24)) >>> 0;
    return { format: 'webp', width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (ascii(b, 12, 'VP8X')) return { format: 'webp', width: le24(b, 24) + 1, height: le24(b, 27) + 1 };
  throw corrupt('WebP', 'unknown first chunk');
}

/**
 * Reads the declared size of a PNG, JPEG, WebP or GIF from its first bytes. Returns undefined
 * for other formats. Throws DecodeError (reason 'decode') for an empty file or a recognised
 * format with a malformed header.
 */
export function readImageHeader(bytes: Uint8Array): ImageHeader | undefined {
  const b = bytes;
  if (b.length === 0) throw new DecodeError('empty file (0 bytes)', 'decode');
  if (b.length >= 8 && PNG_SIG.every((v, i) => b[i] === v)) {
    if (b.length < 24 || !ascii(b, 12, 'IHDR')) throw corrupt('PNG', b.length < 24 ? `only ${b.length} bytes` : 'first chunk is not IHDR');
    const width = be32(b, 16);
    const height = be32(b, 20);
    if (width === 0 || height === 0) throw corrupt('PNG', `declares ${width}x${height}`);
    return { format: 'png', width, height };
  }
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return jpegHeader(b);
  if (ascii(b, 0, 'RIFF') && ascii(b, 8, 'WEBP')) return webpHeader(b);
  if (ascii(b, 0, 'GIF87a') || ascii(b, 0, 'GIF89a')) {
    if (b.length < 10) throw corrupt('GIF', `only ${b.length} bytes`);
    const width = le16(b, 6);
    const height = le16(b, 8);
    if (width === 0 || height === 0) throw corrupt('GIF', `declares ${width}x${height}`);
    return { format: 'gif', width, height };
  }
  return undefined;
}

/**
 * The pixel-bomb check: throws DecodeError 'too-large' when the header declares more than
 * `maxInputPixels` pixels, and 'decode' for a malformed header or a truncated JPEG. Nothing
 * is decoded.
 */
export function checkImageHeader(bytes: Uint8Array, maxInputPixels: number): ImageHeader | undefined {
  const h = readImageHeader(bytes);
  if (h?.format === 'jpeg' && jpegTruncated(bytes)) throw new DecodeError(`truncated JPEG: no end-of-image marker after the scan data (${bytes.length} bytes)`, 'decode');
  if (h !== undefined && h.width * h.height > maxInputPixels) {
    throw new DecodeError(
      `${h.format.toUpperCase()} header declares ${h.width}x${h.height} = ${h.width * h.height} pixels, more than maxInputPixels ${maxInputPixels} (rejected before decoding)`,
      'too-large',
    );
  }
  return h;
}
