// Native augmentation kernels for the data plane (src/augment/nativeAugment.ts loads them).
//
// Every kernel here is bit-identical to its TypeScript counterpart in src/augment/ (resample.ts,
// color.ts, filters.ts, geometry.ts), so that a view does not depend on whether the addon is
// present; test/augment/nativeAugment.test.ts checks that on random images. The float
// arithmetic copies the TypeScript (double where JS computes in double, float where it calls
// Math.fround), and FMA contraction is switched off for this file: a fused multiply-add rounds
// once where JavaScript rounds twice.
//
// JPEG decoding goes through the system's libjpeg-turbo (the library PIL links; -DCS_NO_JPEG leaves it out), loaded with
// dlopen at first use: the addon never gains a link-time dependency, and without libjpeg (or
// without its header at build time) jpegDecode reports itself unavailable and contrastream
// falls back to its TypeScript decoder.
//
// All functions are reentrant (no shared mutable state besides the one-time dlopen), because
// the addon is loaded by every augmentation worker thread.
#pragma GCC optimize("fp-contract=off")

#include <node_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#if defined(__AVX512F__) && defined(__AVX512VL__) && defined(__AVX512BW__)
#include <immintrin.h>
#define CS_AUG_AVX512 1
#endif

#if defined(__has_include)
#if __has_include(<jpeglib.h>) && __has_include(<dlfcn.h>) && !defined(CS_NO_JPEG)
#define CS_HAVE_JPEG 1
#include <csetjmp>
#include <dlfcn.h>
#include <jpeglib.h>
#include <jerror.h>  // JWRN_* message codes
#endif
#endif

namespace {

// ---------------------------------------------------------------------------------------------
// Argument helpers

struct A {
  napi_env env;
  size_t argc = 16;
  napi_value argv[16];
  bool ok = true;
  std::string err;
  A(napi_env e, napi_callback_info info) : env(e) { napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr); }
  bool fail(const std::string& m) {
    if (ok) err = m;
    ok = false;
    return false;
  }
  double num(size_t i) {
    double v = 0;
    if (i >= argc || napi_get_value_double(env, argv[i], &v) != napi_ok) fail("argument " + std::to_string(i) + " must be a number");
    return v;
  }
  long integer(size_t i) { return (long)num(i); }
  // Typed array of the expected type with at least `need` elements.
  template <typename T>
  T* arr(size_t i, napi_typedarray_type want, double need, const char* what) {
    if (!ok) return nullptr;
    bool is = false;
    if (i >= argc || napi_is_typedarray(env, argv[i], &is) != napi_ok || !is) {
      fail(std::string(what) + " must be a typed array");
      return nullptr;
    }
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    napi_get_typedarray_info(env, argv[i], &type, &length, &data, nullptr, nullptr);
    if (type != want) {
      fail(std::string(what) + " has the wrong element type");
      return nullptr;
    }
    if (need < 0 || (double)length < need) {
      fail(std::string(what) + " is too short: " + std::to_string(length) + " elements, needs " + std::to_string((long long)need));
      return nullptr;
    }
    return static_cast<T*>(data);
  }
  napi_value done() {
    if (!ok) napi_throw_range_error(env, nullptr, ("contrastream native augment: " + err).c_str());
    return nullptr;
  }
};

// JavaScript's Math.round: nearest, ties toward +infinity.
inline double js_round(double x) {
  double f = std::floor(x);
  return (x - f >= 0.5) ? f + 1.0 : f;
}

