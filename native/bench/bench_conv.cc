// Developer micro-benchmark of the native kernels without Node: single-thread CPU time of the
// reference CNN's conv layers (forward, backprop filter, backprop input) and batch norm, plus the
// microkernel alone. CPU time of this thread, so other load on the machine matters less (not
// entirely: shared cores and turbo still move the numbers; compare variants in one run).
//
//   g++ -std=c++17 -O3 -march=native -pthread -Inative/src native/bench/bench_conv.cc \
//       native/src/{gemm,threadpool,conv,bn,batched_gemm}.cc -o /tmp/bench_conv && /tmp/bench_conv
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "gemm.h"
#include "kernels.h"
#include "threadpool.h"

using namespace cs;

static double tcpu() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

// GFLOP/s of the microkernel on L1-resident operands (A packed, B panel), the practical peak.
static double ukr_peak(long L = 128) {
  std::vector<float> A(MR * L + 64, 0.5f), B(L * NR + 64, 0.25f), C(MR * NR + 64);
  float* Bal = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(B.data()) + 63) & ~uintptr_t(63));
  const float* pp[MR];
  for (int i = 0; i < MR; ++i) pp[i] = A.data() + i;
  Epilogue e;
  const long R = 20000000L / (L * MR * NR) + 1;
  double best = 1e9;
  for (int rep = 0; rep < 3; ++rep) {
    const double t = tcpu();
    for (long r = 0; r < R; ++r) ukr(1, L, pp, MR, Bal, NR, C.data(), NR, MR, NR, e);
    best = std::min(best, tcpu() - t);
  }
  return 2.0 * MR * NR * L * R / best / 1e9;
}

int main() {
  set_threads(1);
  const long layers[6][4] = {{32, 3, 32, 1}, {32, 32, 32, 1}, {32, 32, 64, 2}, {16, 64, 64, 1}, {16, 64, 128, 2}, {8, 128, 128, 1}};
  double tot[3] = {0, 0, 0};
  std::printf("microkernel %dx%d on L1 data: %.1f GFLOP/s\n", MR, NR, ukr_peak());
  for (const auto& l : layers) {
    ConvParams p;
    p.B = 64;
    p.H = p.W = l[0];
    p.Ci = l[1];
    p.Co = l[2];
    p.kh = p.kw = 3;
    p.sh = p.sw = l[3];
    p.dh = p.dw = 1;
    p.Ho = p.Wo = l[0] / l[3];
    p.pt = p.pl = l[3] == 1 ? 1 : 0;
    std::vector<float> x(p.B * p.H * p.W * p.Ci, 0.5f), w(9 * p.Ci * p.Co, 0.25f), y(p.B * p.Ho * p.Wo * p.Co, 0.1f),
        dx(x.size()), dw(w.size());
    const double fl = 2.0 * p.B * p.Ho * p.Wo * p.Co * 9 * p.Ci;
    double best[3] = {1e9, 1e9, 1e9};
    const double pk = ukr_peak();
    for (int r = 0; r < 4; ++r) {
      double t = tcpu();
      conv2d_forward(p, x.data(), w.data(), nullptr, y.data(), 0);
      best[0] = std::min(best[0], tcpu() - t);
      t = tcpu();
      conv2d_backprop_filter(p, x.data(), y.data(), dw.data());
      best[1] = std::min(best[1], tcpu() - t);
      t = tcpu();
      conv2d_backprop_input(p, y.data(), w.data(), dx.data());
      best[2] = std::min(best[2], tcpu() - t);
    }
    std::printf("%2ldx%2ldx%3ld->%3ld/%ld ukr %5.1f | fwd %5.1f GF/s %6.2f ms | bwdF %5.1f %6.2f ms | bwdI %5.1f %6.2f ms\n",
                l[0], l[0], l[1], l[2], l[3], pk, fl / best[0] / 1e9, best[0] * 1e3, fl / best[1] / 1e9, best[1] * 1e3,
                fl / best[2] / 1e9, best[2] * 1e3);
    for (int i = 0; i < 3; ++i) tot[i] += best[i];
  }
  std::printf("total single-thread ms: fwd %.1f  bwd-filter %.1f  bwd-input %.1f\n", tot[0] * 1e3, tot[1] * 1e3, tot[2] * 1e3);
  for (long C : {32L, 64L, 128L}) {
    const long R = 64L * 32 * 32 * 32 / C;
    std::vector<float> x(R * C), y(R * C), g(C, 1), b(C, 0), m(C), v(C), dx(R * C), dg(C), db(C);
    for (long i = 0; i < R * C; ++i) x[i] = (i % 7) * 0.1f;
    double bf = 1e9, bb = 1e9;
    for (int r = 0; r < 4; ++r) {
      double t = tcpu();
      bn_train_forward(R, C, x.data(), g.data(), b.data(), 1e-5f, true, y.data(), m.data(), v.data());
      bf = std::min(bf, tcpu() - t);
      t = tcpu();
      bn_train_backward(R, C, y.data(), x.data(), g.data(), b.data(), m.data(), v.data(), 1e-5f, true, dx.data(), dg.data(), db.data());
      bb = std::min(bb, tcpu() - t);
    }
    std::printf("batch norm %ld x %ld: forward %.2f ms, backward %.2f ms\n", R, C, bf * 1e3, bb * 1e3);
  }
}
