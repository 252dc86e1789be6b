/**
 * A JPEG decoder in TypeScript for the data plane's hot path: baseline and progressive
 * Huffman JPEG, 8-bit, 1 or 3 components, any sampling factors, restart intervals.
 *
 * Why: sharp/libvips costs about 2 ms of fixed CPU per decoded image (loader sniffing,
 * GObject setup, two header passes) on top of about 0.9 ms of real decoding for a 320x240
 * JPEG. For small images that fixed cost dominates; this decoder has none.
 *
 * It follows libjpeg-turbo's default decompression path, so that its output matches what
 * sharp returns for the same file:
 *   - `jpeg_idct_islow` (jidctint.c, CONST_BITS 13, PASS1_BITS 2) for the inverse DCT,
 *   - "fancy" triangle upsampling for h2v1 / h1v2 / h2v2 chroma (jdsample.c), box
 *     replication for other ratios,
 *   - the fixed-point YCbCr -> RGB tables of jdcolor.c (SCALEBITS 16).
 *
 * Anything else (arithmetic coding, lossless, 12-bit, hierarchical, CMYK/YCCK, DNL) throws
 * `JpegUnsupportedError`; callers fall back to sharp. Corrupt or truncated data throws
 * `JpegFormatError`. The frame size is checked against `maxPixels` before any pixel
 * buffer is allocated.
 */

export class JpegUnsupportedError extends Error {
  override name = 'JpegUnsupportedError';
}
export class JpegFormatError extends Error {
  override name = 'JpegFormatError';
}

export interface DecodedJpeg {
  width: number;
  height: number;
  /** 1 (grayscale) or 3 (RGB). */
  channels: 1 | 3;
  /** HWC, row-major, `width * height * channels` bytes. */
  pixels: Uint8Array;
}

export interface JpegHeader {
  width: number;
  height: number;
  components: number;
  progressive: boolean;
}

// Zig-zag index -> natural (row-major) index.
const ZIGZAG = new Int32Array([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
  28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61,
  54, 47, 55, 62, 63,
  // padding so that k up to 63 + 16 never reads out of bounds in corrupt streams
  63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
]);

const LOOKAHEAD = 9;

/** A canonical Huffman table with a 9-bit lookahead. */
class HuffTable {
  /** lookahead[code9] = (length << 8) | symbol, or 0 when the code is longer than 9 bits. */
  readonly look = new Int32Array(1 << LOOKAHEAD);
  /** maxcode[l]: largest code of length l (or -1), l = 1..16; maxcode[17] sentinel. */
  readonly maxcode = new Int32Array(18);
  /** valoffset[l]: index into values of the first code of length l, minus that code. */
  readonly valoffset = new Int32Array(17);
  readonly values: Uint8Array;
  /**
   * AC fast path (as stb_image's fast_ac): for a 9-bit peek whose Huffman code and magnitude
   * bits both fit, (value << 16) | (run << 8) | flags | bits consumed; flags 0x80 = end of
   * block, 0x40 = ZRL (16 zeros). 0 = use the slow path.
   */
  readonly fastAc = new Int32Array(1 << LOOKAHEAD);

  constructor(counts: Uint8Array, values: Uint8Array) {
    this.values = values;
    let code = 0;
    let k = 0;
    for (let l = 1; l <= 16; l++) {
      const n = counts[l - 1];
      if (n) {
        this.valoffset[l] = k - code;
        for (let i = 0; i < n; i++) {
          if (l <= LOOKAHEAD) {
            const shift = LOOKAHEAD - l;
            const base = code << shift;
            const entry = (l << 8) | values[k];
            for (let j = 0; j < 1 << shift; j++) this.look[base + j] = entry;
          }
          code++;
          k++;
        }
        this.maxcode[l] = code - 1;
      } else {
        this.maxcode[l] = -1;
      }
      if (code > 1 << l) throw new JpegFormatError('invalid Huffman table (code space overflow)');
      code <<= 1;
    }
    this.maxcode[17] = 0x7fffffff;
    for (let peek = 0; peek < 1 << LOOKAHEAD; peek++) {
      const look = this.look[peek];
      if (look === 0) continue;
      const l = look >> 8;
      const sym = look & 0xff;
      const run = sym >> 4;
      const size = sym & 15;
      if (size === 0) {
        if (run === 0) this.fastAc[peek] = 0x80 | l;
        else if (run === 15) this.fastAc[peek] = (15 << 8) | 0x40 | l;
        continue;
      }
      if (l + size > LOOKAHEAD) continue;
      const bits = (peek >> (LOOKAHEAD - l - size)) & ((1 << size) - 1);
      const value = bits < 1 << (size - 1) ? bits - (1 << size) + 1 : bits;
      this.fastAc[peek] = (value << 16) | (run << 8) | (l + size);
    }
  }
}

interface Component {
  id: number;
  h: number;
  v: number;
  tq: number;
  blocksPerLine: number; // padded to whole MCUs
  blocksPerColumn: number;
  /** Blocks that cover the component's own (unpadded) size, for non-interleaved scans. */
  blocksWide: number;
  blocksHigh: number;
  width: number; // ceil(frameWidth * h / maxH)
  height: number;
  coefs: Int16Array; // blocksPerLine * blocksPerColumn * 64, natural order, not dequantised
  dcTable: HuffTable | undefined;
  acTable: HuffTable | undefined;
  pred: number;
}

/** Reads the frame header only (SOF), without decoding. Returns undefined if not a JPEG. */
export function readJpegHeader(data: Uint8Array): JpegHeader | undefined {
  if (data.length < 4 || data[0] !== 0xff || data[1] !== 0xd8) return undefined;
  let pos = 2;
  while (pos + 4 <= data.length) {
    if (data[pos] !== 0xff) {
      pos++;
      continue;
    }
    const marker = data[pos + 1];
    if (marker === 0xff) {
      pos++;
      continue;
    }
    pos += 2;
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue;
    if (marker === 0xd9 || pos + 2 > data.length) return undefined;
    const len = (data[pos] << 8) | data[pos + 1];
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (pos + 8 > data.length) return undefined;
      return {
        height: (data[pos + 3] << 8) | data[pos + 4],
        width: (data[pos + 5] << 8) | data[pos + 6],
        components: data[pos + 7],
        progressive: marker === 0xc2 || marker === 0xc6 || marker === 0xca || marker === 0xce,
      };
    }
    pos += len;
  }
  return undefined;
}

// ---- bit reader ----
class BitReader {
  data: Uint8Array = new Uint8Array(0);
  pos = 0;
  end = 0;
  buf = 0;
  cnt = 0;
  marker = false;
  /** Zero bytes fed after the data ended (at a marker): consuming them means truncated data. */
  zeros = 0;
  eobrun = 0;
  ss = 0;
  se = 0;
  ah = 0;
  al = 0;

  reset(data: Uint8Array, pos: number): void {
    this.data = data;
    this.pos = pos;
    this.end = data.length;
    this.buf = 0;
    this.cnt = 0;
    this.marker = false;
    this.zeros = 0;
    this.eobrun = 0;
  }

  /** Bits the decoder took from the zero bytes fed past the end of the segment. */
  overrun(): number {
    return Math.max(0, this.zeros * 8 - this.cnt);
  }

  fill(): void {
    const data = this.data;
    let buf = this.buf;
    let cnt = this.cnt;
    let pos = this.pos;
    while (cnt <= 24) {
      let byte = 0;
      if (!this.marker && pos < this.end) {
        byte = data[pos];
        if (byte === 0xff) {
          const next = pos + 1 < this.end ? data[pos + 1] : 0xd9;
          if (next === 0x00) {
            pos += 2;
          } else if (next === 0xff) {
            pos++; // fill byte before a marker
            continue;
          } else {
            this.marker = true;
            byte = 0;
            this.zeros++;
          }
        } else {
          pos++;
        }
      } else {
        this.marker = true; // past the end or at a marker: feed zeros
        this.zeros++;
      }
      buf = (buf << 8) | byte;
      cnt += 8;
    }
    this.buf = buf;
    this.cnt = cnt;
    this.pos = pos;
  }