inline uint8_t clip8(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

// ---------------------------------------------------------------------------------------------
// Antialiased bilinear resampling (resample.ts, bit-identical)

constexpr int WBITS = 14, XBITS = 7, ONE = 1 << WBITS;
constexpr int HR = 1 << (XBITS - 1), HS = WBITS - XBITS, SHIFT = WBITS + XBITS, HALF = 1 << (SHIFT - 1);

struct Coeffs {
  std::vector<int32_t> start, count, weights;
  int maxTaps = 0;
  long first = 0, last = 0;
};

void coefficients(double in0, double in1, long lo, long hi, int outSize, Coeffs& c) {
  const double scale = (in1 - in0) / outSize;
  const double filterscale = std::max(scale, 1.0);
  const double support = filterscale;
  const int maxTaps = (int)std::ceil(support) * 2 + 1;
  c.maxTaps = maxTaps;
  c.start.assign(outSize, 0);
  c.count.assign(outSize, 0);
  c.weights.assign((size_t)outSize * maxTaps, 0);
  std::vector<double> wf(maxTaps);
  const double ss = 1 / filterscale;
  long first = hi, last = lo;
  for (int x = 0; x < outSize; x++) {
    const double center = in0 + (x + 0.5) * scale;
    long xmin = (long)std::floor(center - support + 0.5);
    if (xmin < lo) xmin = lo;
    long xmax = (long)std::floor(center + support + 0.5);
    if (xmax > hi) xmax = hi;
    long n = xmax - xmin;
    if (n < 1) {
      xmin = std::min(std::max((long)std::floor(center), lo), hi - 1);
      n = 1;
    }
    double total = 0;
    for (long k = 0; k < n; k++) {
      const double t = std::fabs((k + xmin - center + 0.5) * ss);
      const double w = t < 1 ? 1 - t : 0;
      wf[k] = w;
      total += w;
    }
    long k0 = 0, k1 = n;
    if (total > 0) {
      while (k0 < k1 - 1 && wf[k0] == 0) k0++;
      while (k1 - 1 > k0 && wf[k1 - 1] == 0) k1--;
    }
    int32_t* W = &c.weights[(size_t)x * maxTaps];
    int sum = 0;
    long big = 0;
    for (long k = k0; k < k1; k++) {
      const int q = (int)(total > 0 ? js_round((wf[k] / total) * ONE) : js_round((double)ONE / n));
      W[k - k0] = q;
      sum += q;
      if (q > W[big]) big = k - k0;
    }
    W[big] += ONE - sum;
    c.start[x] = (int32_t)(xmin + k0);
    c.count[x] = (int32_t)(k1 - k0);
    if (xmin + k0 < first) first = xmin + k0;
    if (xmin + k1 > last) last = xmin + k1;
  }
  c.first = first;
  c.last = last;
}

// Rows y0 .. y0 + rows - 1 of the vertical pass into tmp (rows x rowLen).
template <typename T>
void vertical(const uint8_t* src, long stride, long colStart, long rowLen, const Coeffs& cy, int rows, T* tmp, int y0 = 0) {
  for (int y = y0; y < y0 + rows; y++) {
    const int n = cy.count[y];
    const int32_t* W = &cy.weights[(size_t)y * cy.maxTaps];
    T* t = tmp + (size_t)(y - y0) * rowLen;
    const uint8_t* s = src + (size_t)cy.start[y] * stride + colStart;
    if (n == 1) {
      for (long i = 0; i < rowLen; i++) t[i] = (int32_t)s[i] << XBITS;
    } else if (n == 2) {
      const int32_t w0 = W[0], w1 = W[1];
      const uint8_t* s1 = s + stride;
      for (long i = 0; i < rowLen; i++) t[i] = (s[i] * w0 + s1[i] * w1 + HR) >> HS;
    } else if (n == 3) {
      const int32_t w0 = W[0], w1 = W[1], w2 = W[2];
      const uint8_t *s1 = s + stride, *s2 = s1 + stride;
      for (long i = 0; i < rowLen; i++) t[i] = (s[i] * w0 + s1[i] * w1 + s2[i] * w2 + HR) >> HS;
    } else {
      // blocks of 256 columns: the int32 sums stay in registers / L1
      for (long i0 = 0; i0 < rowLen; i0 += 256) {
        const long m = std::min(256L, rowLen - i0);
        int32_t acc[256];
        for (long i = 0; i < m; i++) acc[i] = HR;
        for (int k = 0; k < n; k++) {
          const int32_t w = W[k];
          const uint8_t* r = s + (size_t)k * stride + i0;
          for (long i = 0; i < m; i++) acc[i] += r[i] * w;
        }
        for (long i = 0; i < m; i++) t[i0 + i] = (T)(acc[i] >> HS);
      }
    }
  }
}

template <int C>
void horizontal(const int32_t* tmp, long rowLen, const Coeffs& cx, int outW, int outH, int channels, uint8_t* out) {
  const int ch = C > 0 ? C : channels;
  const long c0 = cx.first * ch;
  for (int y = 0; y < outH; y++) {
    const int32_t* row = tmp + (size_t)y * rowLen - c0;
    uint8_t* o = out + (size_t)y * outW * ch;
    for (int x = 0; x < outW; x++) {
      const int n = cx.count[x];
      const int32_t* W = &cx.weights[(size_t)x * cx.maxTaps];
      const int32_t* p = row + (size_t)cx.start[x] * ch;
      for (int c = 0; c < ch; c++) {
        int32_t a = HALF;
        for (int k = 0; k < n; k++) a += p[k * ch + c] * W[k];
        o[x * ch + c] = clip8(a >> SHIFT);
      }
    }
  }
}

#ifdef CS_AUG_AVX512
// Horizontal pass, 16 outputs at a time: each tap is a gather from the row (taps past an
// output's count get weight 0 and read a valid pixel). Integer sums, so the order of the
// additions does not change the result.
struct HGather {
  int groups = 0, taps = 0;
  std::vector<int32_t> idx, w;  // [groups][taps][16]
  std::vector<uint16_t> mask;   // [groups]
};

void prepareGather(const Coeffs& cx, int outW, int C, HGather& g) {
  g.groups = (outW + 15) / 16;
  g.taps = 0;
  for (int x = 0; x < outW; x++) g.taps = std::max(g.taps, (int)cx.count[x]);
  g.idx.assign((size_t)g.groups * g.taps * 16, 0);
  g.w.assign((size_t)g.groups * g.taps * 16, 0);
  g.mask.assign(g.groups, 0);
  for (int x = 0; x < outW; x++) {
    const int gi = x / 16, lane = x % 16, n = cx.count[x];
    g.mask[gi] |= (uint16_t)(1u << lane);
    for (int k = 0; k < g.taps; k++) {
      const size_t at = ((size_t)gi * g.taps + k) * 16 + lane;
      g.idx[at] = (int32_t)((cx.start[x] + std::min(k, n - 1) - cx.first) * C);
      g.w[at] = k < n ? cx.weights[(size_t)x * cx.maxTaps + k] : 0;
    }
  }
}


// Horizontal pass on an int16 row (the vertical pass's values are <= 255 << 7 = 32640, and
// the weights <= 2^14, so both fit int16 and every partial sum of the non-negative products
// fits int32). G = 16 / C outputs per step: their C channels are 16 int32 lanes of one
// vpmaddwd, which multiplies two taps per lane; the taps are picked by vpermi2w from a
// 64-sample window starting at the group's first tap. Applies when every group's taps fit
// its window (downscales up to ~3.5x for RGB).
struct HPermute {
  int G = 0, groups = 0, pairs = 0;
  std::vector<int32_t> base;        // [groups] first sample of the window
  std::vector<int16_t> idx, w;      // [groups][pairs][32]
};

bool preparePermute(const Coeffs& cx, int outW, int C, HPermute& P) {
  if (C < 1 || C > 4) return false;
  P.G = 16 / C;
  P.groups = (outW + P.G - 1) / P.G;
  int taps = 0;
  for (int x = 0; x < outW; x++) taps = std::max(taps, (int)cx.count[x]);
  P.pairs = (taps + 1) / 2;
  P.base.assign(P.groups, 0);
  P.idx.assign((size_t)P.groups * P.pairs * 32, 0);
  P.w.assign((size_t)P.groups * P.pairs * 32, 0);
  for (int g = 0; g < P.groups; g++) {
    const int x0 = g * P.G, x1 = std::min(outW, x0 + P.G);
    const long base = (cx.start[x0] - cx.first) * C;
    P.base[g] = (int32_t)base;
    for (int x = x0; x < x1; x++) {
      const int n = cx.count[x];
      if ((cx.start[x] - cx.first + n) * C - base > 64) return false;
      for (int c = 0; c < C; c++) {
        const int lane = (x - x0) * C + c;
        for (int k = 0; k < 2 * P.pairs; k++) {
          const size_t at = ((size_t)g * P.pairs + k / 2) * 32 + 2 * lane + (k & 1);
          const int kk = std::min(k, n - 1);
          P.idx[at] = (int16_t)((cx.start[x] - cx.first + kk) * C + c - base);
          P.w[at] = (int16_t)(k < n ? cx.weights[(size_t)x * cx.maxTaps + k] : 0);
        }
      }
    }
  }
  return true;
}

// row: int16 samples with 64 readable (padding) samples past the end.
void horizontalPermute(const int16_t* row, const HPermute& P, int outW, int C, uint8_t* out) {
  const __m512i half = _mm512_set1_epi32(HALF), zero = _mm512_setzero_si512(), i255 = _mm512_set1_epi32(255);
  for (int g = 0; g < P.groups; g++) {
    const int16_t* win = row + P.base[g];
    const __m512i lo = _mm512_loadu_si512((const void*)win);
    const __m512i hi = _mm512_loadu_si512((const void*)(win + 32));
    const int16_t* I = &P.idx[(size_t)g * P.pairs * 32];
    const int16_t* W = &P.w[(size_t)g * P.pairs * 32];
    __m512i acc = half;
    for (int m = 0; m < P.pairs; m++) {
      const __m512i v = _mm512_permutex2var_epi16(lo, _mm512_loadu_si512((const void*)(I + m * 32)), hi);
      acc = _mm512_add_epi32(acc, _mm512_madd_epi16(v, _mm512_loadu_si512((const void*)(W + m * 32))));
    }
    acc = _mm512_min_epi32(_mm512_max_epi32(_mm512_srai_epi32(acc, SHIFT), zero), i255);
    const int x0 = g * P.G;
    const int lanes = std::min(P.G, outW - x0) * C;
    _mm_mask_storeu_epi8(out + (size_t)x0 * C, (__mmask16)((1u << lanes) - 1), _mm512_cvtepi32_epi8(acc));
  }
}

void horizontalGather(const int32_t* row, const HGather& g, int outW, int C, uint8_t* out) {
  alignas(64) int32_t res[16];
  const __m512i half = _mm512_set1_epi32(HALF), zero = _mm512_setzero_si512(), i255 = _mm512_set1_epi32(255);
  for (int gi = 0; gi < g.groups; gi++) {
    const __mmask16 m = (__mmask16)g.mask[gi];
    const int32_t* I = &g.idx[(size_t)gi * g.taps * 16];
    const int32_t* W = &g.w[(size_t)gi * g.taps * 16];
    const int x0 = gi * 16, lanes = std::min(16, outW - x0);
    for (int c = 0; c < C; c++) {
      __m512i acc = half;
      const int32_t* base = row + c;
      for (int k = 0; k < g.taps; k++) {
        const __m512i idx = _mm512_loadu_si512((const void*)(I + k * 16));
        const __m512i v = _mm512_mask_i32gather_epi32(zero, m, idx, base, 4);
        acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(v, _mm512_loadu_si512((const void*)(W + k * 16))));
      }
      acc = _mm512_min_epi32(_mm512_max_epi32(_mm512_srai_epi32(acc, SHIFT), zero), i255);
      _mm512_store_si512((void*)res, acc);
      uint8_t* o = out + (size_t)x0 * C + c;
      for (int l = 0; l < lanes; l++) o[(size_t)l * C] = (uint8_t)res[l];
    }
  }
}
#endif

