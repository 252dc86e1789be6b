#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "threadpool.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace cs {

// ---------------------------------------------------------------------------------------------
// Scratch
namespace {
struct Scratch {
  float* p[8] = {nullptr};
  size_t n[8] = {0};
  ~Scratch() {
    for (auto* q : p) std::free(q);
  }
};
thread_local Scratch tl_scratch;
}  // namespace

float* scratch(int slot, size_t floats) {
  Scratch& s = tl_scratch;
  if (s.n[slot] < floats) {
    std::free(s.p[slot]);
    size_t cap = floats + floats / 4 + 64;
    size_t bytes = ((cap * sizeof(float)) + 63) / 64 * 64;
    s.p[slot] = static_cast<float*>(std::aligned_alloc(64, bytes));
    s.n[slot] = s.p[slot] ? cap : 0;
  }
  return s.p[slot];
}

// ---------------------------------------------------------------------------------------------
// Microkernels
#if defined(__AVX512F__)

static inline __mmask16 mask16(int n) {
  return n >= 16 ? (__mmask16)0xFFFF : (n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1));
}

#define CS_ZERO2(I) __m512 c##I##0 = _mm512_setzero_ps(), c##I##1 = _mm512_setzero_ps();
#define CS_PTR(I) const float* a##I = a[s * MR + (I)];
#define CS_ROW(I)                              \
  av = _mm512_set1_ps(a##I[off]);              \
  c##I##0 = _mm512_fmadd_ps(av, b0, c##I##0); \
  c##I##1 = _mm512_fmadd_ps(av, b1, c##I##1);
#define CS_ACC(I) {c##I##0, c##I##1},
#if CS_MR512 == 8
#define CS_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#elif CS_MR512 == 12
#define CS_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#elif CS_MR512 == 14
#define CS_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)
#else
#error "CS_MR512 must be 8, 12 or 14"
#endif

template <bool UNIT>
static inline void ukr_impl(int nseg, long L, const float* const* a, long acs, const float* b,
                            long ldb, float* c, long ldc, int mr, int nr, const Epilogue& e) {
  CS_ROWS(CS_ZERO2)
  for (int s = 0; s < nseg; ++s) {
    CS_ROWS(CS_PTR)
    long off = 0;
    const long step = UNIT ? 1 : acs;
    for (long k = 0; k < L; ++k, off += step, b += ldb) {
      const __m512 b0 = _mm512_loadu_ps(b);
      const __m512 b1 = _mm512_loadu_ps(b + 16);
      __m512 av;
      CS_ROWS(CS_ROW)
    }
  }
  const __m512 alpha = _mm512_set1_ps(e.alpha);
  const __m512 beta = _mm512_set1_ps(e.beta);
  const __mmask16 m0 = mask16(nr), m1 = mask16(nr - 16);
  __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
  if (e.bias) {
    bias0 = _mm512_maskz_loadu_ps(m0, e.bias);
    bias1 = _mm512_maskz_loadu_ps(m1, e.bias + 16);
  }
  const bool relu = e.act == ACT_RELU;
  const bool useBeta = e.beta != 0.f;
  const bool unitAlpha = e.alpha == 1.f;
  __m512 acc[MR][2] = {CS_ROWS(CS_ACC)};
  for (int i = 0; i < mr; ++i) {
    float* ci = c + i * ldc;
    __m512 v0 = acc[i][0], v1 = acc[i][1];
    if (!unitAlpha) {
      v0 = _mm512_mul_ps(v0, alpha);
      v1 = _mm512_mul_ps(v1, alpha);
    }
    if (useBeta) {
      v0 = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(m0, ci), v0);
      v1 = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(m1, ci + 16), v1);
    }
    v0 = _mm512_add_ps(v0, bias0);
    v1 = _mm512_add_ps(v1, bias1);
    if (relu) {
      v0 = _mm512_max_ps(v0, _mm512_setzero_ps());
      v1 = _mm512_max_ps(v1, _mm512_setzero_ps());
    }
    _mm512_mask_storeu_ps(ci, m0, v0);
    _mm512_mask_storeu_ps(ci + 16, m1, v1);
  }
}

#elif defined(__AVX2__) && defined(__FMA__)