  bits(n: number): number {
    if (this.cnt < n) this.fill();
    this.cnt -= n;
    return (this.buf >>> this.cnt) & ((1 << n) - 1);
  }

  bit(): number {
    if (this.cnt < 1) this.fill();
    this.cnt--;
    return (this.buf >>> this.cnt) & 1;
  }

  huff(t: HuffTable): number {
    if (this.cnt < 16) this.fill();
    const look = t.look[(this.buf >>> (this.cnt - LOOKAHEAD)) & ((1 << LOOKAHEAD) - 1)];
    if (look !== 0) {
      this.cnt -= look >> 8;
      return look & 0xff;
    }
    return this.huffSlow(t);
  }

  huffSlow(t: HuffTable): number {
    let l = LOOKAHEAD + 1;
    let code = (this.buf >>> (this.cnt - l)) & ((1 << l) - 1);
    while (l <= 16 && code > t.maxcode[l]) {
      l++;
      code = (this.buf >>> (this.cnt - l)) & ((1 << l) - 1);
    }
    if (l > 16) throw new JpegFormatError('corrupt Huffman data (no code matches)');
    this.cnt -= l;
    const idx = t.valoffset[l] + code;
    if (idx < 0 || idx >= t.values.length) throw new JpegFormatError('corrupt Huffman data (symbol out of range)');
    return t.values[idx];
  }

  /** Reads s bits and sign-extends them (JPEG's RECEIVE + EXTEND). */
  extend(s: number): number {
    if (s === 0) return 0;
    if (s > 16) throw new JpegFormatError('corrupt Huffman data (magnitude > 16 bits)');
    if (this.cnt < s) this.fill();
    this.cnt -= s;
    const v = (this.buf >>> this.cnt) & ((1 << s) - 1);
    return v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
  }
}

const br = new BitReader();

// ---- per-block decoders (coefficients stored in natural order, not dequantised) ----

function decodeBaseline(c: Component, off: number): void {
  const coefs = c.coefs;
  const t = br.huff(c.dcTable!);
  c.pred += t === 0 ? 0 : br.extend(t);
  coefs[off] = c.pred;
  const ac = c.acTable!;
  const fast = ac.fastAc;
  let k = 1;
  while (k < 64) {
    if (br.cnt < 16) br.fill();
    const fa = fast[(br.buf >>> (br.cnt - LOOKAHEAD)) & ((1 << LOOKAHEAD) - 1)];
    if (fa !== 0) {
      br.cnt -= fa & 0x1f;
      if ((fa & 0xc0) !== 0) {
        if ((fa & 0x80) !== 0) break; // end of block
        k += 16; // ZRL
        continue;
      }
      k += (fa >> 8) & 15;
      if (k > 63) throw new JpegFormatError('corrupt AC data (coefficient index > 63)');
      coefs[off + ZIGZAG[k]] = fa >> 16;
      k++;
      continue;
    }
    const rs = br.huff(ac);
    const s = rs & 15;
    const r = rs >> 4;
    if (s === 0) {
      if (r < 15) break;
      k += 16;
      continue;
    }
    k += r;
    if (k > 63) throw new JpegFormatError('corrupt AC data (coefficient index > 63)');
    coefs[off + ZIGZAG[k]] = br.extend(s);
    k++;
  }
}

function decodeDcFirst(c: Component, off: number): void {
  const t = br.huff(c.dcTable!);
  c.pred += t === 0 ? 0 : br.extend(t);
  c.coefs[off] = c.pred * (1 << br.al);
}

function decodeDcRefine(c: Component, off: number): void {
  if (br.bit()) c.coefs[off] |= 1 << br.al;
}

function decodeAcFirst(c: Component, off: number): void {
  if (br.eobrun > 0) {
    br.eobrun--;
    return;
  }
  const coefs = c.coefs;
  const ac = c.acTable!;
  let k = br.ss;
  while (k <= br.se) {
    const rs = br.huff(ac);
    const s = rs & 15;
    const r = rs >> 4;
    if (s === 0) {
      if (r < 15) {
        br.eobrun = (1 << r) - 1;
        if (r) br.eobrun += br.bits(r);
        break;
      }
      k += 16;
      continue;
    }
    k += r;
    if (k > 63) throw new JpegFormatError('corrupt AC data (coefficient index > 63)');
    coefs[off + ZIGZAG[k]] = br.extend(s) * (1 << br.al);
    k++;
  }
}

function decodeAcRefine(c: Component, off: number): void {
  // jdphuff.c decode_mcu_AC_refine
  const coefs = c.coefs;
  const p1 = 1 << br.al;
  const m1 = -1 << br.al;
  let k = br.ss;
  if (br.eobrun <= 0) {
    const ac = c.acTable!;
    for (; k <= br.se; ) {
      const rs = br.huff(ac);
      let r = rs >> 4;
      const s = rs & 15;
      let value = 0;
      if (s) {
        if (s !== 1) throw new JpegFormatError('corrupt progressive refinement (size != 1)');
        value = br.bit() ? p1 : m1;
      } else if (r !== 15) {
        br.eobrun = 1 << r;
        if (r) br.eobrun += br.bits(r);
        break;
      }
      // advance over already-nonzero coefficients, refining them, and r zero ones
      while (k <= br.se) {
        const z = off + ZIGZAG[k];
        if (coefs[z] !== 0) {
          if (br.bit()) {
            if ((coefs[z] & p1) === 0) coefs[z] += coefs[z] >= 0 ? p1 : m1;
          }
        } else {
          if (r === 0) {
            if (value !== 0) coefs[z] = value;
            k++;
            break;
          }
          r--;
        }
        k++;
      }
    }
  }
  if (br.eobrun > 0) {
    for (; k <= br.se; k++) {
      const z = off + ZIGZAG[k];
      if (coefs[z] !== 0) {
        if (br.bit()) {
          if ((coefs[z] & p1) === 0) coefs[z] += coefs[z] >= 0 ? p1 : m1;
        }
      }
    }
    br.eobrun--;
  }
}

// ---- inverse DCT: port of libjpeg's jpeg_idct_islow ----
const CONST_BITS = 13;
const PASS1_BITS = 2;
const FIX_0_298631336 = 2446;
const FIX_0_390180644 = 3196;
const FIX_0_541196100 = 4433;
const FIX_0_765366865 = 6270;
const FIX_0_899976223 = 7373;
const FIX_1_175875602 = 9633;
const FIX_1_501321110 = 12299;
const FIX_1_847759065 = 15137;
const FIX_1_961570560 = 16069;
const FIX_2_053119869 = 16819;
const FIX_2_562915447 = 20995;
const FIX_3_072711026 = 25172;

const ws = new Int32Array(64);

