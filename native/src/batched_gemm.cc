#include "gemm.h"
#include "kernels.h"
#include "threadpool.h"

namespace cs {

void batched_sgemm(long batch, long M, long N, long K, const float* A, long lda, long strideA,
                   bool transA, const float* B, long ldb, long strideB, bool transB, float* C,
                   long ldc, long strideC, float alpha, float beta, const float* bias, int act) {
  const double flopsEach = 2.0 * M * N * K;
  const int T = pool().size();
  if (batch == 1 || flopsEach > 4e6 || batch < T) {
    for (long b = 0; b < batch; ++b)
      sgemm(M, N, K, A + b * strideA, lda, transA, B + b * strideB, ldb, transB, C + b * strideC,
            ldc, alpha, beta, bias, act, true);
    return;
  }
  // Many small products: one per job, each single-threaded.
  pool().parallel_for(batch, [&](long b, int) {
    sgemm(M, N, K, A + b * strideA, lda, transA, B + b * strideB, ldb, transB, C + b * strideC, ldc,
          alpha, beta, bias, act, false);
  });
}

}  // namespace cs