template <bool UNIT>
static inline void ukr_impl(int nseg, long L, const float* const* a, long acs, const float* b,
                            long ldb, float* c, long ldc, int mr, int nr, const Epilogue& e) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int s = 0; s < nseg; ++s) {
    const float* a0 = a[s * MR + 0];
    const float* a1 = a[s * MR + 1];
    const float* a2 = a[s * MR + 2];
    const float* a3 = a[s * MR + 3];
    const float* a4 = a[s * MR + 4];
    const float* a5 = a[s * MR + 5];
    long off = 0;
    const long step = UNIT ? 1 : acs;
    for (long k = 0; k < L; ++k, off += step, b += ldb) {
      const __m256 b0 = _mm256_loadu_ps(b);
      const __m256 b1 = _mm256_loadu_ps(b + 8);
      __m256 av;
#define CS_ROW(I)                              \
  av = _mm256_broadcast_ss(a##I + off);        \
  c##I##0 = _mm256_fmadd_ps(av, b0, c##I##0); \
  c##I##1 = _mm256_fmadd_ps(av, b1, c##I##1);
      CS_ROW(0) CS_ROW(1) CS_ROW(2) CS_ROW(3) CS_ROW(4) CS_ROW(5)
#undef CS_ROW
    }
  }
  alignas(32) float tile[MR][NR];
  _mm256_store_ps(tile[0], c00); _mm256_store_ps(tile[0] + 8, c01);
  _mm256_store_ps(tile[1], c10); _mm256_store_ps(tile[1] + 8, c11);
  _mm256_store_ps(tile[2], c20); _mm256_store_ps(tile[2] + 8, c21);
  _mm256_store_ps(tile[3], c30); _mm256_store_ps(tile[3] + 8, c31);
  _mm256_store_ps(tile[4], c40); _mm256_store_ps(tile[4] + 8, c41);
  _mm256_store_ps(tile[5], c50); _mm256_store_ps(tile[5] + 8, c51);
  for (int i = 0; i < mr; ++i) {
    float* ci = c + i * ldc;
    for (int j = 0; j < nr; ++j) {
      float v = e.alpha * tile[i][j];
      if (e.beta != 0.f) v += e.beta * ci[j];
      if (e.bias) v += e.bias[j];
      if (e.act == ACT_RELU && v < 0.f) v = 0.f;
      ci[j] = v;
    }
  }
}

#else

template <bool UNIT>
static inline void ukr_impl(int nseg, long L, const float* const* a, long acs, const float* b,
                            long ldb, float* c, long ldc, int mr, int nr, const Epilogue& e) {
  float tile[MR][NR] = {{0}};
  for (int s = 0; s < nseg; ++s) {
    const float* ap[MR];
    for (int i = 0; i < MR; ++i) ap[i] = a[s * MR + i];
    long off = 0;
    const long step = UNIT ? 1 : acs;
    for (long k = 0; k < L; ++k, off += step, b += ldb) {
      for (int i = 0; i < MR; ++i) {
        const float av = ap[i][off];
        for (int j = 0; j < NR; ++j) tile[i][j] += av * b[j];
      }
    }
  }
  for (int i = 0; i < mr; ++i) {
    float* ci = c + i * ldc;
    for (int j = 0; j < nr; ++j) {
      float v = e.alpha * tile[i][j];
      if (e.beta != 0.f) v += e.beta * ci[j];
      if (e.bias) v += e.bias[j];
      if (e.act == ACT_RELU && v < 0.f) v = 0.f;
      ci[j] = v;
    }
  }
}

#endif

void ukr(int nseg, long L, const float* const* a, long acs, const float* b, long ldb, float* c,
         long ldc, int mr, int nr, const Epilogue& e) {
  if (acs == 1)
    ukr_impl<true>(nseg, L, a, 1, b, ldb, c, ldc, mr, nr, e);
  else
    ukr_impl<false>(nseg, L, a, acs, b, ldb, c, ldc, mr, nr, e);
}