function idctBlock(coefs: Int16Array, off: number, q: Int32Array, out: Uint8Array, outOff: number, stride: number): void {
  // Pass 1: columns from input, store into work array (scaled up by 2^PASS1_BITS).
  for (let col = 0; col < 8; col++) {
    const i = off + col;
    const c1 = coefs[i + 8], c2 = coefs[i + 16], c3 = coefs[i + 24], c4 = coefs[i + 32];
    const c5 = coefs[i + 40], c6 = coefs[i + 48], c7 = coefs[i + 56];
    if ((c1 | c2 | c3 | c4 | c5 | c6 | c7) === 0) {
      const dc = (coefs[i] * q[col]) << PASS1_BITS;
      ws[col] = dc; ws[col + 8] = dc; ws[col + 16] = dc; ws[col + 24] = dc;
      ws[col + 32] = dc; ws[col + 40] = dc; ws[col + 48] = dc; ws[col + 56] = dc;
      continue;
    }
    // Even part
    let z2 = c2 * q[col + 16];
    let z3 = c6 * q[col + 48];
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 + z3 * -FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    z2 = coefs[i] * q[col];
    z3 = c4 * q[col + 32];
    let tmp0 = (z2 + z3) << CONST_BITS;
    let tmp1 = (z2 - z3) << CONST_BITS;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;
    // Odd part
    tmp0 = c7 * q[col + 56];
    tmp1 = c5 * q[col + 40];
    tmp2 = c3 * q[col + 24];
    tmp3 = c1 * q[col + 8];
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * FIX_1_175875602;
    tmp0 = tmp0 * FIX_0_298631336;
    tmp1 = tmp1 * FIX_2_053119869;
    tmp2 = tmp2 * FIX_3_072711026;
    tmp3 = tmp3 * FIX_1_501321110;
    z1 = z1 * -FIX_0_899976223;
    z2 = z2 * -FIX_2_562915447;
    z3 = z3 * -FIX_1_961570560 + z5;
    z4 = z4 * -FIX_0_390180644 + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    const sh = CONST_BITS - PASS1_BITS;
    const rnd = 1 << (sh - 1);
    ws[col] = (tmp10 + tmp3 + rnd) >> sh;
    ws[col + 56] = (tmp10 - tmp3 + rnd) >> sh;
    ws[col + 8] = (tmp11 + tmp2 + rnd) >> sh;
    ws[col + 48] = (tmp11 - tmp2 + rnd) >> sh;
    ws[col + 16] = (tmp12 + tmp1 + rnd) >> sh;
    ws[col + 40] = (tmp12 - tmp1 + rnd) >> sh;
    ws[col + 24] = (tmp13 + tmp0 + rnd) >> sh;
    ws[col + 32] = (tmp13 - tmp0 + rnd) >> sh;
  }
  // Pass 2: rows from work array, descale by 2^(CONST_BITS + PASS1_BITS + 3), add 128, clamp.
  const sh2 = CONST_BITS + PASS1_BITS + 3;
  const rnd2 = 1 << (sh2 - 1);
  for (let row = 0; row < 8; row++) {
    const w = row * 8;
    let o = outOff + row * stride;
    const w1 = ws[w + 1], w2 = ws[w + 2], w3 = ws[w + 3], w4 = ws[w + 4], w5 = ws[w + 5], w6 = ws[w + 6], w7 = ws[w + 7];
    if ((w1 | w2 | w3 | w4 | w5 | w6 | w7) === 0) {
      let v = ((ws[w] + (1 << (PASS1_BITS + 2))) >> (PASS1_BITS + 3)) + 128;
      v = v < 0 ? 0 : v > 255 ? 255 : v;
      out[o] = v; out[o + 1] = v; out[o + 2] = v; out[o + 3] = v;
      out[o + 4] = v; out[o + 5] = v; out[o + 6] = v; out[o + 7] = v;
      continue;
    }
    let z2 = w2;
    let z3 = w6;
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 + z3 * -FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    let tmp0 = (ws[w] + w4) << CONST_BITS;
    let tmp1 = (ws[w] - w4) << CONST_BITS;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;
    tmp0 = w7;
    tmp1 = w5;
    tmp2 = w3;
    tmp3 = w1;
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * FIX_1_175875602;
    tmp0 = tmp0 * FIX_0_298631336;
    tmp1 = tmp1 * FIX_2_053119869;
    tmp2 = tmp2 * FIX_3_072711026;
    tmp3 = tmp3 * FIX_1_501321110;
    z1 = z1 * -FIX_0_899976223;
    z2 = z2 * -FIX_2_562915447;
    z3 = z3 * -FIX_1_961570560 + z5;
    z4 = z4 * -FIX_0_390180644 + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    let v: number;
    v = ((tmp10 + tmp3 + rnd2) >> sh2) + 128; out[o] = v < 0 ? 0 : v > 255 ? 255 : v;
    v = ((tmp11 + tmp2 + rnd2) >> sh2) + 128; out[o + 1] = v < 0 ? 0 : v > 255 ? 255 : v;
    v = ((tmp12 + tmp1 + rnd2) >> sh2) + 128; out[o + 2] = v < 0 ? 0 : v > 255 ? 255 : v;
    v = ((tmp13 + tmp0 + rnd2) >> sh2) + 128; out[o + 3] = v < 0 ? 0 : v > 255 ? 255 : v;
    v = ((tmp13 - tmp0 + rnd2) >> sh2) + 128; out[o + 4] = v < 0 ? 0 : v > 255 ? 255 : v;
    v = ((tmp12 - tmp1 + rnd2) >> sh2) + 128; out[o + 5] = v < 0 ? 0 : v > 255 ? 255 : v;
    v = ((tmp11 - tmp2 + rnd2) >> sh2) + 128; out[o + 6] = v < 0 ? 0 : v > 255 ? 255 : v;
    v = ((tmp10 - tmp3 + rnd2) >> sh2) + 128; out[o + 7] = v < 0 ? 0 : v > 255 ? 255 : v;
    o += stride;
  }
}

// ---- float AAN inverse DCT (libjpeg jidctflt.c) ----
const AAN_SCALE = [1.0, 1.387039845, 1.306562965, 1.175875602, 1.0, 0.785694958, 0.5411961, 0.275899379];
const wsf = new Float64Array(64);

