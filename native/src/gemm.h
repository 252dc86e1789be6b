// SGEMM building blocks: register-blocked microkernels (AVX-512 / AVX2+FMA / portable) and a
// multi-threaded driver. Row-major throughout: element (i, j) of a matrix X with leading
// dimension ld is X[i*ld + j].
//
// The microkernel reads A through MR row pointers (and a k-stride), never from a packed copy:
// that lets the same kernel run a plain GEMM (pointers = row starts, stride 1), a transposed A
// (pointers = column starts, stride lda), a packed panel (stride MR) and an "indirect"
// convolution (one set of MR pointers per filter tap, each pointing into the input image or at
// a zero row; Dukhan, "The Indirect Convolution Algorithm", 2019). B is read as NR-wide
// panels, packed only when the layout needs it.
#pragma once
#include <cstddef>
#include <cstdint>

namespace cs {

#if defined(__AVX512F__)
#ifndef CS_MR512
#define CS_MR512 12
#endif
constexpr int MR = CS_MR512;
constexpr int NR = 32;
constexpr const char* ISA = "avx512";
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int MR = 6;
constexpr int NR = 16;
constexpr const char* ISA = "avx2";
#else
constexpr int MR = 4;
constexpr int NR = 16;
constexpr const char* ISA = "generic";
#endif

enum Act { ACT_LINEAR = 0, ACT_RELU = 1 };

// C = act(alpha * acc + beta * C + bias[j]). beta == 0 never reads C. bias may be null.
struct Epilogue {
  float alpha = 1.f;
  float beta = 0.f;
  const float* bias = nullptr;  // already offset to the tile's first column
  int act = ACT_LINEAR;
};

// acc(i, j) = sum_{s < nseg} sum_{k < L} a[s*MR + i][k*acs] * b[(s*L + k)*ldb + j]
// for i < MR, j < NR; then stores rows i < mr and columns j < nr of C through the epilogue.
// All MR pointers of every segment must be readable for L elements (repeat a valid row for
// i >= mr). b must be readable for NR floats per row (pad panels).
void ukr(int nseg, long L, const float* const* a, long acs, const float* b, long ldb, float* c,
         long ldc, int mr, int nr, const Epilogue& e);

// Pack op(B) [K x N] (B stored K x N, or N x K when transB) into NR-wide panels: panel q
// occupies dst[q*K*NR .. (q+1)*K*NR), row k of it holds columns q*NR .. q*NR+NR-1 (zero past N).
// Returns the number of floats written. Columns [n0, n0+nlen) only when called per panel.
void pack_b_panel(const float* B, long ldb, bool transB, long K, long N, long q, float* dst);
inline long packed_b_size(long K, long N) { return ((N + NR - 1) / NR) * NR * K; }

// Aligned scratch owned by the calling thread (grows, never shrinks). slot selects one of a few
// independent buffers so one kernel can hold several at once.
float* scratch(int slot, size_t floats);

// C[M x N] = alpha * op(A) op(B) + beta * C, with optional bias (length N) and activation.
// Multi-threaded over the pool when parallel is true and the problem is large enough.
void sgemm(long M, long N, long K, const float* A, long lda, bool transA, const float* B, long ldb,
           bool transB, float* C, long ldc, float alpha, float beta, const float* bias, int act,
           bool parallel);

// B panels ready for ukr: either views into B (row-major, N multiple of NR, no transpose) or a
// packed copy. Fill with prepare_b; panel(q) gives the pointer, ld the row stride.
struct BPanels {
  const float* base = nullptr;
  long ld = 0;        // row stride of every panel
  long panelStride;   // distance between panel q and q+1
  long K = 0, N = 0;
  const float* panel(long q) const { return base + q * panelStride; }
  long panels() const { return (N + NR - 1) / NR; }
};
// Uses scratch slot `slot` of the calling thread when packing is needed; packs in parallel
// when `parallel`.
BPanels prepare_b(const float* B, long ldb, bool transB, long K, long N, float* packBuf,
                  bool parallel);
bool b_needs_pack(bool transB, long N, long ldb);

}  // namespace cs