// ---------------------------------------------------------------------------------------------
// B packing
void pack_b_panel(const float* B, long ldb, bool transB, long K, long N, long q, float* dst) {
  const long n0 = q * NR;
  const long nl = std::min<long>(NR, N - n0);
  if (!transB) {
    for (long k = 0; k < K; ++k) {
      const float* src = B + k * ldb + n0;
      float* d = dst + k * NR;
      std::memcpy(d, src, nl * sizeof(float));
      for (long j = nl; j < NR; ++j) d[j] = 0.f;
    }
  } else {
    // B stored N x K: column j of op(B) is row (n0 + j) of B.
    if (nl < NR) std::memset(dst, 0, sizeof(float) * K * NR);
    const long KB = 64;
    for (long k0 = 0; k0 < K; k0 += KB) {
      const long k1 = std::min(K, k0 + KB);
      for (long j = 0; j < nl; ++j) {
        const float* src = B + (n0 + j) * ldb;
        for (long k = k0; k < k1; ++k) dst[k * NR + j] = src[k];
      }
    }
  }
}

// Always pack: tensors in the wasm heap are only 8/16-byte aligned, and unaligned 64-byte loads
// of B rows split cache lines on every iteration of the microkernel. Packing B (the small
// operand: weights, or a block reused across many A panels) into 64-byte aligned panels is cheap.
bool b_needs_pack(bool transB, long N, long ldb) {
  (void)transB;
  (void)N;
  (void)ldb;
  return true;
}

BPanels prepare_b(const float* B, long ldb, bool transB, long K, long N, float* packBuf,
                  bool parallel) {
  BPanels p;
  p.K = K;
  p.N = N;
  if (!b_needs_pack(transB, N, ldb)) {
    p.base = B;
    p.ld = ldb;
    p.panelStride = NR;
    return p;
  }
  const long np = (N + NR - 1) / NR;
  auto job = [&](long q, int) { pack_b_panel(B, ldb, transB, K, N, q, packBuf + q * K * NR); };
  if (parallel && K * N > 32768)
    pool().parallel_for(np, job);
  else
    for (long q = 0; q < np; ++q) job(q, 0);
  p.base = packBuf;
  p.ld = NR;
  p.panelStride = K * NR;
  return p;
}

// ---------------------------------------------------------------------------------------------
// Driver
namespace {
constexpr long KC = 2048;  // B panel chunk (KC x NR floats) stays in L2

// Packs rows [m0, m0+mc) x k in [k0, k0+kc) of op(A) into MR-interleaved panels:
// panel p holds dst[p*kc*MR + k*MR + i] = op(A)(m0 + p*MR + i, k0 + k) (rows past mc repeat).
void pack_a(const float* A, long lda, bool transA, long m0, long mc, long k0, long kc, float* dst) {
  for (long p = 0; p < mc; p += MR) {
    const int mr = (int)std::min<long>(MR, mc - p);
    float* d = dst + (p / MR) * kc * MR;
    if (transA) {
      for (long k = 0; k < kc; ++k) {
        const float* src = A + (k0 + k) * lda + m0 + p;
        for (int i = 0; i < MR; ++i) d[k * MR + i] = src[i < mr ? i : mr - 1];
      }
    } else {
      for (int i = 0; i < MR; ++i) {
        const float* src = A + (m0 + p + (i < mr ? i : mr - 1)) * lda + k0;
        for (long k = 0; k < kc; ++k) d[k * MR + i] = src[k];
      }
    }
  }
}

// Runs rows [m0, m1) and panels [q0, q1) of C. A is packed into L2-sized blocks when each block
// is reused by enough B panels to pay for the copy (it also avoids 4K-aliasing of long rows).
void gemm_block(long m0, long m1, long q0, long q1, long K, const float* A, long lda, bool transA,
                const BPanels& bp, float* C, long ldc, float alpha, float beta, const float* bias,
                int act, long KCb) {
  const long N = bp.N;
  const bool packA = (q1 - q0) >= 8 && K >= 64;
  const float* ptrs[MR];
  float* apack = packA ? scratch(1, (size_t)(((m1 - m0 + MR - 1) / MR) * MR) * KCb) : nullptr;
  for (long k0 = 0; k0 < K; k0 += KCb) {
    const long kc = std::min(KCb, K - k0);
    const bool last = k0 + kc >= K;
    Epilogue e;
    e.alpha = alpha;
    e.beta = k0 == 0 ? beta : 1.f;
    e.act = last ? act : ACT_LINEAR;
    if (packA) {
      // BLIS-style order: the A micro-panel (MR x kc, 18 KB at kc = 384) stays in L1 while a
      // block of B panels (kc x NR each, ~384 KB in all) streams from L2.
      pack_a(A, lda, transA, m0, m1 - m0, k0, kc, apack);
      const long QB = std::max<long>(1, (384 * 1024) / (kc * NR * (long)sizeof(float)));
      for (long qb = q0; qb < q1; qb += QB) {
        const long qe = std::min(q1, qb + QB);
        for (long m = m0; m < m1; m += MR) {
          const int mr = (int)std::min<long>(MR, m1 - m);
          const float* ap = apack + ((m - m0) / MR) * kc * MR;
          for (int i = 0; i < MR; ++i) ptrs[i] = ap + i;
          for (long q = qb; q < qe; ++q) {
            const long n0 = q * NR;
            e.bias = (last && bias) ? bias + n0 : nullptr;
            ukr(1, kc, ptrs, MR, bp.panel(q) + k0 * bp.ld, bp.ld, C + m * ldc + n0, ldc, mr,
                (int)std::min<long>(NR, N - n0), e);
          }
        }
      }
      continue;
    }
    for (long q = q0; q < q1; ++q) {
      const long n0 = q * NR;
      const int nr = (int)std::min<long>(NR, N - n0);
      const float* bpan = bp.panel(q) + k0 * bp.ld;
      e.bias = (last && bias) ? bias + n0 : nullptr;
      for (long m = m0; m < m1; m += MR) {
        const int mr = (int)std::min<long>(MR, m1 - m);
        for (int i = 0; i < MR; ++i) {
          const long row = m + (i < mr ? i : mr - 1);
          ptrs[i] = transA ? A + k0 * lda + row : A + row * lda + k0;
        }
        ukr(1, kc, ptrs, transA ? lda : 1, bpan, bp.ld, C + m * ldc + n0, ldc, mr, nr, e);
      }
    }
  }
}
}  // namespace