/** jpeg_idct_float: `mult` = quant * aanscale[row] * aanscale[col] / 8. */
function idctBlockFloat(coefs: Int16Array, off: number, mult: Float64Array, out: Uint8Array, outOff: number, stride: number): void {
  for (let col = 0; col < 8; col++) {
    const i = off + col;
    const c1 = coefs[i + 8], c2 = coefs[i + 16], c3 = coefs[i + 24], c4 = coefs[i + 32];
    const c5 = coefs[i + 40], c6 = coefs[i + 48], c7 = coefs[i + 56];
    if ((c1 | c2 | c3 | c4 | c5 | c6 | c7) === 0) {
      const dc = coefs[i] * mult[col];
      wsf[col] = dc; wsf[col + 8] = dc; wsf[col + 16] = dc; wsf[col + 24] = dc;
      wsf[col + 32] = dc; wsf[col + 40] = dc; wsf[col + 48] = dc; wsf[col + 56] = dc;
      continue;
    }
    let tmp0 = coefs[i] * mult[col];
    let tmp1 = c2 * mult[col + 16];
    let tmp2 = c4 * mult[col + 32];
    let tmp3 = c6 * mult[col + 48];
    let tmp10 = tmp0 + tmp2;
    let tmp11 = tmp0 - tmp2;
    let tmp13 = tmp1 + tmp3;
    let tmp12 = (tmp1 - tmp3) * 1.414213562 - tmp13;
    tmp0 = tmp10 + tmp13;
    tmp3 = tmp10 - tmp13;
    tmp1 = tmp11 + tmp12;
    tmp2 = tmp11 - tmp12;
    let tmp4 = c1 * mult[col + 8];
    let tmp5 = c3 * mult[col + 24];
    let tmp6 = c5 * mult[col + 40];
    let tmp7 = c7 * mult[col + 56];
    const z13 = tmp6 + tmp5;
    const z10 = tmp6 - tmp5;
    const z11 = tmp4 + tmp7;
    const z12 = tmp4 - tmp7;
    tmp7 = z11 + z13;
    tmp11 = (z11 - z13) * 1.414213562;
    const z5 = (z10 + z12) * 1.847759065;
    tmp10 = z5 - z12 * 1.0823922;
    tmp12 = z5 - z10 * 2.61312593;
    tmp6 = tmp12 - tmp7;
    tmp5 = tmp11 - tmp6;
    tmp4 = tmp10 - tmp5;
    wsf[col] = tmp0 + tmp7;
    wsf[col + 56] = tmp0 - tmp7;
    wsf[col + 8] = tmp1 + tmp6;
    wsf[col + 48] = tmp1 - tmp6;
    wsf[col + 16] = tmp2 + tmp5;
    wsf[col + 40] = tmp2 - tmp5;
    wsf[col + 24] = tmp3 + tmp4;
    wsf[col + 32] = tmp3 - tmp4;
  }
  for (let row = 0; row < 8; row++) {
    const w = row * 8;
    const o = outOff + row * stride;
    const z5c = wsf[w] + 128.5; // centre + rounding, as jidctflt
    if (wsf[w + 1] === 0 && wsf[w + 2] === 0 && wsf[w + 3] === 0 && wsf[w + 4] === 0 && wsf[w + 5] === 0 && wsf[w + 6] === 0 && wsf[w + 7] === 0) {
      const v = z5c < 0 ? 0 : z5c >= 255 ? 255 : z5c | 0;
      out[o] = v; out[o + 1] = v; out[o + 2] = v; out[o + 3] = v;
      out[o + 4] = v; out[o + 5] = v; out[o + 6] = v; out[o + 7] = v;
      continue;
    }
    let tmp10 = z5c + wsf[w + 4];
    let tmp11 = z5c - wsf[w + 4];
    let tmp13 = wsf[w + 2] + wsf[w + 6];
    let tmp12 = (wsf[w + 2] - wsf[w + 6]) * 1.414213562 - tmp13;
    let tmp0 = tmp10 + tmp13;
    let tmp3 = tmp10 - tmp13;
    let tmp1 = tmp11 + tmp12;
    let tmp2 = tmp11 - tmp12;
    const z13 = wsf[w + 5] + wsf[w + 3];
    const z10 = wsf[w + 5] - wsf[w + 3];
    const z11 = wsf[w + 1] + wsf[w + 7];
    const z12 = wsf[w + 1] - wsf[w + 7];
    let tmp7 = z11 + z13;
    tmp11 = (z11 - z13) * 1.414213562;
    const z5 = (z10 + z12) * 1.847759065;
    tmp10 = z5 - z12 * 1.0823922;
    tmp12 = z5 - z10 * 2.61312593;
    const tmp6 = tmp12 - tmp7;
    const tmp5 = tmp11 - tmp6;
    const tmp4 = tmp10 - tmp5;
    let v: number;
    v = tmp0 + tmp7; out[o] = v < 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = tmp0 - tmp7; out[o + 7] = v < 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = tmp1 + tmp6; out[o + 1] = v < 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = tmp1 - tmp6; out[o + 6] = v < 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = tmp2 + tmp5; out[o + 2] = v < 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = tmp2 - tmp5; out[o + 5] = v < 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = tmp3 + tmp4; out[o + 3] = v < 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = tmp3 - tmp4; out[o + 4] = v < 0 ? 0 : v >= 255 ? 255 : v | 0;
  }
}

// ---- colour conversion tables (jdcolor.c) ----
const CR_R = new Int32Array(256);
const CB_B = new Int32Array(256);
const CR_G = new Int32Array(256);
const CB_G = new Int32Array(256);
{
  const SCALEBITS = 16;
  const ONE_HALF = 1 << (SCALEBITS - 1);
  const FIX = (x: number) => Math.floor(x * (1 << SCALEBITS) + 0.5);
  for (let i = 0; i < 256; i++) {
    const x = i - 128;
    CR_R[i] = (FIX(1.402) * x + ONE_HALF) >> SCALEBITS;
    CB_B[i] = (FIX(1.772) * x + ONE_HALF) >> SCALEBITS;
    CR_G[i] = -FIX(0.71414) * x;
    CB_G[i] = -FIX(0.34414) * x + ONE_HALF;
  }
}

// ---- scratch buffers, grown on demand and reused across images ----
// A JpegImage borrows these: it is valid until the next parseJpeg call in the same thread.
let coefScratch = new Int16Array(0);
const planeScratch = new Map<number, Uint8Array>(); // key: ci * 16 + n
const upScratch: Uint8Array[] = [new Uint8Array(0), new Uint8Array(0), new Uint8Array(0)];
let generation = 0;

function scratchPlane(key: number, size: number): Uint8Array {
  let buf = planeScratch.get(key);
  if (!buf || buf.length < size) {
    buf = new Uint8Array(size);
    planeScratch.set(key, buf);
  }
  return buf;
}

function u16(d: Uint8Array, p: number): number {
  return (d[p] << 8) | d[p + 1];
}

export interface DecodeJpegOptions {
  /** Reject frames with more pixels than this (checked from the header). Default 2^28. */
  maxPixels?: number;
}

/**
 * Decodes a JPEG to HWC uint8, exactly as libjpeg-turbo's default path does. Throws
 * JpegUnsupportedError for features it does not handle (the caller should fall back to a
 * full decoder) and JpegFormatError for corrupt data.
 */
export function decodeJpeg(data: Uint8Array, options: DecodeJpegOptions = {}): DecodedJpeg {
  return parseJpeg(data, options).toPixels();
}

/**
 * Entropy-decodes a JPEG (all scans) and returns its coefficients, from which pixels are
 * rendered on demand: whole (`toPixels`) or block regions at DCT scale n/8 (`plane`). The
 * result borrows per-thread scratch memory and is valid until the next `parseJpeg` call.
 */