// resample(src: Uint8Array, srcStride, channels, x0, y0, x1, y1, lox, loy, hix, hiy, outW, outH, out: Uint8Array)
napi_value Resample(napi_env env, napi_callback_info info) {
  A a(env, info);
  const long stride = a.integer(1), C = a.integer(2);
  const double x0 = a.num(3), y0 = a.num(4), x1 = a.num(5), y1 = a.num(6);
  const long lox = a.integer(7), loy = a.integer(8), hix = a.integer(9), hiy = a.integer(10);
  const long outW = a.integer(11), outH = a.integer(12);
  if (!a.ok) return a.done();
  if (C < 1 || outW < 1 || outH < 1 || lox < 0 || loy < 0 || hix <= lox || hiy <= loy || stride < hix * C || !(x1 > x0) || !(y1 > y0)) {
    a.fail("resample: bad geometry");
    return a.done();
  }
  const uint8_t* src = a.arr<uint8_t>(0, napi_uint8_array, (double)(hiy - 1) * stride + (double)hix * C, "src");
  uint8_t* out = a.arr<uint8_t>(13, napi_uint8_array, (double)outW * outH * C, "out");
  if (!a.ok) return a.done();
  Coeffs cx, cy;
  coefficients(x0, x1, lox, hix, (int)outW, cx);
  coefficients(y0, y1, loy, hiy, (int)outH, cy);
  const long colStart = cx.first * C;
  const long rowLen = (cx.last - cx.first) * C;
#ifdef CS_AUG_AVX512
  {
    HPermute P;
    if (preparePermute(cx, (int)outW, (int)C, P)) {
      std::vector<int16_t> row(rowLen + 64, 0);
      for (int y = 0; y < outH; y++) {
        vertical(src, stride, colStart, rowLen, cy, 1, row.data(), y);
        horizontalPermute(row.data(), P, (int)outW, (int)C, out + (size_t)y * outW * C);
      }
      return nullptr;
    }
  }
  if (rowLen * 16 < (1L << 30)) {
    // one output row at a time: vertical pass into an L1-sized row, then the gathers
    HGather g;
    prepareGather(cx, (int)outW, (int)C, g);
    std::vector<int32_t> row(rowLen + 16);
    for (int y = 0; y < outH; y++) {
      vertical(src, stride, colStart, rowLen, cy, 1, row.data(), y);
      horizontalGather(row.data(), g, (int)outW, (int)C, out + (size_t)y * outW * C);
    }
    return nullptr;
  }
#endif
  std::vector<int32_t> tmp((size_t)outH * rowLen);
  vertical(src, stride, colStart, rowLen, cy, (int)outH, tmp.data());
  if (C == 3) horizontal<3>(tmp.data(), rowLen, cx, (int)outW, (int)outH, 3, out);
  else if (C == 1) horizontal<1>(tmp.data(), rowLen, cx, (int)outW, (int)outH, 1, out);
  else horizontal<0>(tmp.data(), rowLen, cx, (int)outW, (int)outH, (int)C, out);
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Colour (color.ts, bit-identical)

inline int luma(int r, int g, int b) { return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16; }


#ifdef CS_AUG_AVX512
// Vector versions of saturation and hue: 8 pixels per step, the same double/float roundings as
// the scalar code (and as color.ts). Return how many pixels they did (a multiple of 8); the
// scalar loop does the rest.

inline __m512d f2(__m512d x) { return _mm512_cvtps_pd(_mm512_cvtpd_ps(x)); }  // Math.fround

// deinterleave 8 pixels of C channels into int32 lanes
inline void load8(const uint8_t* p, int C, __m256i& r, __m256i& g, __m256i& b) {
  alignas(32) int R[8], G[8], B[8];
  for (int k = 0; k < 8; k++) {
    R[k] = p[k * C];
    G[k] = p[k * C + 1];
    B[k] = p[k * C + 2];
  }
  r = _mm256_load_si256((const __m256i*)R);
  g = _mm256_load_si256((const __m256i*)G);
  b = _mm256_load_si256((const __m256i*)B);
}

inline void store8(uint8_t* p, int C, __m256i r, __m256i g, __m256i b) {
  alignas(32) int R[8], G[8], B[8];
  _mm256_store_si256((__m256i*)R, r);
  _mm256_store_si256((__m256i*)G, g);
  _mm256_store_si256((__m256i*)B, b);
  for (int k = 0; k < 8; k++) {
    p[k * C] = (uint8_t)R[k];
    p[k * C + 1] = (uint8_t)G[k];
    p[k * C + 2] = (uint8_t)B[k];
  }
}

inline __m256i luma8(__m256i r, __m256i g, __m256i b) {
  __m256i a = _mm256_add_epi32(_mm256_mullo_epi32(r, _mm256_set1_epi32(19595)), _mm256_mullo_epi32(g, _mm256_set1_epi32(38470)));
  a = _mm256_add_epi32(a, _mm256_mullo_epi32(b, _mm256_set1_epi32(7471)));
  return _mm256_srai_epi32(_mm256_add_epi32(a, _mm256_set1_epi32(0x8000)), 16);
}

// clip(trunc(fround(l + fround(a * (v - l)))))
inline __m256i blendSat(__m256i v, __m256i l, __m512d ld, __m512d a) {
  const __m512d d = _mm512_cvtepi32_pd(_mm256_sub_epi32(v, l));
  __m512d t = f2(_mm512_add_pd(ld, f2(_mm512_mul_pd(a, d))));
  t = _mm512_min_pd(_mm512_max_pd(t, _mm512_setzero_pd()), _mm512_set1_pd(255.0));
  return _mm512_cvttpd_epi32(t);
}

long saturation_avx512(uint8_t* d, long n, float af) {
  const __m512d a = _mm512_set1_pd((double)af);
  long i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i r, g, b;
    load8(d + i * 3, 3, r, g, b);
    const __m256i l = luma8(r, g, b);
    const __m512d ld = _mm512_cvtepi32_pd(l);
    store8(d + i * 3, 3, blendSat(r, l, ld, a), blendSat(g, l, ld, a), blendSat(b, l, ld, a));
  }
  return i;
}

