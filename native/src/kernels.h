// Kernels built on the GEMM microkernel: batched GEMM, convolutions, batch norm, elementwise.
#pragma once

namespace cs {

// C_b = alpha op(A_b) op(B_b) + beta C_b (+ bias, act) for b < batch; operand b starts at
// X + b*strideX (stride 0 broadcasts).
void batched_sgemm(long batch, long M, long N, long K, const float* A, long lda, long strideA,
                   bool transA, const float* B, long ldb, long strideB, bool transB, float* C,
                   long ldc, long strideC, float alpha, float beta, const float* bias, int act);

}  // namespace cs

namespace cs {

// NHWC convolution geometry, as computed by tfjs' backend_util.computeConv2DInfo.
struct ConvParams {
  long B, H, W, Ci;    // input  [B, H, W, Ci]
  long Ho, Wo, Co;     // output [B, Ho, Wo, Co]
  long kh, kw;         // filter [kh, kw, Ci, Co]
  long sh, sw, dh, dw; // strides, dilations
  long pt, pl;         // top and left padding (bottom/right follow from the output size)
};

// y = act(conv(x, w) + bias). bias may be null.
void conv2d_forward(const ConvParams& p, const float* x, const float* w, const float* bias,
                    float* y, int act);
// dw[kh, kw, Ci, Co] = sum over batch and output pixels of x-patch * dy.
void conv2d_backprop_filter(const ConvParams& p, const float* x, const float* dy, float* dw);
// dx[B, H, W, Ci] from dy[B, Ho, Wo, Co] and w.
void conv2d_backprop_input(const ConvParams& p, const float* dy, const float* w, float* dx);

// Fused training batch norm over rows R of C channels (x is [R, C]); biased variance.
void bn_train_forward(long R, long C, const float* x, const float* gamma, const float* beta,
                      float eps, bool relu, float* y, float* mean, float* var);
void bn_train_backward(long R, long C, const float* dy, const float* x, const float* gamma,
                       const float* beta, const float* mean, const float* var, float eps, bool relu,
                       float* dx, float* dgamma, float* dbeta);

}  // namespace cs