export function parseJpeg(data: Uint8Array, options: DecodeJpegOptions = {}): JpegImage {
  const maxPixels = options.maxPixels ?? 2 ** 28;
  if (data.length < 4 || data[0] !== 0xff || data[1] !== 0xd8) throw new JpegFormatError('not a JPEG (no SOI marker)');
  const qt: Int32Array[] = [];
  const dcTables: (HuffTable | undefined)[] = [];
  const acTables: (HuffTable | undefined)[] = [];
  let frame: Frame | undefined;
  let restartInterval = 0;
  let adobeTransform = -1;
  let jfif = false;
  let p = 2;
  let sawEoi = false;
  while (p < data.length && !sawEoi) {
    if (data[p] !== 0xff) {
      p++;
      continue;
    }
    const marker = data[p + 1];
    p += 2;
    if (marker === 0xff) {
      p--;
      continue;
    }
    if (marker === 0xd9) {
      sawEoi = true;
      break;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01 || marker === 0x00) continue;
    if (p + 2 > data.length) throw new JpegFormatError('truncated marker segment');
    const len = u16(data, p);
    const segEnd = p + len;
    if (len < 2 || segEnd > data.length) throw new JpegFormatError('truncated marker segment');
    switch (marker) {
      case 0xdb: {
        let q = p + 2;
        while (q < segEnd) {
          const pq = data[q] >> 4;
          const tq = data[q] & 15;
          q++;
          if (tq > 3) throw new JpegFormatError('bad DQT table id');
          const tbl = new Int32Array(64);
          for (let k = 0; k < 64; k++) {
            tbl[ZIGZAG[k]] = pq ? u16(data, q + 2 * k) : data[q + k];
          }
          q += pq ? 128 : 64;
          qt[tq] = tbl;
        }
        break;
      }
      case 0xc4: {
        let q = p + 2;
        while (q < segEnd) {
          const tc = data[q] >> 4;
          const th = data[q] & 15;
          if (th > 3 || tc > 1) throw new JpegFormatError('bad DHT table id');
          const counts = data.subarray(q + 1, q + 17);
          let total = 0;
          for (let i = 0; i < 16; i++) total += counts[i];
          if (q + 17 + total > segEnd) throw new JpegFormatError('truncated DHT');
          const values = data.slice(q + 17, q + 17 + total);
          const t = new HuffTable(counts, values);
          if (tc === 0) dcTables[th] = t;
          else acTables[th] = t;
          q += 17 + total;
        }
        break;
      }
      case 0xdd:
        restartInterval = u16(data, p + 2);
        break;
      case 0xe0:
        if (len >= 7 && data[p + 2] === 0x4a && data[p + 3] === 0x46 && data[p + 4] === 0x49 && data[p + 5] === 0x46) jfif = true;
        break;
      case 0xee:
        if (len >= 14 && data[p + 2] === 0x41 && data[p + 3] === 0x64 && data[p + 4] === 0x6f && data[p + 5] === 0x62 && data[p + 6] === 0x65) {
          adobeTransform = data[p + 13];
        }
        break;
      case 0xc0:
      case 0xc1:
      case 0xc2: {
        if (frame) throw new JpegUnsupportedError('more than one frame');
        const precision = data[p + 2];
        if (precision !== 8) throw new JpegUnsupportedError(`${precision}-bit samples`);
        const height = u16(data, p + 3);
        const width = u16(data, p + 5);
        const nc = data[p + 7];
        if (height === 0) throw new JpegUnsupportedError('DNL (height defined later)');
        if (width === 0) throw new JpegFormatError('zero width');
        if (width * height > maxPixels) throw new JpegFormatError(`image has ${width}x${height} pixels, more than the limit ${maxPixels}`);
        if (nc !== 1 && nc !== 3) throw new JpegUnsupportedError(`${nc} components`);
        const comps: Component[] = [];
        let maxH = 1;
        let maxV = 1;
        for (let i = 0; i < nc; i++) {
          const o = p + 8 + i * 3;
          const h = data[o + 1] >> 4;
          const v = data[o + 1] & 15;
          if (h < 1 || h > 4 || v < 1 || v > 4) throw new JpegFormatError('bad sampling factor');
          maxH = Math.max(maxH, h);
          maxV = Math.max(maxV, v);
          comps.push({ id: data[o], h, v, tq: data[o + 2], blocksPerLine: 0, blocksPerColumn: 0, blocksWide: 0, blocksHigh: 0, width: 0, height: 0, coefs: new Int16Array(0), dcTable: undefined, acTable: undefined, pred: 0 });
        }
        const mcusX = Math.ceil(width / (8 * maxH));
        const mcusY = Math.ceil(height / (8 * maxV));
        let total = 0;
        for (const c of comps) {
          if (maxH % c.h !== 0 || maxV % c.v !== 0) throw new JpegUnsupportedError('non-integral sampling ratio');
          c.width = Math.ceil((width * c.h) / maxH);
          c.height = Math.ceil((height * c.v) / maxV);
          c.blocksWide = Math.ceil(c.width / 8);
          c.blocksHigh = Math.ceil(c.height / 8);
          c.blocksPerLine = mcusX * c.h;
          c.blocksPerColumn = mcusY * c.v;
          total += c.blocksPerLine * c.blocksPerColumn * 64;
        }
        if (coefScratch.length < total) coefScratch = new Int16Array(total);
        else coefScratch.fill(0, 0, total);
        let o = 0;
        for (const c of comps) {
          const n = c.blocksPerLine * c.blocksPerColumn * 64;
          c.coefs = coefScratch.subarray(o, o + n);
          o += n;
        }
        frame = { width, height, progressive: marker === 0xc2, comps, maxH, maxV, mcusX, mcusY };
        break;
      }
      case 0xc3:
      case 0xc5:
      case 0xc6:
      case 0xc7:
      case 0xc9:
      case 0xca:
      case 0xcb:
      case 0xcd:
      case 0xce:
      case 0xcf:
        throw new JpegUnsupportedError(`SOF${marker - 0xc0} (lossless, hierarchical or arithmetic coding)`);
      case 0xda: {
        if (!frame) throw new JpegFormatError('SOS before SOF');
        const ns = data[p + 2];
        const scomps: Component[] = [];
        for (let i = 0; i < ns; i++) {
          const cid = data[p + 3 + i * 2];
          const tbl = data[p + 4 + i * 2];
          const c = frame.comps.find((x) => x.id === cid);
          if (!c) throw new JpegFormatError('SOS names an unknown component');
          c.dcTable = dcTables[tbl >> 4];
          c.acTable = acTables[tbl & 15];
          scomps.push(c);
        }
        const o = p + 3 + ns * 2;
        br.ss = data[o];
        br.se = data[o + 1];
        br.ah = data[o + 2] >> 4;
        br.al = data[o + 2] & 15;
        p = segEnd;
        p = decodeScan(data, p, frame, scomps, restartInterval);
        continue;
      }
      default:
        break; // APPn, COM, DHP, EXP...: skip
    }
    p = segEnd;
  }
  if (!frame) throw new JpegFormatError('no frame (SOF) found');
  if (!sawEoi && frame.progressive) {
    // progressive files must be complete: earlier scans only hold coarse coefficients
    throw new JpegFormatError('truncated progressive JPEG (no EOI marker)');
  }
  for (const c of frame.comps) if (!qt[c.tq]) throw new JpegFormatError('component uses an undefined quantisation table');
  let transform: 'gray' | 'ycc' | 'rgb' = 'ycc';
  const comps = frame.comps;
  if (comps.length === 1) transform = 'gray';
  else if (adobeTransform === 0) transform = 'rgb';
  else if (adobeTransform < 0 && !jfif && comps[0].id === 0x52 && comps[1].id === 0x47 && comps[2].id === 0x42) transform = 'rgb';
  return new JpegImage(frame, qt, transform);
}

function decodeScan(
  data: Uint8Array,
  start: number,
  frame: { progressive: boolean; comps: Component[]; mcusX: number; mcusY: number },
  scomps: Component[],
  restartInterval: number,
): number {
  br.reset(data, start);
  for (const c of scomps) c.pred = 0;
  let decodeFn: (c: Component, off: number) => void;
  if (!frame.progressive) {
    decodeFn = decodeBaseline;
    for (const c of scomps) if (!c.dcTable || !c.acTable) throw new JpegFormatError('scan uses an undefined Huffman table');
  } else if (br.ss === 0) {
    if (br.se !== 0) throw new JpegFormatError('progressive DC scan with Se != 0');
    decodeFn = br.ah === 0 ? decodeDcFirst : decodeDcRefine;
    if (br.ah === 0) for (const c of scomps) if (!c.dcTable) throw new JpegFormatError('scan uses an undefined Huffman table');
  } else {
    if (scomps.length !== 1) throw new JpegFormatError('progressive AC scan with more than one component');
    if (br.se > 63 || br.ss > br.se) throw new JpegFormatError('bad spectral selection');
    decodeFn = br.ah === 0 ? decodeAcFirst : decodeAcRefine;
    for (const c of scomps) if (!c.acTable) throw new JpegFormatError('scan uses an undefined Huffman table');
  }
  let mcusTotal: number;
  let single: Component | undefined;
  if (scomps.length === 1) {
    single = scomps[0];
    mcusTotal = single.blocksWide * single.blocksHigh;
  } else {
    mcusTotal = frame.mcusX * frame.mcusY;
  }
  const interval = restartInterval || mcusTotal;
  let mcu = 0;
  while (mcu < mcusTotal) {
    const stop = Math.min(mcu + interval, mcusTotal);
    for (; mcu < stop; mcu++) {
      if (single) {
        const row = (mcu / single.blocksWide) | 0;
        const col = mcu - row * single.blocksWide;
        decodeFn(single, (row * single.blocksPerLine + col) * 64);
      } else {
        const my = (mcu / frame.mcusX) | 0;
        const mx = mcu - my * frame.mcusX;
        for (let ci = 0; ci < scomps.length; ci++) {
          const c = scomps[ci];
          for (let v = 0; v < c.v; v++) {
            const rowBase = (my * c.v + v) * c.blocksPerLine + mx * c.h;
            for (let h = 0; h < c.h; h++) decodeFn(c, (rowBase + h) * 64);
          }
        }
      }
    }
    // Decoding went past the segment's data (libjpeg's "premature end of data"): the frame
    // header declares more blocks than the scan holds.
    if (br.overrun() > 0) throw new JpegFormatError('premature end of scan data (the frame header declares more blocks than the data holds)');
    if (mcu < mcusTotal) {
      // expect a restart marker: drop remaining bits, find RSTn
      let q = br.pos;
      while (q + 1 < data.length && !(data[q] === 0xff && data[q + 1] >= 0xd0 && data[q + 1] <= 0xd7)) q++;
      if (q + 1 >= data.length) throw new JpegFormatError('truncated data (missing restart marker)');
      br.reset(data, q + 2);
      for (const c of scomps) c.pred = 0;
      br.eobrun = 0;
    }
  }
  // Skip to the next marker after the entropy-coded segment.
  let q = br.pos;
  const end = data.length;
  while (q + 1 < end && !(data[q] === 0xff && data[q + 1] !== 0x00 && !(data[q + 1] >= 0xd0 && data[q + 1] <= 0xd7))) q++;
  if (q + 1 >= end) throw new JpegFormatError('truncated data (entropy-coded segment runs to end of file)');
  // More than a few bytes of entropy data left over (libjpeg's "extraneous bytes" warning):
  // the frame header declares a smaller image than the scan holds.
  if (q - br.pos > 8) throw new JpegFormatError(`${q - br.pos} extraneous bytes after the scan (the frame header disagrees with the data)`);
  br.data = new Uint8Array(0);
  return q;
}

