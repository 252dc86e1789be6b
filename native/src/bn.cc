// Fused training batch norm (+ optional ReLU) forward and backward over x [R, C].
// Statistics: per-thread partial sums over row blocks, shifted by the first row for stability,
// accumulated in float within a block of rows and in double across blocks.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"
#include "threadpool.h"

namespace cs {

namespace {
constexpr long ROWS = 64;  // rows per float-accumulated block

inline void coeffs(long C, const float* gamma, const float* beta, const float* mean, const float* var,
                   float eps, float* scale, float* shift) {
  for (long c = 0; c < C; ++c) {
    const float s = gamma[c] / std::sqrt(var[c] + eps);
    scale[c] = s;
    shift[c] = beta[c] - mean[c] * s;
  }
}

int threads_for(long R, long C) { return R * C >= 65536 ? pool().size() : 1; }
}  // namespace

void bn_train_forward(long R, long C, const float* x, const float* gamma, const float* beta,
                      float eps, bool relu, float* y, float* mean, float* var) {
  const int T = threads_for(R, C);
  const long nblocks = (R + ROWS - 1) / ROWS;
  std::vector<double> part((size_t)T * 2 * C, 0.0);
  std::vector<float> shiftv(x, x + C);  // first row
  const float* sh = shiftv.data();
  auto stats = [&](long blk, int tid) {
    const long r0 = blk * ROWS, r1 = std::min(R, r0 + ROWS);
    std::vector<float> s1(C, 0.f), s2(C, 0.f);
    float* a1 = s1.data();
    float* a2 = s2.data();
    for (long r = r0; r < r1; ++r) {
      const float* xr = x + r * C;
#pragma GCC ivdep
      for (long c = 0; c < C; ++c) {
        const float d = xr[c] - sh[c];
        a1[c] += d;
        a2[c] += d * d;
      }
    }
    double* p = part.data() + (size_t)tid * 2 * C;
    for (long c = 0; c < C; ++c) {
      p[c] += a1[c];
      p[C + c] += a2[c];
    }
  };
  if (T > 1)
    pool().parallel_for(nblocks, stats);
  else
    for (long b = 0; b < nblocks; ++b) stats(b, 0);
  for (long c = 0; c < C; ++c) {
    double s1 = 0, s2 = 0;
    for (int t = 0; t < T; ++t) {
      s1 += part[(size_t)t * 2 * C + c];
      s2 += part[(size_t)t * 2 * C + C + c];
    }
    const double m = s1 / R;
    const double v = std::max(0.0, s2 / R - m * m);
    mean[c] = (float)(sh[c] + m);
    var[c] = (float)v;
  }
  std::vector<float> scale(C), shift(C);
  coeffs(C, gamma, beta, mean, var, eps, scale.data(), shift.data());
  const float* sc = scale.data();
  const float* sf = shift.data();
  auto apply = [&](long blk, int) {
    const long r0 = blk * ROWS * 4, r1 = std::min(R, r0 + ROWS * 4);
    for (long r = r0; r < r1; ++r) {
      const float* xr = x + r * C;
      float* yr = y + r * C;
      if (relu) {
#pragma GCC ivdep
        for (long c = 0; c < C; ++c) yr[c] = std::max(__builtin_fmaf(xr[c], sc[c], sf[c]), 0.f);
      } else {
#pragma GCC ivdep
        for (long c = 0; c < C; ++c) yr[c] = __builtin_fmaf(xr[c], sc[c], sf[c]);
      }
    }
  };
  const long ablocks = (R + ROWS * 4 - 1) / (ROWS * 4);
  if (T > 1)
    pool().parallel_for(ablocks, apply);
  else
    for (long b = 0; b < ablocks; ++b) apply(b, 0);
}

void bn_train_backward(long R, long C, const float* dy, const float* x, const float* gamma,
                       const float* beta, const float* mean, const float* var, float eps, bool relu,
                       float* dx, float* dgamma, float* dbeta) {
  const int T = threads_for(R, C);
  std::vector<float> scale(C), shift(C), invstd(C);
  coeffs(C, gamma, beta, mean, var, eps, scale.data(), shift.data());
  for (long c = 0; c < C; ++c) invstd[c] = 1.f / std::sqrt(var[c] + eps);
  const float* sc = scale.data();
  const float* sf = shift.data();
  const float* mu = mean;
  const long nblocks = (R + ROWS - 1) / ROWS;
  std::vector<double> part((size_t)T * 2 * C, 0.0);
  auto sums = [&](long blk, int tid) {
    const long r0 = blk * ROWS, r1 = std::min(R, r0 + ROWS);
    std::vector<float> s1(C, 0.f), s2(C, 0.f);
    float* a1 = s1.data();
    float* a2 = s2.data();
    for (long r = r0; r < r1; ++r) {
      const float* xr = x + r * C;
      const float* gr = dy + r * C;
      if (relu) {
#pragma GCC ivdep
        for (long c = 0; c < C; ++c) {
          const float g = __builtin_fmaf(xr[c], sc[c], sf[c]) > 0.f ? gr[c] : 0.f;
          a1[c] += g;
          a2[c] += g * (xr[c] - mu[c]);
        }
      } else {
#pragma GCC ivdep
        for (long c = 0; c < C; ++c) {
          a1[c] += gr[c];
          a2[c] += gr[c] * (xr[c] - mu[c]);
        }
      }
    }
    double* p = part.data() + (size_t)tid * 2 * C;
    for (long c = 0; c < C; ++c) {
      p[c] += a1[c];
      p[C + c] += a2[c];
    }
  };
  if (T > 1)
    pool().parallel_for(nblocks, sums);
  else
    for (long b = 0; b < nblocks; ++b) sums(b, 0);
  std::vector<float> ka(C), kb(C), kc(C);
  for (long c = 0; c < C; ++c) {
    double s1 = 0, s2 = 0;
    for (int t = 0; t < T; ++t) {
      s1 += part[(size_t)t * 2 * C + c];
      s2 += part[(size_t)t * 2 * C + C + c];
    }
    dbeta[c] = (float)s1;
    dgamma[c] = (float)(s2 * invstd[c]);
    // dx = scale * (g - dbeta/R - xhat * dgamma/R), xhat = (x - mean) * invstd
    ka[c] = sc[c];
    kb[c] = (float)(sc[c] * s1 / R);
    kc[c] = (float)(sc[c] * (double)invstd[c] * (s2 * invstd[c]) / R);
  }
  const float* pa = ka.data();
  const float* pb = kb.data();
  const float* pc = kc.data();
  auto apply = [&](long blk, int) {
    const long r0 = blk * ROWS * 4, r1 = std::min(R, r0 + ROWS * 4);
    for (long r = r0; r < r1; ++r) {
      const float* xr = x + r * C;
      const float* gr = dy + r * C;
      float* dr = dx + r * C;
      if (relu) {
#pragma GCC ivdep
        for (long c = 0; c < C; ++c) {
          const float g = __builtin_fmaf(xr[c], sc[c], sf[c]) > 0.f ? gr[c] : 0.f;
          dr[c] = pa[c] * g - pb[c] - pc[c] * (xr[c] - mu[c]);
        }
      } else {
#pragma GCC ivdep
        for (long c = 0; c < C; ++c) dr[c] = pa[c] * gr[c] - pb[c] - pc[c] * (xr[c] - mu[c]);
      }
    }
  };
  const long ablocks = (R + ROWS * 4 - 1) / (ROWS * 4);
  if (T > 1)
    pool().parallel_for(ablocks, apply);
  else
    for (long b = 0; b < ablocks; ++b) apply(b, 0);
}

}  // namespace cs