// JavaScript's Math.round, clipped to [0, 255]
inline __m256i jsRound8(__m512d x) {
  const __m512d f = _mm512_roundscale_pd(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __mmask8 up = _mm512_cmp_pd_mask(_mm512_sub_pd(x, f), _mm512_set1_pd(0.5), _CMP_GE_OQ);
  __m512d r = _mm512_mask_add_pd(f, up, f, _mm512_set1_pd(1.0));
  r = _mm512_min_pd(_mm512_max_pd(r, _mm512_setzero_pd()), _mm512_set1_pd(255.0));
  return _mm512_cvttpd_epi32(r);
}

long hue_avx512(uint8_t* d, long n, int C, int shift) {
  const __m512d one = _mm512_set1_pd(1.0), k255 = _mm512_set1_pd(255.0);
  const __m256i zero = _mm256_setzero_si256(), i255 = _mm256_set1_epi32(255), i1 = _mm256_set1_epi32(1);
  long i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i r, g, b;
    load8(d + i * C, C, r, g, b);
    const __m256i maxc = _mm256_max_epi32(r, _mm256_max_epi32(g, b));
    const __m256i minc = _mm256_min_epi32(r, _mm256_min_epi32(g, b));
    const __m256i cr = _mm256_sub_epi32(maxc, minc);
    const __mmask8 grey = _mm256_cmpeq_epi32_mask(cr, zero);
    if (grey == 0xff) continue;
    const __m512d crd = _mm512_cvtepi32_pd(_mm256_max_epi32(cr, i1));
    const __m512d inv = _mm512_div_pd(one, crd);
    const __m512d rc = f2(_mm512_mul_pd(_mm512_cvtepi32_pd(_mm256_sub_epi32(maxc, r)), inv));
    const __m512d gc = f2(_mm512_mul_pd(_mm512_cvtepi32_pd(_mm256_sub_epi32(maxc, g)), inv));
    const __m512d bc = f2(_mm512_mul_pd(_mm512_cvtepi32_pd(_mm256_sub_epi32(maxc, b)), inv));
    const __m512d hr = f2(_mm512_sub_pd(bc, gc));
    const __m512d hg = f2(_mm512_sub_pd(_mm512_add_pd(_mm512_set1_pd(2.0), rc), bc));
    const __m512d hb = f2(_mm512_sub_pd(_mm512_add_pd(_mm512_set1_pd(4.0), gc), rc));
    const __mmask8 isR = _mm256_cmpeq_epi32_mask(r, maxc);
    const __mmask8 isG = _mm256_cmpeq_epi32_mask(g, maxc) & ~isR;
    __m512d h = _mm512_mask_blend_pd(isG, hb, hg);
    h = _mm512_mask_blend_pd(isR, h, hr);
    __m512d hh = _mm512_add_pd(_mm512_mul_pd(h, _mm512_set1_pd(1.0 / 6.0)), one);
    hh = _mm512_mask_sub_pd(hh, _mm512_cmp_pd_mask(hh, one, _CMP_GE_OQ), hh, one);
    __m256i uh = _mm512_cvttpd_epi32(_mm512_mul_pd(f2(hh), k255));
    uh = _mm256_min_epi32(_mm256_max_epi32(uh, zero), i255);
    const __m512d maxd = _mm512_cvtepi32_pd(_mm256_max_epi32(maxc, i1));
    // cr / maxc as cr * (1 / maxc), hd and fs as products with 6 / 255 and 1 / 255: the same
    // float32 results as the divisions for every reachable input (checked exhaustively), with
    // two divisions per 8 pixels instead of four.
    const __m512d invMax = _mm512_div_pd(one, maxd);
    __m256i us = _mm512_cvttpd_epi32(_mm512_mul_pd(f2(_mm512_mul_pd(_mm512_cvtepi32_pd(cr), invMax)), k255));
    us = _mm256_min_epi32(_mm256_max_epi32(us, zero), i255);
    const __m256i h2 = _mm256_and_si256(_mm256_add_epi32(uh, _mm256_set1_epi32(shift)), i255);
    const __m512d hd = _mm512_mul_pd(_mm512_cvtepi32_pd(h2), _mm512_set1_pd(6.0 / 255.0));
    const __m512d fl = _mm512_roundscale_pd(hd, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m256i sector = _mm512_cvttpd_epi32(fl);
    sector = _mm256_mask_blend_epi32(_mm256_cmpeq_epi32_mask(sector, _mm256_set1_epi32(6)), sector, zero);
    const __m512d f = f2(_mm512_sub_pd(hd, fl));
    const __m512d fs = f2(_mm512_mul_pd(_mm512_cvtepi32_pd(us), _mm512_set1_pd(1.0 / 255.0)));
    const __m512d v = _mm512_cvtepi32_pd(maxc);
    const __m256i p = jsRound8(_mm512_mul_pd(v, _mm512_sub_pd(one, fs)));
    const __m256i q = jsRound8(_mm512_mul_pd(v, _mm512_sub_pd(one, _mm512_mul_pd(fs, f))));
    const __m256i t = jsRound8(_mm512_mul_pd(v, _mm512_sub_pd(one, _mm512_mul_pd(fs, _mm512_sub_pd(one, f)))));
    const __mmask8 s0 = _mm256_cmpeq_epi32_mask(sector, zero);
    const __mmask8 s1 = _mm256_cmpeq_epi32_mask(sector, i1);
    const __mmask8 s2 = _mm256_cmpeq_epi32_mask(sector, _mm256_set1_epi32(2));
    const __mmask8 s3 = _mm256_cmpeq_epi32_mask(sector, _mm256_set1_epi32(3));
    const __mmask8 s4 = _mm256_cmpeq_epi32_mask(sector, _mm256_set1_epi32(4));
    const __mmask8 s5 = _mm256_cmpeq_epi32_mask(sector, _mm256_set1_epi32(5));
    // sector: (o0, o1, o2) = 0 (v,t,p) 1 (q,v,p) 2 (p,v,t) 3 (p,q,v) 4 (t,p,v) 5 (v,p,q)
    __m256i o0 = p, o1 = p, o2 = p;
    o0 = _mm256_mask_blend_epi32(s0 | s5, o0, maxc);
    o0 = _mm256_mask_blend_epi32(s1, o0, q);
    o0 = _mm256_mask_blend_epi32(s4, o0, t);
    o1 = _mm256_mask_blend_epi32(s1 | s2, o1, maxc);
    o1 = _mm256_mask_blend_epi32(s0, o1, t);
    o1 = _mm256_mask_blend_epi32(s3, o1, q);
    o2 = _mm256_mask_blend_epi32(s3 | s4, o2, maxc);
    o2 = _mm256_mask_blend_epi32(s2, o2, t);
    o2 = _mm256_mask_blend_epi32(s5, o2, q);
    // grey pixels are left as they are
    o0 = _mm256_mask_blend_epi32(grey, o0, r);
    o1 = _mm256_mask_blend_epi32(grey, o1, g);
    o2 = _mm256_mask_blend_epi32(grey, o2, b);
    store8(d + i * C, C, o0, o1, o2);
  }
  return i;
}
#endif

// saturation(data, pixels, channels, factor)
napi_value Saturation(napi_env env, napi_callback_info info) {
  A a(env, info);
  const long n = a.integer(1), C = a.integer(2);
  const double factor = a.num(3);
  if (!a.ok) return a.done();
  if (n < 0 || C < 3) {
    a.fail("saturation needs >= 3 channels");
    return a.done();
  }
  uint8_t* d = a.arr<uint8_t>(0, napi_uint8_array, (double)n * C, "data");
  if (!a.ok) return a.done();
  const float af = (float)factor;
  long i0 = 0;
#ifdef CS_AUG_AVX512
  if (C == 3) i0 = saturation_avx512(d, n, af);
#endif
  float T[511];
  for (int k = -255; k <= 255; k++) T[k + 255] = (float)((double)af * k);
  for (long i = i0; i < n; i++) {
    uint8_t* p = d + i * C;
    const int r = p[0], g = p[1], b = p[2];
    const int l = luma(r, g, b);
    float t = (float)((double)l + (double)T[r - l + 255]);
    p[0] = t <= 0 ? 0 : t >= 255 ? 255 : (uint8_t)(int)t;
    t = (float)((double)l + (double)T[g - l + 255]);
    p[1] = t <= 0 ? 0 : t >= 255 ? 255 : (uint8_t)(int)t;
    t = (float)((double)l + (double)T[b - l + 255]);
    p[2] = t <= 0 ? 0 : t >= 255 ? 255 : (uint8_t)(int)t;
  }
  return nullptr;
}

struct HueTables {
  uint8_t sat[65536];
  uint8_t hsvI[256];
  double hsvF[256], hsvFS[256], inv[256];
  HueTables() {
    std::memset(sat, 0, sizeof sat);
    for (int cr = 0; cr < 256; cr++) {
      for (int maxc = std::max(cr, 1); maxc < 256; maxc++) {
        const double v = std::trunc((double)(float)((double)cr / maxc) * 255.0);
        sat[cr * 256 + maxc] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
    }
    for (int h = 0; h < 256; h++) {
      const double hd = (h * 6.0) / 255.0;
      const double i = std::floor(hd);
      hsvI[h] = (uint8_t)((int)i % 6);
      hsvF[h] = (float)(hd - i);
      hsvFS[h] = (float)(h / 255.0);
    }
    for (int c = 0; c < 256; c++) inv[c] = c == 0 ? 0 : 1.0 / c;
  }
};

const HueTables& hueTables() {
  static const HueTables t;  // thread-safe initialisation (C++11 magic statics)
  return t;
}

inline uint8_t clip8round(double x) {
  const double r = js_round(x);
  return (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
}

// hue(data, pixels, channels, shift)  shift = uint8 hue offset in [1, 255]
napi_value Hue(napi_env env, napi_callback_info info) {
  A a(env, info);
  const long n = a.integer(1), C = a.integer(2), shift = a.integer(3);
  if (!a.ok) return a.done();
  if (n < 0 || C < 3 || shift < 0 || shift > 255) {
    a.fail("hue needs >= 3 channels and a shift in [0, 255]");
    return a.done();
  }
  uint8_t* d = a.arr<uint8_t>(0, napi_uint8_array, (double)n * C, "data");
  if (!a.ok) return a.done();
  if (shift == 0) return nullptr;
  long i0 = 0;
#ifdef CS_AUG_AVX512
  i0 = hue_avx512(d, n, (int)C, (int)shift);
#endif
  const HueTables& T = hueTables();
  const double SIXTH = 1.0 / 6.0;
  for (long i = i0; i < n; i++) {
    uint8_t* px = d + i * C;
    const int r = px[0], g = px[1], b = px[2];
    const int maxc = r > g ? (r > b ? r : b) : g > b ? g : b;
    const int minc = r < g ? (r < b ? r : b) : g < b ? g : b;
    if (maxc == minc) continue;
    const int cr = maxc - minc;
    const double inv = T.inv[cr];
    double h;
    if (r == maxc) {
      h = (float)((double)(float)((maxc - b) * inv) - (double)(float)((maxc - g) * inv));
    } else if (g == maxc) {
      h = (float)(2.0 + (double)(float)((maxc - r) * inv) - (double)(float)((maxc - b) * inv));
    } else {
      h = (float)(4.0 + (double)(float)((maxc - g) * inv) - (double)(float)((maxc - r) * inv));
    }
    double hh = h * SIXTH + 1.0;
    if (hh >= 1.0) hh -= 1.0;
    int uh = (int)std::trunc((double)(float)hh * 255.0);
    uh = uh < 0 ? 0 : uh > 255 ? 255 : uh;
    const int us = T.sat[cr * 256 + maxc];
    const int v = maxc;
    const int h2 = (uh + (int)shift) & 255;
    const double fs = T.hsvFS[us];
    const double f = T.hsvF[h2];
    const uint8_t p = clip8round(v * (1.0 - fs));
    const uint8_t q = clip8round(v * (1.0 - fs * f));
    const uint8_t t = clip8round(v * (1.0 - fs * (1.0 - f)));
    const uint8_t vv = (uint8_t)v;
    switch (T.hsvI[h2]) {
      case 0: px[0] = vv; px[1] = t; px[2] = p; break;
      case 1: px[0] = q; px[1] = vv; px[2] = p; break;
      case 2: px[0] = p; px[1] = vv; px[2] = t; break;
      case 3: px[0] = p; px[1] = q; px[2] = vv; break;
      case 4: px[0] = t; px[1] = p; px[2] = vv; break;
      default: px[0] = vv; px[1] = p; px[2] = q; break;
    }
  }
  return nullptr;
}

// grayscale(data, pixels, channels)
napi_value Grayscale(napi_env env, napi_callback_info info) {
  A a(env, info);
  const long n = a.integer(1), C = a.integer(2);
  if (!a.ok) return a.done();
  if (n < 0 || C < 3) {
    a.fail("grayscale needs >= 3 channels");
    return a.done();
  }
  uint8_t* d = a.arr<uint8_t>(0, napi_uint8_array, (double)n * C, "data");
  if (!a.ok) return a.done();
  for (long i = 0; i < n; i++) {
    uint8_t* p = d + i * C;
    const uint8_t l = (uint8_t)luma(p[0], p[1], p[2]);
    p[0] = l;
    p[1] = l;
    p[2] = l;
  }
  return nullptr;
}

// meanLuma(data, pixels, channels) -> int(mean + 0.5)
napi_value MeanLuma(napi_env env, napi_callback_info info) {
  A a(env, info);
  const long n = a.integer(1), C = a.integer(2);
  if (!a.ok) return a.done();
  if (n < 1 || C < 1) {
    a.fail("meanLuma needs at least one pixel");
    return a.done();
  }
  const uint8_t* d = a.arr<uint8_t>(0, napi_uint8_array, (double)n * C, "data");
  if (!a.ok) return a.done();
  double sum = 0;
  if (C == 1) {
    uint64_t s = 0;
    for (long i = 0; i < n; i++) s += d[i];
    sum = (double)s;
  } else {
    uint64_t s = 0;
    for (long i = 0; i < n; i++) s += (uint64_t)luma(d[i * C], d[i * C + 1], d[i * C + 2]);
    sum = (double)s;
  }
  napi_value v;
  napi_create_double(env, std::trunc(sum / n + 0.5), &v);
  return v;
}

// applyLut(data, length, lut: Uint8Array(256))
napi_value ApplyLut(napi_env env, napi_callback_info info) {
  A a(env, info);
  const long n = a.integer(1);
  if (!a.ok) return a.done();
  uint8_t* d = a.arr<uint8_t>(0, napi_uint8_array, (double)n, "data");
  const uint8_t* lut = a.arr<uint8_t>(2, napi_uint8_array, 256, "lut");
  if (!a.ok) return a.done();
  for (long i = 0; i < n; i++) d[i] = lut[d[i]];
  return nullptr;
}

// normalize(src: Uint8Array, pixels, channels, tables: Float32Array(channels * 256), out: Float32Array)
napi_value Normalize(napi_env env, napi_callback_info info) {
  A a(env, info);
  const long n = a.integer(1), C = a.integer(2);
  if (!a.ok) return a.done();
  if (n < 0 || C < 1) {
    a.fail("normalize: bad size");
    return a.done();
  }
  const uint8_t* s = a.arr<uint8_t>(0, napi_uint8_array, (double)n * C, "src");
  const float* T = a.arr<float>(3, napi_float32_array, (double)C * 256, "tables");
  float* o = a.arr<float>(4, napi_float32_array, (double)n * C, "out");
  if (!a.ok) return a.done();
  if (C == 3) {
    const float *t0 = T, *t1 = T + 256, *t2 = T + 512;
    for (long i = 0; i < n; i++) {
      o[3 * i] = t0[s[3 * i]];
      o[3 * i + 1] = t1[s[3 * i + 1]];
      o[3 * i + 2] = t2[s[3 * i + 2]];
    }
  } else {
    for (long i = 0; i < n; i++)
      for (long c = 0; c < C; c++) o[i * C + c] = T[c * 256 + s[i * C + c]];
  }
  return nullptr;
}

// flip(data: Uint8Array, width, height, channels): mirror left-right in place
napi_value Flip(napi_env env, napi_callback_info info) {
  A a(env, info);
  const long w = a.integer(1), h = a.integer(2), C = a.integer(3);
  if (!a.ok) return a.done();
  if (w < 0 || h < 0 || C < 1) {
    a.fail("flip: bad size");
    return a.done();
  }
  uint8_t* d = a.arr<uint8_t>(0, napi_uint8_array, (double)w * h * C, "data");
  if (!a.ok) return a.done();
  for (long y = 0; y < h; y++) {
    uint8_t* row = d + (size_t)y * w * C;
    for (long l = 0, r = w - 1; l < r; l++, r--)
      for (long c = 0; c < C; c++) std::swap(row[l * C + c], row[r * C + c]);
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// JPEG decoding through the system libjpeg(-turbo), loaded at first use

#ifdef CS_HAVE_JPEG
struct Jpeg {
  bool ok = false;
  std::string why;
  struct jpeg_error_mgr* (*std_error)(struct jpeg_error_mgr*) = nullptr;
  void (*create)(j_decompress_ptr, int, size_t) = nullptr;
  void (*destroy)(j_decompress_ptr) = nullptr;
  void (*mem_src)(j_decompress_ptr, const unsigned char*, unsigned long) = nullptr;
  int (*read_header)(j_decompress_ptr, boolean) = nullptr;
  boolean (*start)(j_decompress_ptr) = nullptr;
  JDIMENSION (*read_scanlines)(j_decompress_ptr, JSAMPARRAY, JDIMENSION) = nullptr;
  boolean (*finish)(j_decompress_ptr) = nullptr;
};

const Jpeg& jpeg() {
  static Jpeg j;
  static std::once_flag once;
  std::call_once(once, [] {
    void* h = nullptr;
    for (const char* name : {"libjpeg.so.62", "libjpeg.so"}) {
      h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (h) break;
    }
    if (!h) {
      j.why = std::string("libjpeg.so.62 not found (") + dlerror() + ")";
      return;
    }
#define CS_SYM(field, name)                                             \
  j.field = reinterpret_cast<decltype(j.field)>(dlsym(h, name));       \
  if (!j.field) {                                                       \
    j.why = std::string("libjpeg lacks ") + name;                       \
    return;                                                             \
  }
    CS_SYM(std_error, "jpeg_std_error");
    CS_SYM(create, "jpeg_CreateDecompress");
    CS_SYM(destroy, "jpeg_destroy_decompress");
    CS_SYM(mem_src, "jpeg_mem_src");
    CS_SYM(read_header, "jpeg_read_header");
    CS_SYM(start, "jpeg_start_decompress");
    CS_SYM(read_scanlines, "jpeg_read_scanlines");
    CS_SYM(finish, "jpeg_finish_decompress");
#undef CS_SYM
    j.ok = true;
  });
  return j;
}

struct ErrMgr {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void onError(j_common_ptr cinfo) {
  ErrMgr* e = reinterpret_cast<ErrMgr*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  longjmp(e->jump, 1);
}
// libjpeg reports corrupt data it can work around as warnings (msg_level -1): "Premature end of
// JPEG file" (it pads the missing scan with grey), "Corrupt JPEG data: N extraneous bytes before
// marker", bad Huffman codes, bogus progression... PIL accepts those images; we do not: a file
// whose header disagrees with its data is an error (DecodeError with libjpeg's reason), as in the
// TypeScript decoder. Only the harmless "unknown JFIF revision" warning is let through. Trace
// messages (msg_level >= 0) are ignored.
void onMessage(j_common_ptr cinfo, int msgLevel) {
  if (msgLevel >= 0) return;
  if (cinfo->err->msg_code == JWRN_JFIF_MAJOR) return;
  onError(cinfo);  // formats the message and longjmps to the caller's error path
}
#endif

napi_value JpegInfo(napi_env env, napi_callback_info) {
  napi_value obj, v;
  napi_create_object(env, &obj);
#ifdef CS_HAVE_JPEG
  const Jpeg& j = jpeg();
  napi_get_boolean(env, j.ok, &v);
  napi_set_named_property(env, obj, "available", v);
  napi_create_string_utf8(env, j.ok ? "libjpeg (system, dlopen)" : j.why.c_str(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "detail", v);
#else
  napi_get_boolean(env, false, &v);
  napi_set_named_property(env, obj, "available", v);
  napi_create_string_utf8(env, "built without jpeglib.h (install libjpeg62-turbo-dev and rebuild)", NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "detail", v);
#endif
  return obj;
}

// jpegDecode(bytes: Uint8Array, maxPixels, scratch?: Uint8Array) ->
//   { width, height, channels, data: Uint8Array }  (RGB, or 1 channel for greyscale JPEGs)
//   | { width, height, channels, inScratch: true }  (the pixels are at the start of scratch)
//   | { unsupported: string }                       (colour spaces libjpeg cannot give as RGB)
//   | { error: string, tooLarge?: boolean }         (corrupt data, too many pixels)
napi_value JpegDecode(napi_env env, napi_callback_info info) {
  A a(env, info);
  const double maxPixels = a.num(1);
  bool is = false;
  if (a.argc < 1 || napi_is_typedarray(env, a.argv[0], &is) != napi_ok || !is) a.fail("bytes must be a Uint8Array");
  if (!a.ok) return a.done();
  const uint8_t* bytes = a.arr<uint8_t>(0, napi_uint8_array, 0, "bytes");
  if (!a.ok) return a.done();
  size_t len = 0;
  napi_typedarray_type type;
  void* data = nullptr;
  napi_get_typedarray_info(env, a.argv[0], &type, &len, &data, nullptr, nullptr);
  napi_value obj, v;
  napi_create_object(env, &obj);
  auto fail = [&](const char* key, const std::string& msg) {
    napi_create_string_utf8(env, msg.c_str(), NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, obj, key, v);
    return obj;
  };
#ifndef CS_HAVE_JPEG
  (void)bytes;
  (void)maxPixels;
  return fail("unsupported", "built without jpeglib.h");
#else
  const Jpeg& J = jpeg();
  if (!J.ok) return fail("unsupported", J.why);
  struct jpeg_decompress_struct cinfo;
  ErrMgr err;
  // Volatile: assigned between setjmp and a possible longjmp.
  uint8_t* volatile out = nullptr;
  napi_value volatile outBuf = nullptr;
  bool volatile created = false;
  cinfo.err = J.std_error(&err.pub);
  err.pub.error_exit = onError;
  err.pub.emit_message = onMessage;
  err.message[0] = 0;
  if (setjmp(err.jump)) {
    if (created) J.destroy(&cinfo);
    return fail("error", err.message[0] ? err.message : "libjpeg failed");
  }
  J.create(&cinfo, JPEG_LIB_VERSION, sizeof(cinfo));
  created = true;
  J.mem_src(&cinfo, bytes, (unsigned long)len);
  J.read_header(&cinfo, TRUE);
  const double pixels = (double)cinfo.image_width * cinfo.image_height;
  if (pixels > maxPixels) {
    J.destroy(&cinfo);
    napi_value t;
    napi_get_boolean(env, true, &t);
    napi_set_named_property(env, obj, "tooLarge", t);
    return fail("error", "image is " + std::to_string(cinfo.image_width) + "x" + std::to_string(cinfo.image_height) + " = " +
                             std::to_string((long long)pixels) + " pixels, more than maxInputPixels " + std::to_string((long long)maxPixels));
  }
  int channels;
  if (cinfo.jpeg_color_space == JCS_GRAYSCALE) {
    cinfo.out_color_space = JCS_GRAYSCALE;
    channels = 1;
  } else if (cinfo.jpeg_color_space == JCS_YCbCr || cinfo.jpeg_color_space == JCS_RGB) {
    cinfo.out_color_space = JCS_RGB;
    channels = 3;
  } else {
    J.destroy(&cinfo);
    return fail("unsupported", "JPEG colour space " + std::to_string((int)cinfo.jpeg_color_space) + " (CMYK/YCCK)");
  }
  // libjpeg's defaults, as PIL uses them: islow IDCT, fancy upsampling.
  J.start(&cinfo);
  const size_t w = cinfo.output_width, h = cinfo.output_height;
  if ((int)cinfo.output_components != channels) longjmp(err.jump, 1);
  // Decode into the caller's scratch array when it is large enough (no allocation per image),
  // else into a new ArrayBuffer.
  bool inScratch = false;
  if (a.argc > 2) {
    bool isTa = false;
    napi_is_typedarray(env, a.argv[2], &isTa);
    if (isTa) {
      napi_typedarray_type st;
      size_t slen = 0;
      void* sdata = nullptr;
      napi_get_typedarray_info(env, a.argv[2], &st, &slen, &sdata, nullptr, nullptr);
      if (st == napi_uint8_array && slen >= w * h * channels) {
        out = static_cast<uint8_t*>(sdata);
        inScratch = true;
      }
    }
  }
  if (!inScratch) {
    void* ab = nullptr;
    napi_value arrayBuffer;
    if (napi_create_arraybuffer(env, w * h * channels, &ab, &arrayBuffer) != napi_ok) {
      J.destroy(&cinfo);
      return fail("error", "cannot allocate the pixel buffer");
    }
    out = static_cast<uint8_t*>(ab);
    outBuf = arrayBuffer;
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW rows[4];
    const size_t y = cinfo.output_scanline;
    for (int k = 0; k < 4; k++) rows[k] = out + std::min(y + k, h - 1) * w * channels;
    J.read_scanlines(&cinfo, rows, 4);
  }
  J.finish(&cinfo);
  J.destroy(&cinfo);
  if (inScratch) {
    napi_value t;
    napi_get_boolean(env, true, &t);
    napi_set_named_property(env, obj, "inScratch", t);
  } else {
    napi_value arr;
    napi_create_typedarray(env, napi_uint8_array, w * h * channels, outBuf, 0, &arr);
    napi_set_named_property(env, obj, "data", arr);
  }
  napi_create_uint32(env, (uint32_t)w, &v);
  napi_set_named_property(env, obj, "width", v);
  napi_create_uint32(env, (uint32_t)h, &v);
  napi_set_named_property(env, obj, "height", v);
  napi_create_uint32(env, (uint32_t)channels, &v);
  napi_set_named_property(env, obj, "channels", v);
  return obj;
#endif
}

#define CS_DECLARE(name, fn) {name, nullptr, fn, nullptr, nullptr, nullptr, napi_default, nullptr}

}  // namespace

// Adds the augmentation kernels to the addon's exports (called from addon.cc's Init).
void cs_augment_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      CS_DECLARE("augResample", Resample),       CS_DECLARE("augSaturation", Saturation),
      CS_DECLARE("augHue", Hue),                 CS_DECLARE("augGrayscale", Grayscale),
      CS_DECLARE("augMeanLuma", MeanLuma),       CS_DECLARE("augApplyLut", ApplyLut),
      CS_DECLARE("augNormalize", Normalize),     CS_DECLARE("augFlip", Flip),
      CS_DECLARE("jpegInfo", JpegInfo),          CS_DECLARE("jpegDecode", JpegDecode),
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