type Frame = { width: number; height: number; progressive: boolean; comps: Component[]; maxH: number; maxV: number; mcusX: number; mcusY: number };

/** A rendered component plane at some DCT scale. Only requested regions are valid. */
export interface JpegPlane {
  data: Uint8Array;
  stride: number;
  /** Valid size of the plane at this scale: ceil(componentSize * n / 8). */
  width: number;
  height: number;
}

export class JpegImage {
  readonly width: number;
  readonly height: number;
  /** 'gray' (1 component), 'ycc' (JFIF YCbCr) or 'rgb' (Adobe transform 0 / R,G,B ids). */
  readonly colorModel: 'gray' | 'ycc' | 'rgb';
  readonly numComponents: number;
  private readonly frame: Frame;
  private readonly qt: Int32Array[];
  private readonly gen: number;
  private readonly rendered = new Map<number, Uint8Array>(); // per (ci, n): 1 per rendered block
  private readonly floatTables: Float64Array[] = [];

  constructor(frame: Frame, qt: Int32Array[], colorModel: 'gray' | 'ycc' | 'rgb') {
    this.frame = frame;
    this.qt = qt;
    this.width = frame.width;
    this.height = frame.height;
    this.colorModel = colorModel;
    this.numComponents = frame.comps.length;
    this.gen = ++generation;
  }

  private check(): void {
    if (this.gen !== generation) throw new Error('JpegImage used after the next parseJpeg call (its scratch memory was reused)');
  }

  private floatTable(tq: number): Float64Array {
    let t = this.floatTables[tq];
    if (!t) {
      t = new Float64Array(64);
      const q = this.qt[tq];
      for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) t[r * 8 + c] = q[r * 8 + c] * AAN_SCALE[r] * AAN_SCALE[c] * 0.125;
      this.floatTables[tq] = t;
    }
    return t;
  }

  private readonly tables4: Float64Array[] = [];

  /** Dequantisation for idct4x4: q[v][u] for the low 4 x 4 coefficients. */
  private table4(tq: number): Float64Array {
    let t = this.tables4[tq];
    if (!t) {
      t = new Float64Array(16);
      const q = this.qt[tq];
      for (let v = 0; v < 4; v++) for (let u = 0; u < 4; u++) t[v * 4 + u] = q[v * 8 + u];
      this.tables4[tq] = t;
    }
    return t;
  }

  private readonly tables6: Float64Array[] = [];

  /** Dequantisation for idct6x6: q[v][u] for the low 6 x 6 coefficients. */
  private table6(tq: number): Float64Array {
    let t = this.tables6[tq];
    if (!t) {
      t = new Float64Array(36);
      const q = this.qt[tq];
      for (let v = 0; v < 6; v++) for (let u = 0; u < 6; u++) t[v * 6 + u] = q[v * 8 + u];
      this.tables6[tq] = t;
    }
    return t;
  }

  /** Sampling of component ci relative to full resolution: [h / maxH, v / maxV]. */
  sampling(ci: number): [number, number] {
    const c = this.frame.comps[ci];
    return [c.h / this.frame.maxH, c.v / this.frame.maxV];
  }

  /**
   * Renders the blocks of component `ci` that cover the full-resolution rectangle
   * [x0, x1) x [y0, y1) at DCT scale n/8 (n = 8: exact islow IDCT; n = 1..7: an n-point IDCT
   * of the low n x n coefficients - libjpeg's scaled decoding, a downscale by 8/n in the DCT
   * domain). `fast` uses the float AAN IDCT (jidctflt) at n = 8 instead of islow: about a
   * third fewer operations, and within one level of islow.
   */
  plane(ci: number, n: number, x0: number, y0: number, x1: number, y1: number, fast = false): JpegPlane {
    this.check();
    if (!(Number.isInteger(n) && n >= 1 && n <= 8)) throw new RangeError(`JpegImage.plane: scale n must be an integer in 1..8, got ${n}`);
    const c = this.frame.comps[ci];
    const key = ci * 32 + n + (fast && n === 8 ? 16 : 0);
    const stride = c.blocksPerLine * n;
    const data = scratchPlane(key, stride * c.blocksPerColumn * n);
    let done = this.rendered.get(key);
    if (!done) {
      done = new Uint8Array(c.blocksPerLine * c.blocksPerColumn);
      this.rendered.set(key, done);
    }
    const sx = c.h / this.frame.maxH;
    const sy = c.v / this.frame.maxV;
    const bx0 = Math.max(0, Math.floor((x0 * sx) / 8));
    const by0 = Math.max(0, Math.floor((y0 * sy) / 8));
    const bx1 = Math.min(c.blocksWide, Math.ceil((x1 * sx) / 8));
    const by1 = Math.min(c.blocksHigh, Math.ceil((y1 * sy) / 8));
    const q = this.qt[c.tq];
    for (let by = by0; by < by1; by++) {
      for (let bx = bx0; bx < bx1; bx++) {
        const b = by * c.blocksPerLine + bx;
        if (done[b]) continue;
        done[b] = 1;
        const outOff = by * n * stride + bx * n;
        if (n === 4) idct4x4(c.coefs, b * 64, this.table4(c.tq), data, outOff, stride);
        else if (n === 6) idct6x6(c.coefs, b * 64, this.table6(c.tq), data, outOff, stride);
        else if (n !== 8) idctScaled(c.coefs, b * 64, q, data, outOff, stride, n);
        else if (fast) idctBlockFloat(c.coefs, b * 64, this.floatTable(c.tq), data, outOff, stride);
        else idctBlock(c.coefs, b * 64, q, data, outOff, stride);
      }
    }
    return { data, stride, width: Math.ceil((c.width * n) / 8), height: Math.ceil((c.height * n) / 8) };
  }

  /** Full decode, identical to libjpeg-turbo's default output (fancy upsampling, islow IDCT). */
  toPixels(): DecodedJpeg {
    this.check();
    const { width, height, comps, maxH, maxV } = this.frame;
    const planes: JpegPlane[] = [];
    for (let ci = 0; ci < comps.length; ci++) planes.push(this.plane(ci, 8, 0, 0, width, height));
    if (comps.length === 1) {
      const out = new Uint8Array(width * height);
      const { data, stride } = planes[0];
      for (let y = 0; y < height; y++) out.set(data.subarray(y * stride, y * stride + width), y * width);
      return { width, height, channels: 1, pixels: out };
    }
    const full: { data: Uint8Array; stride: number }[] = [];
    for (let ci = 0; ci < 3; ci++) {
      const { data, stride } = planes[ci];
      const c = comps[ci];
      const fx = maxH / c.h;
      const fy = maxV / c.v;
      if (fx === 1 && fy === 1) {
        full.push({ data, stride });
        continue;
      }
      const size = width * height;
      if (upScratch[ci].length < size) upScratch[ci] = new Uint8Array(size);
      const out = upScratch[ci];
      upsample(data, stride, c.width, c.height, out, width, width, height, fx, fy);
      full.push({ data: out, stride: width });
    }
    const out = new Uint8Array(width * height * 3);
    if (this.colorModel === 'ycc') yccToRgb(full[0].data, full[0].stride, full[1].data, full[1].stride, full[2].data, full[2].stride, out, width, height);
    else interleave(full[0].data, full[0].stride, full[1].data, full[1].stride, full[2].data, full[2].stride, out, width, height);
    return { width, height, channels: 3, pixels: out };
  }
}