void sgemm(long M, long N, long K, const float* A, long lda, bool transA, const float* B, long ldb,
           bool transB, float* C, long ldc, float alpha, float beta, const float* bias, int act,
           bool parallel) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    // C = beta*C + bias, activation.
    for (long i = 0; i < M; ++i)
      for (long j = 0; j < N; ++j) {
        float v = beta == 0.f ? 0.f : beta * C[i * ldc + j];
        if (bias) v += bias[j];
        if (act == ACT_RELU && v < 0.f) v = 0.f;
        C[i * ldc + j] = v;
      }
    return;
  }
  const double flops = 2.0 * M * N * K;
  const int T = parallel && flops > 2e6 ? pool().size() : 1;
  float* packBuf = b_needs_pack(transB, N, ldb) ? scratch(0, packed_b_size(K, N)) : nullptr;
  BPanels bp = prepare_b(B, ldb, transB, K, N, packBuf, T > 1);
  const long np = bp.panels();
  // A rows of one block (MC x min(K, KC)) should stay in L2 while the panels stream.
  const long KCb = np >= 8 ? 384 : KC;
  long kk = std::min(K, KCb);
  long MC = std::max<long>(MR, std::min<long>(256, (256 * 1024) / (4 * kk)) / MR * MR);
  // Enough jobs to balance threads.
  if (T > 1) {
    const long want = 4 * T;
    while (MC > MR && ((M + MC - 1) / MC) * np < want) MC = std::max<long>(MR, (MC / 2) / MR * MR);
  }
  const long mb = (M + MC - 1) / MC;
  // Split panels too when M is short.
  const long qsplit = (T > 1 && mb < 2 * T) ? std::min<long>(np, (2 * T + mb - 1) / mb) : 1;
  const long qper = (np + qsplit - 1) / qsplit;
  const long jobs = mb * qsplit;
  auto job = [&](long j, int) {
    const long ib = j / qsplit, jb = j % qsplit;
    const long m0 = ib * MC, m1 = std::min(M, m0 + MC);
    const long q0 = jb * qper, q1 = std::min(np, q0 + qper);
    if (q0 < q1)
      gemm_block(m0, m1, q0, q1, K, A, lda, transA, bp, C, ldc, alpha, beta, bias, act, KCb);
  };
  if (T > 1)
    pool().parallel_for(jobs, job);
  else
    for (long j = 0; j < jobs; ++j) job(j, 0);
}

}  // namespace cs
