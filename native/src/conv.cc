// Convolutions on the GEMM microkernel.
//  forward:         indirect GEMM, A rows = output pixels, one pointer per filter tap (no im2col
//                   buffer); fewer than 16 input channels: small im2col tiles per row group.
//  backprop filter: dW^T = dy^T im2col(x), im2col slices packed per chunk of output pixels into
//                   L1-sized panels; the reduction over pixels is split across threads.
//  backprop input:  stride 1 -> forward conv of dy with the rotated, transposed filter;
//                   stride > 1 -> dcol = dy W^T per block of pixels, scattered (col2im) per image.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "gemm.h"
#include "kernels.h"
#include "threadpool.h"

namespace cs {

namespace {

thread_local std::vector<float> g_zeros;  // per calling thread; workers only read it during the call
const float* zeros(long n) {
  if ((long)g_zeros.size() < n) g_zeros.assign(n + 64, 0.f);
  return g_zeros.data();
}

// Short copies (a few taps of a few channels) are the inner loop of the im2col gathers; with
// AVX-512 they become masked 16-float moves instead of scalar loops.
inline void copy_floats(float* dst, const float* src, long n) {
#if defined(__AVX512F__)
  while (n >= 16) {
    _mm512_storeu_ps(dst, _mm512_loadu_ps(src));
    dst += 16;
    src += 16;
    n -= 16;
  }
  if (n > 0) {
    const __mmask16 m = (__mmask16)((1u << n) - 1);
    _mm512_mask_storeu_ps(dst, m, _mm512_maskz_loadu_ps(m, src));
  }
#else
  for (long c = 0; c < n; ++c) dst[c] = src[c];
#endif
}

inline void zero_floats(float* dst, long n) {
#if defined(__AVX512F__)
  while (n >= 16) {
    _mm512_storeu_ps(dst, _mm512_setzero_ps());
    dst += 16;
    n -= 16;
  }
  if (n > 0) _mm512_mask_storeu_ps(dst, (__mmask16)((1u << n) - 1), _mm512_setzero_ps());
#else
  for (long c = 0; c < n; ++c) dst[c] = 0.f;
#endif
}

// Output pixel coordinates, advanced without divisions (64-bit division costs ~40+ cycles).
struct Pixel {
  long b, oh, ow;
  Pixel(const ConvParams& p, long row) {
    b = row / (p.Ho * p.Wo);
    const long rem = row - b * p.Ho * p.Wo;
    oh = rem / p.Wo;
    ow = rem - oh * p.Wo;
  }
  void next(const ConvParams& p) {
    if (++ow == p.Wo) {
      ow = 0;
      if (++oh == p.Ho) {
        oh = 0;
        ++b;
      }
    }
  }
};

// Writes the im2col row of output pixel px (K = kh*kw*Ci floats, tap-major, zeros for padding).
inline void gather_col_row(const ConvParams& p, const float* x, const Pixel& px, float* dst) {
  const long b = px.b, oh = px.oh, ow = px.ow;
  const long Ci = p.Ci;
  const long iw0 = ow * p.sw - p.pl;
  const bool wIn = iw0 >= 0 && iw0 + (p.kw - 1) * p.dw < p.W;  // every tap of the row in range
  const long rowLen = p.kw * Ci;
  for (long r = 0; r < p.kh; ++r) {
    const long ih = oh * p.sh - p.pt + r * p.dh;
    if (ih < 0 || ih >= p.H) {
      zero_floats(dst, rowLen);
      dst += rowLen;
      continue;
    }
    const float* xrow = x + (b * p.H + ih) * p.W * Ci;
    if (wIn && p.dw == 1) {
      copy_floats(dst, xrow + iw0 * Ci, rowLen);  // the kw taps are contiguous
      dst += rowLen;
      continue;
    }
    for (long s = 0; s < p.kw; ++s, dst += Ci) {
      const long iw = iw0 + s * p.dw;
      if (iw >= 0 && iw < p.W)
        copy_floats(dst, xrow + iw * Ci, Ci);
      else
        zero_floats(dst, Ci);
    }
  }
}

long pick_block(long M, int T, long maxBlock) {
  long mc = maxBlock;
  while (mc > MR && (M + mc - 1) / mc < 4L * T) mc /= 2;
  mc = std::max<long>(MR, mc / MR * MR);
  return mc;
}

}  // namespace

void conv2d_forward(const ConvParams& p, const float* x, const float* w, const float* bias,
                    float* y, int act) {
  const long M = p.B * p.Ho * p.Wo, K = p.kh * p.kw * p.Ci, N = p.Co;
  const long taps = p.kh * p.kw;
  const float* zero = zeros(p.Ci);
  const int T = (2.0 * M * N * K > 2e6) ? pool().size() : 1;
  float* packBuf = b_needs_pack(false, N, N) ? scratch(0, packed_b_size(K, N)) : nullptr;
  const BPanels bp = prepare_b(w, N, false, K, N, packBuf, T > 1);
  const long np = bp.panels();
  const long MC = pick_block(M, T, 128);
  const long jobs = (M + MC - 1) / MC;
  // Few input channels: the taps are too short for the indirect kernel, so gather each MR-row
  // group into a small im2col tile (MR x K) and run one K-long segment instead.
  const bool smallCi = p.Ci < 16;
  std::vector<long> tapOff(taps);
  for (long r = 0; r < p.kh; ++r)
    for (long s = 0; s < p.kw; ++s) tapOff[r * p.kw + s] = (r * p.dh * p.W + s * p.dw) * p.Ci;
  auto job = [&](long j, int) {
    const float** ptrs = reinterpret_cast<const float**>(scratch(4, taps * MR * 2 + 16));
    float* tile = smallCi ? scratch(5, (size_t)MR * K + 16) : nullptr;
    const long m0 = j * MC, m1 = std::min(M, m0 + MC);
    for (long m = m0; m < m1; m += MR) {
      const int mr = (int)std::min<long>(MR, m1 - m);
      if (smallCi) {
        Pixel px(p, m);
        for (int i = 0; i < MR; ++i) {
          if (i < mr) {
            gather_col_row(p, x, px, tile + i * K);
            px.next(p);
          }
          ptrs[i] = tile + (i < mr ? i : mr - 1) * K;
        }
      } else {
        Pixel px(p, m);
        for (int i = 0; i < MR; ++i) {
          if (i > 0 && i < mr) px.next(p);
          const long b = px.b, oh = px.oh, ow = px.ow;
          const long ih0 = oh * p.sh - p.pt, iw0 = ow * p.sw - p.pl;
          if (ih0 >= 0 && ih0 + (p.kh - 1) * p.dh < p.H && iw0 >= 0 && iw0 + (p.kw - 1) * p.dw < p.W) {
            // Every tap inside the image: fixed offsets from the pixel's tap (0, 0).
            const float* base = x + ((b * p.H + ih0) * p.W + iw0) * p.Ci;
            for (long t = 0; t < taps; ++t) ptrs[t * MR + i] = base + tapOff[t];
            continue;
          }
          for (long r = 0; r < p.kh; ++r) {
            const long ih = oh * p.sh - p.pt + r * p.dh;
            for (long s = 0; s < p.kw; ++s) {
              const long iw = ow * p.sw - p.pl + s * p.dw;
              const bool in = ih >= 0 && ih < p.H && iw >= 0 && iw < p.W;
              ptrs[(r * p.kw + s) * MR + i] = in ? x + ((b * p.H + ih) * p.W + iw) * p.Ci : zero;
            }
          }
        }
      }
      for (long q = 0; q < np; ++q) {
        const long n0 = q * NR;
        Epilogue e;
        e.bias = bias ? bias + n0 : nullptr;
        e.act = act;
        if (smallCi)
          ukr(1, K, ptrs, 1, bp.panel(q), bp.ld, y + m * N + n0, N, mr, (int)std::min<long>(NR, N - n0), e);
        else
          ukr((int)taps, p.Ci, ptrs, 1, bp.panel(q), bp.ld, y + m * N + n0, N, mr,
              (int)std::min<long>(NR, N - n0), e);
      }
    }
  };
  if (T > 1)
    pool().parallel_for(jobs, job);
  else
    for (long j = 0; j < jobs; ++j) job(j, 0);
}

// dW^T [Co x K] = dy^T [Co x M] * im2col(x) [M x K], accumulated per thread over chunks of output
// pixels, then summed and transposed into dW [K x Co]. The im2col columns are the vector (B)
// operand: each NR-wide slice of an im2col row is one contiguous run of the input per filter tap
// (when Ci is a multiple of NR), copied into an aligned panel that stays in L1 while all the
// output-channel row groups use it. dy needs no copy: MR consecutive channels of one pixel are
// MR consecutive floats (stride Co between pixels).
void conv2d_backprop_filter(const ConvParams& p, const float* x, const float* dy, float* dw) {
  const long M = p.B * p.Ho * p.Wo, K = p.kh * p.kw * p.Ci, N = p.Co;
  const long Kp = (K + NR - 1) / NR * NR;
  const long np = Kp / NR;
  const int T = (2.0 * M * N * K > 2e6) ? pool().size() : 1;
  long mc = 128;  // the im2col panel (mc x NR floats, 16 KB) stays in L1
  mc = std::min(mc, std::max<long>(16, (M + 2 * T - 1) / (2 * T)));
  const long jobs = (M + mc - 1) / mc;
  // Runs of each panel: column range [k, k+len) of one tap (r, s) starting at channel ci.
  struct Run {
    int r, s, ci, len, off;
    int t;      // tap index r*kw + s
    long toff;  // offset of (r, s, ci) from the pixel's tap (0, 0) in x
  };
  std::vector<std::vector<Run>> runs(np);
  for (long q = 0; q < np; ++q) {
    long k = q * NR;
    const long kend = std::min(K, k + NR);
    while (k < kend) {
      const long tap = k / p.Ci, ci = k - tap * p.Ci;
      const long len = std::min(p.Ci - ci, kend - k);
      const long r = tap / p.kw, s2 = tap % p.kw;
      runs[q].push_back(Run{(int)r, (int)s2, (int)ci, (int)len, (int)(k - q * NR), (int)tap,
                            (r * p.dh * p.W + s2 * p.dw) * p.Ci + ci});
      k += len;
    }
  }
  // Runs that are contiguous both in the panel and in x (consecutive taps of one filter row with
  // dilation 1) are merged; a merged run is copied at once when all its taps are in the image.
  struct Merged {
    int first, count;  // runs[q][first .. first+count)
    uint64_t mask;     // taps it covers
  };
  std::vector<std::vector<Merged>> merged(np);
  for (long q = 0; q < np; ++q) {
    const std::vector<Run>& rq = runs[q];
    for (int i = 0; i < (int)rq.size(); ++i) {
      const uint64_t bit = rq[i].t < 64 ? uint64_t(1) << rq[i].t : 0;
      if (!merged[q].empty()) {
        Merged& m = merged[q].back();
        const Run& last = rq[m.first + m.count - 1];
        if (rq[i].off == last.off + last.len && rq[i].toff == last.toff + last.len) {
          ++m.count;
          m.mask |= bit;
          continue;
        }
      }
      merged[q].push_back(Merged{i, 1, bit});
    }
  }
  std::vector<float> partialStore((size_t)T * N * Kp, 0.f);
  const long taps = p.kh * p.kw;
  const bool fastMask = taps <= 64;
  auto job = [&](long j, int tid) {
    const long m0 = j * mc, len = std::min(M, m0 + mc) - m0;
    float* bp = scratch(2, (size_t)len * NR + 16);
    float* acc = partialStore.data() + (size_t)tid * N * Kp;
    // dy^T chunk in MR-interleaved panels: ap[g*len*MR + k*MR + i] = dy[m0 + k, g*MR + i].
    const long groups = (N + MR - 1) / MR;
    float* ap = scratch(6, (size_t)groups * len * MR + 16);
    const long fullGroups = N / MR;
    const int tail = (int)(N - fullGroups * MR);
    for (long k = 0; k < len; ++k) {
      const float* src = dy + (m0 + k) * N;
      float* d = ap + k * MR;
      for (long g = 0; g < fullGroups; ++g) std::memcpy(d + g * len * MR, src + g * MR, sizeof(float) * MR);
      if (tail > 0) {
        float* dt = d + fullGroups * len * MR;
        const float* st = src + fullGroups * MR;
        for (int i = 0; i < tail; ++i) dt[i] = st[i];
        for (int i = tail; i < MR; ++i) dt[i] = 0.f;  // rows past N: computed, never stored
      }
    }
    // Per pixel of the chunk: offset of its tap (0, 0) in x and a bit per tap inside the image.
    long* base = reinterpret_cast<long*>(scratch(7, (size_t)len * 2 + 16));
    uint64_t* valid = reinterpret_cast<uint64_t*>(scratch(3, (size_t)len * 2 + 16));
    {
      Pixel px(p, m0);
      for (long m = 0; m < len; ++m, px.next(p)) {
        const long ih0 = px.oh * p.sh - p.pt, iw0 = px.ow * p.sw - p.pl;
        base[m] = ((px.b * p.H + ih0) * p.W + iw0) * p.Ci;
        uint64_t v = 0;
        if (fastMask) {
          for (long r = 0; r < p.kh; ++r) {
            const long ih = ih0 + r * p.dh;
            if (ih < 0 || ih >= p.H) continue;
            for (long s2 = 0; s2 < p.kw; ++s2) {
              const long iw = iw0 + s2 * p.dw;
              if (iw >= 0 && iw < p.W) v |= uint64_t(1) << (r * p.kw + s2);
            }
          }
        }
        valid[m] = v;
      }
    }
    const float* ptrs[MR];
    Epilogue e;
    e.beta = 1.f;
    for (long q = 0; q < np; ++q) {
      const std::vector<Run>& rq = runs[q];
      const int used = rq.empty() ? 0 : rq.back().off + rq.back().len;
      if (fastMask && rq.size() == 1 && rq[0].len == NR) {
        // One tap, NR channels: a 128-byte copy (or zeros) per pixel.
        const Run& r = rq[0];
        for (long m = 0; m < len; ++m) {
          float* d = bp + m * NR;
          if ((valid[m] >> r.t) & 1)
            std::memcpy(d, x + base[m] + r.toff, sizeof(float) * NR);
          else
            std::memset(d, 0, sizeof(float) * NR);
        }
      } else if (fastMask) {
        const std::vector<Merged>& mq = merged[q];
        for (long m = 0; m < len; ++m) {
          float* d = bp + m * NR;
          const uint64_t v = valid[m];
          const float* xm = x + base[m];
          for (const Merged& g : mq) {
            if ((v & g.mask) == g.mask) {
              const Run& r0 = rq[g.first];
              const Run& r1 = rq[g.first + g.count - 1];
              copy_floats(d + r0.off, xm + r0.toff, r1.off + r1.len - r0.off);
              continue;
            }
            for (int k = g.first; k < g.first + g.count; ++k) {
              const Run& r = rq[k];
              if ((v >> r.t) & 1)
                copy_floats(d + r.off, xm + r.toff, r.len);
              else
                zero_floats(d + r.off, r.len);
            }
          }
          zero_floats(d + used, NR - used);
        }
      } else {
        Pixel px(p, m0);
        for (long m = 0; m < len; ++m, px.next(p)) {
          float* d = bp + m * NR;
          const float* xb = x + px.b * p.H * p.W * p.Ci;
          for (const Run& r : rq) {
            const long ih = px.oh * p.sh - p.pt + r.r * p.dh;
            const long iw = px.ow * p.sw - p.pl + r.s * p.dw;
            if (ih >= 0 && ih < p.H && iw >= 0 && iw < p.W) {
              const float* src = xb + (ih * p.W + iw) * p.Ci + r.ci;
              for (int c = 0; c < r.len; ++c) d[r.off + c] = src[c];
            } else {
              for (int c = 0; c < r.len; ++c) d[r.off + c] = 0.f;
            }
          }
          for (int c = used; c < NR; ++c) d[c] = 0.f;
        }
      }
      for (long co = 0; co < N; co += MR) {
        const int mr = (int)std::min<long>(MR, N - co);
        const float* apg = ap + (co / MR) * len * MR;
        for (int i = 0; i < MR; ++i) ptrs[i] = apg + i;
        ukr(1, len, ptrs, MR, bp, NR, acc + co * Kp + q * NR, Kp, mr, NR, e);
      }
    }
  };
  if (T > 1)
    pool().parallel_for(jobs, job);
  else
    for (long j = 0; j < jobs; ++j) job(j, 0);
  // dw[k, co] = sum_t partial_t[co, k]
  auto reduce = [&](long k, int) {
    float* d = dw + k * N;
    for (long co = 0; co < N; ++co) {
      float v = 0.f;
      for (int t = 0; t < T; ++t) v += partialStore[(size_t)t * N * Kp + co * Kp + k];
      d[co] = v;
    }
  };
  if (T > 1 && K * N > 16384)
    pool().parallel_for(K, reduce);
  else
    for (long k = 0; k < K; ++k) reduce(k, 0);
}

void conv2d_backprop_input(const ConvParams& p, const float* dy, const float* w, float* dx) {
  const long K = p.kh * p.kw * p.Ci;  // columns of dcol
  if (p.sh == 1 && p.sw == 1) {
    // dx = conv(dy, w'), w'[r', s', co, ci] = w[kh-1-r', kw-1-s', ci, co], stride 1, same dilation,
    // pads dh*(kh-1) - pt (may be negative: the indirection handles any offset).
    std::vector<float> wt((size_t)K * p.Co);
    for (long r = 0; r < p.kh; ++r)
      for (long s = 0; s < p.kw; ++s) {
        const float* src = w + ((p.kh - 1 - r) * p.kw + (p.kw - 1 - s)) * p.Ci * p.Co;
        float* d = wt.data() + (r * p.kw + s) * p.Co * p.Ci;
        for (long ci = 0; ci < p.Ci; ++ci)
          for (long co = 0; co < p.Co; ++co) d[co * p.Ci + ci] = src[ci * p.Co + co];
      }
    ConvParams q;
    q.B = p.B;
    q.H = p.Ho;
    q.W = p.Wo;
    q.Ci = p.Co;
    q.Ho = p.H;
    q.Wo = p.W;
    q.Co = p.Ci;
    q.kh = p.kh;
    q.kw = p.kw;
    q.sh = q.sw = 1;
    q.dh = p.dh;
    q.dw = p.dw;
    q.pt = p.dh * (p.kh - 1) - p.pt;
    q.pl = p.dw * (p.kw - 1) - p.pl;
    conv2d_forward(q, dy, wt.data(), nullptr, dx, ACT_LINEAR);
    return;
  }
  // General stride: dcol = dy W^T per block of output pixels, then col2im per image.
  const long Kp = (K + NR - 1) / NR * NR;
  const long Mimg = p.Ho * p.Wo;
  const int T = pool().size();
  float* packBuf = scratch(0, packed_b_size(p.Co, K));
  const BPanels bp = prepare_b(w, p.Co, true, p.Co, K, packBuf, T > 1);
  const long np = bp.panels();
  const long MC = std::max<long>(MR, std::min<long>(128, Mimg) / MR * MR);
  auto job = [&](long b, int) {
    float* dxb = dx + b * p.H * p.W * p.Ci;
    std::memset(dxb, 0, sizeof(float) * p.H * p.W * p.Ci);
    float* dcol = scratch(1, (size_t)MC * Kp);
    const float* ptrs[MR];
    for (long m0 = 0; m0 < Mimg; m0 += MC) {
      const long len = std::min(MC, Mimg - m0);
      for (long m = 0; m < len; m += MR) {
        const int mr = (int)std::min<long>(MR, len - m);
        for (int i = 0; i < MR; ++i)
          ptrs[i] = dy + (b * Mimg + m0 + m + (i < mr ? i : mr - 1)) * p.Co;
        for (long q = 0; q < np; ++q) {
          Epilogue e;
          ukr(1, p.Co, ptrs, 1, bp.panel(q), bp.ld, dcol + m * Kp + q * NR, Kp, mr, NR, e);
        }
      }
      long oh = m0 / p.Wo, ow = m0 - (m0 / p.Wo) * p.Wo;
      for (long m = 0; m < len; ++m, ow = (ow + 1 == p.Wo) ? (++oh, 0) : ow + 1) {
        const float* src = dcol + m * Kp;
        for (long r = 0; r < p.kh; ++r) {
          const long ih = oh * p.sh - p.pt + r * p.dh;
          if (ih < 0 || ih >= p.H) continue;
          for (long s = 0; s < p.kw; ++s) {
            const long iw = ow * p.sw - p.pl + s * p.dw;
            if (iw < 0 || iw >= p.W) continue;
            float* d = dxb + (ih * p.W + iw) * p.Ci;
            const float* sv = src + (r * p.kw + s) * p.Ci;
            for (long ci = 0; ci < p.Ci; ++ci) d[ci] += sv[ci];
          }
        }
      }
    }
  };
  if (T > 1 && p.B > 1)
    pool().parallel_for(p.B, job);
  else
    for (long b = 0; b < p.B; ++b) job(b, 0);
}

}  // namespace cs