// Scaled IDCT matrices: M_n[x * n + u] = (C_u / 2) cos((2x + 1) u pi / (2n)), C_0 = 1/sqrt(2).
// Sampling the block's continuous cosine interpolant at n points, from its n lowest
// frequencies: out = M F M^T + 128, with the same normalisation as the 8-point IDCT.
const SCALED: Float64Array[] = [];
for (let n = 1; n <= 8; n++) {
  const m = new Float64Array(n * n);
  for (let x = 0; x < n; x++) {
    for (let u = 0; u < n; u++) m[x * n + u] = ((u === 0 ? Math.SQRT1_2 : 1) / 2) * Math.cos(((2 * x + 1) * u * Math.PI) / (2 * n));
  }
  SCALED[n] = m;
}
const scaledTmp = new Float64Array(64);
const scaledRow = new Float64Array(8);
const rowUsed = new Uint8Array(8);

// 4-point IDCT butterfly: f(x) = sum_u (C_u / 2) F(u) cos((2x + 1) u pi / 8)
const K0 = 0.35355339059327373; // cos(pi/4) / 2 = (C_0 / 2) = (1/2) cos(2 pi / 8)
const K1 = 0.46193976625564337; // cos(pi/8) / 2
const K3 = 0.19134171618254492; // cos(3 pi/8) / 2
const ws4 = new Float64Array(16);

/** The n = 4 scaled IDCT, unrolled (same result as idctScaled(..., 4) up to rounding). */
function idct4x4(coefs: Int16Array, off: number, q: Float64Array, out: Uint8Array, outOff: number, stride: number): void {
  // columns u = 0..3 over coefficient rows v = 0..3
  for (let u = 0; u < 4; u++) {
    const f0 = coefs[off + u] * q[u];
    const f1 = coefs[off + 8 + u] * q[4 + u];
    const f2 = coefs[off + 16 + u] * q[8 + u];
    const f3 = coefs[off + 24 + u] * q[12 + u];
    const e0 = K0 * (f0 + f2);
    const e1 = K0 * (f0 - f2);
    const o0 = K1 * f1 + K3 * f3;
    const o1 = K3 * f1 - K1 * f3;
    ws4[u] = e0 + o0;
    ws4[12 + u] = e0 - o0;
    ws4[4 + u] = e1 + o1;
    ws4[8 + u] = e1 - o1;
  }
  for (let y = 0; y < 4; y++) {
    const w = y * 4;
    const f0 = ws4[w];
    const f1 = ws4[w + 1];
    const f2 = ws4[w + 2];
    const f3 = ws4[w + 3];
    const e0 = K0 * (f0 + f2) + 128.5;
    const e1 = K0 * (f0 - f2) + 128.5;
    const o0 = K1 * f1 + K3 * f3;
    const o1 = K3 * f1 - K1 * f3;
    const o = outOff + y * stride;
    let v: number;
    v = e0 + o0; out[o] = v < 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = e1 + o1; out[o + 1] = v < 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = e1 - o1; out[o + 2] = v < 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = e0 - o0; out[o + 3] = v < 0 ? 0 : v >= 255 ? 255 : v | 0;
  }
}

// 6-point IDCT: f(x) = sum_{u<6} (C_u / 2) F(u) cos((2x + 1) u pi / 12); f(5 - x) mirrors
// the even part and negates the odd part.
const S6A = 0.4330127018922193; // cos(pi/6) / 2
const S6B = 0.48296291314453416; // cos(pi/12) / 2
const S6C = 0.12940952255126037; // cos(5 pi/12) / 2
const ws6 = new Float64Array(36);

/** The n = 6 scaled IDCT, unrolled (same result as idctScaled(..., 6) up to rounding). */
function idct6x6(coefs: Int16Array, off: number, q: Float64Array, out: Uint8Array, outOff: number, stride: number): void {
  for (let u = 0; u < 6; u++) {
    const f0 = coefs[off + u] * q[u];
    const f1 = coefs[off + 8 + u] * q[6 + u];
    const f2 = coefs[off + 16 + u] * q[12 + u];
    const f3 = coefs[off + 24 + u] * q[18 + u];
    const f4 = coefs[off + 32 + u] * q[24 + u];
    const f5 = coefs[off + 40 + u] * q[30 + u];
    const a = K0 * f0;
    const t = a + 0.25 * f4;
    const e0 = t + S6A * f2;
    const e2 = t - S6A * f2;
    const e1 = a - 0.5 * f4;
    const o0 = S6B * f1 + K0 * f3 + S6C * f5;
    const o1 = K0 * (f1 - f3 - f5);
    const o2 = S6C * f1 - K0 * f3 + S6B * f5;
    ws6[u] = e0 + o0;
    ws6[30 + u] = e0 - o0;
    ws6[6 + u] = e1 + o1;
    ws6[24 + u] = e1 - o1;
    ws6[12 + u] = e2 + o2;
    ws6[18 + u] = e2 - o2;
  }
  for (let y = 0; y < 6; y++) {
    const w = y * 6;
    const f0 = ws6[w], f1 = ws6[w + 1], f2 = ws6[w + 2], f3 = ws6[w + 3], f4 = ws6[w + 4], f5 = ws6[w + 5];
    const a = K0 * f0 + 128.5;
    const t = a + 0.25 * f4;
    const e0 = t + S6A * f2;
    const e2 = t - S6A * f2;
    const e1 = a - 0.5 * f4;
    const o0 = S6B * f1 + K0 * f3 + S6C * f5;
    const o1 = K0 * (f1 - f3 - f5);
    const o2 = S6C * f1 - K0 * f3 + S6B * f5;
    const o = outOff + y * stride;
    let v: number;
    v = e0 + o0; out[o] = v < 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = e1 + o1; out[o + 1] = v < 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = e2 + o2; out[o + 2] = v < 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = e2 - o2; out[o + 3] = v < 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = e1 - o1; out[o + 4] = v < 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = e0 - o0; out[o + 5] = v < 0 ? 0 : v >= 255 ? 255 : v | 0;
  }
}

/** Reduced n x n IDCT (n = 1..7) from the low-frequency n x n coefficients; skips zero rows. */
function idctScaled(coefs: Int16Array, off: number, q: Int32Array, out: Uint8Array, outOff: number, stride: number, n: number): void {
  if (n === 1) {
    const v = Math.round((coefs[off] * q[0]) / 8) + 128;
    out[outOff] = v < 0 ? 0 : v > 255 ? 255 : v;
    return;
  }
  const m = SCALED[n];
  const tmp = scaledTmp;
  const row = scaledRow;
  // pass 1 (rows of coefficients): tmp[v * n + x] = sum_u M[x, u] F[v, u]
  for (let v = 0; v < n; v++) {
    const rb = off + v * 8;
    let any = 0;
    for (let u = 0; u < n; u++) {
      const c = coefs[rb + u];
      any |= c;
      row[u] = c * q[v * 8 + u];
    }
    rowUsed[v] = any !== 0 ? 1 : 0;
    if (any === 0) continue;
    for (let x = 0; x < n; x++) {
      let a = 0;
      const mb = x * n;
      for (let u = 0; u < n; u++) a += m[mb + u] * row[u];
      tmp[v * n + x] = a;
    }
  }
  // pass 2 (columns): out[y, x] = sum_v M[y, v] tmp[v, x] + 128
  for (let y = 0; y < n; y++) {
    const o = outOff + y * stride;
    const mb = y * n;
    for (let x = 0; x < n; x++) {
      let a = 0;
      for (let v = 0; v < n; v++) if (rowUsed[v] !== 0) a += m[mb + v] * tmp[v * n + x];
      const r = Math.round(a) + 128;
      out[o + x] = r < 0 ? 0 : r > 255 ? 255 : r;
    }
  }
}

/** Planar Y, Cb, Cr (n samples each) -> interleaved RGB with libjpeg's tables. */
export function yccToRgbPlanar(y: Uint8Array, cb: Uint8Array, cr: Uint8Array, out: Uint8Array, n: number): void {
  for (let i = 0, o = 0; i < n; i++, o += 3) {
    const yy = y[i];
    const b = cb[i];
    const r = cr[i];
    const R = yy + CR_R[r];
    const G = yy + ((CB_G[b] + CR_G[r]) >> 16);
    const B = yy + CB_B[b];
    out[o] = R < 0 ? 0 : R > 255 ? 255 : R;
    out[o + 1] = G < 0 ? 0 : G > 255 ? 255 : G;
    out[o + 2] = B < 0 ? 0 : B > 255 ? 255 : B;
  }
}

/** Converts one YCbCr pixel triple with libjpeg's tables; writes RGB at out[o..o+2]. */
export function yccPixel(yy: number, cb: number, cr: number, out: Uint8Array, o: number): void {
  const r = yy + CR_R[cr];
  const g = yy + ((CB_G[cb] + CR_G[cr]) >> 16);
  const b = yy + CB_B[cb];
  out[o] = r < 0 ? 0 : r > 255 ? 255 : r;
  out[o + 1] = g < 0 ? 0 : g > 255 ? 255 : g;
  out[o + 2] = b < 0 ? 0 : b > 255 ? 255 : b;
}

export function yccToRgb(
  d0: Uint8Array, s0: number, d1: Uint8Array, s1: number, d2: Uint8Array, s2: number,
  out: Uint8Array, width: number, height: number,
): void {
  let o = 0;
  for (let y = 0; y < height; y++) {
    let i0 = y * s0;
    let i1 = y * s1;
    let i2 = y * s2;
    for (let x = 0; x < width; x++) {
      const yy = d0[i0++];
      const cb = d1[i1++];
      const cr = d2[i2++];
      const r = yy + CR_R[cr];
      const g = yy + ((CB_G[cb] + CR_G[cr]) >> 16);
      const b = yy + CB_B[cb];
      out[o++] = r < 0 ? 0 : r > 255 ? 255 : r;
      out[o++] = g < 0 ? 0 : g > 255 ? 255 : g;
      out[o++] = b < 0 ? 0 : b > 255 ? 255 : b;
    }
  }
}

export function interleave(
  d0: Uint8Array, s0: number, d1: Uint8Array, s1: number, d2: Uint8Array, s2: number,
  out: Uint8Array, width: number, height: number,
): void {
  let o = 0;
  for (let y = 0; y < height; y++) {
    let i0 = y * s0;
    let i1 = y * s1;
    let i2 = y * s2;
    for (let x = 0; x < width; x++) {
      out[o++] = d0[i0++];
      out[o++] = d1[i1++];
      out[o++] = d2[i2++];
    }
  }
}

/**
 * Upsamples a chroma plane by integral factors (fx, fy). h2v1, h1v2 and h2v2 use
 * libjpeg-turbo's "fancy" triangle filters; other ratios replicate samples.
 */
function upsample(
  src: Uint8Array, sstride: number, sw: number, sh: number,
  out: Uint8Array, ostride: number, ow: number, oh: number,
  fx: number, fy: number,
): void {
  // libjpeg works on the component's downsampled width; output columns beyond ow are dropped.
  if (fx === 2 && fy === 2 && sw > 2) {
    for (let oy = 0; oy < oh; oy++) {
      const sy = oy >> 1;
      const nearRow = sy * sstride;
      // upper output row of the pair uses the row above, lower uses the row below
      let ny = (oy & 1) === 0 ? sy - 1 : sy + 1;
      if (ny < 0) ny = 0;
      if (ny >= sh) ny = sh - 1;
      const farRow = ny * sstride;
      let o = oy * ostride;
      let thiscolsum = src[nearRow] * 3 + src[farRow];
      let nextcolsum = src[nearRow + 1] * 3 + src[farRow + 1];
      let lastcolsum = thiscolsum;
      out[o++] = (thiscolsum * 4 + 8) >> 4;
      if (o - oy * ostride < ow) out[o++] = (thiscolsum * 3 + nextcolsum + 7) >> 4;
      for (let x = 1; x < sw - 1; x++) {
        lastcolsum = thiscolsum;
        thiscolsum = nextcolsum;
        nextcolsum = src[nearRow + x + 1] * 3 + src[farRow + x + 1];
        const ox = 2 * x;
        if (ox < ow) out[oy * ostride + ox] = (thiscolsum * 3 + lastcolsum + 8) >> 4;
        if (ox + 1 < ow) out[oy * ostride + ox + 1] = (thiscolsum * 3 + nextcolsum + 7) >> 4;
      }
      lastcolsum = thiscolsum;
      thiscolsum = nextcolsum;
      const ox = 2 * (sw - 1);
      if (ox < ow) out[oy * ostride + ox] = (thiscolsum * 3 + lastcolsum + 8) >> 4;
      if (ox + 1 < ow) out[oy * ostride + ox + 1] = (thiscolsum * 4 + 7) >> 4;
    }
    return;
  }
  if (fx === 2 && fy === 1 && sw > 2) {
    for (let oy = 0; oy < oh; oy++) {
      const r = oy * sstride;
      const o = oy * ostride;
      let inv = src[r];
      out[o] = inv;
      if (1 < ow) out[o + 1] = (inv * 3 + src[r + 1] + 2) >> 2;
      for (let x = 1; x < sw - 1; x++) {
        inv = src[r + x] * 3;
        const ox = 2 * x;
        if (ox < ow) out[o + ox] = (inv + src[r + x - 1] + 1) >> 2;
        if (ox + 1 < ow) out[o + ox + 1] = (inv + src[r + x + 1] + 2) >> 2;
      }
      const x = sw - 1;
      const ox = 2 * x;
      if (ox < ow) out[o + ox] = (src[r + x] * 3 + src[r + x - 1] + 1) >> 2;
      if (ox + 1 < ow) out[o + ox + 1] = src[r + x];
    }
    return;
  }
  if (fx === 1 && fy === 2) {
    for (let oy = 0; oy < oh; oy++) {
      const sy = oy >> 1;
      let ny = (oy & 1) === 0 ? sy - 1 : sy + 1;
      if (ny < 0) ny = 0;
      if (ny >= sh) ny = sh - 1;
      const near = sy * sstride;
      const far = ny * sstride;
      const bias = (oy & 1) === 0 ? 1 : 2;
      const o = oy * ostride;
      for (let x = 0; x < ow; x++) out[o + x] = (src[near + x] * 3 + src[far + x] + bias) >> 2;
    }
    return;
  }
  for (let oy = 0; oy < oh; oy++) {
    const r = ((oy / fy) | 0) * sstride;
    const o = oy * ostride;
    for (let x = 0; x < ow; x++) out[o + x] = src[r + ((x / fx) | 0)];
  }
}
