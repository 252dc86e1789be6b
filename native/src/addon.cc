// N-API entry points. Every kernel takes the wasm heap's ArrayBuffer plus byte offsets into it
// (zero copy: tfjs-backend-wasm keeps tensor data in its linear memory), then plain numbers.
// Offsets of -1 mean "absent" (optional bias etc.). Argument checking happens in TypeScript; here
// we only check that every range lies inside the buffer, and throw a RangeError otherwise.
#include <node_api.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "gemm.h"
#include "kernels.h"
#include "threadpool.h"

namespace {

struct Args {
  napi_env env;
  size_t argc = 0;
  napi_value argv[40];
  uint8_t* base = nullptr;
  size_t len = 0;
  bool ok = true;
  std::string err;

  Args(napi_env e, napi_callback_info info) : env(e) {
    argc = 40;
    napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  }
  bool buffer(size_t i) {
    if (i >= argc) return fail("missing heap buffer");
    bool isAb = false;
    napi_is_arraybuffer(env, argv[i], &isAb);
    if (!isAb) return fail("argument 0 must be the wasm heap ArrayBuffer");
    void* data = nullptr;
    if (napi_get_arraybuffer_info(env, argv[i], &data, &len) != napi_ok)
      return fail("cannot read ArrayBuffer");
    base = static_cast<uint8_t*>(data);
    return true;
  }
  double num(size_t i) {
    if (i >= argc) {
      fail("missing numeric argument " + std::to_string(i));
      return 0;
    }
    double v = 0;
    if (napi_get_value_double(env, argv[i], &v) != napi_ok) {
      fail("argument " + std::to_string(i) + " must be a number");
      return 0;
    }
    return v;
  }
  long integer(size_t i) { return (long)num(i); }
  // Pointer at byte offset `off` with room for `floats` floats; null when off < 0 (absent).
  float* f32(double off, double floats, bool optional = false) {
    if (off < 0) {
      if (!optional) fail("a required tensor offset is negative");
      return nullptr;
    }
    if (std::fmod(off, 4.0) != 0 || off + floats * 4 > (double)len) {
      fail("tensor range [" + std::to_string((long long)off) + ", +" +
           std::to_string((long long)(floats * 4)) + " bytes) lies outside the heap (" +
           std::to_string(len) + " bytes)");
      return nullptr;
    }
    return reinterpret_cast<float*>(base + (size_t)off);
  }
  bool fail(const std::string& m) {
    if (ok) err = m;
    ok = false;
    return false;
  }
  napi_value done() {
    if (!ok) napi_throw_range_error(env, nullptr, ("contrastream native: " + err).c_str());
    return nullptr;
  }
};

napi_value Info(napi_env env, napi_callback_info) {
  napi_value obj, v;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, cs::ISA, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "isa", v);
  napi_create_int32(env, cs::get_threads(), &v);
  napi_set_named_property(env, obj, "threads", v);
  napi_create_int32(env, cs::MR, &v);
  napi_set_named_property(env, obj, "mr", v);
  napi_create_int32(env, cs::NR, &v);
  napi_set_named_property(env, obj, "nr", v);
  return obj;
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args a(env, info);
  long n = a.integer(0);
  if (!a.ok) return a.done();
  cs::set_threads((int)n);
  napi_value v;
  napi_create_int32(env, cs::get_threads(), &v);
  return v;
}

// gemm(heap, aOff, bOff, cOff, biasOff, M, N, K, lda, ldb, ldc, transA, transB, alpha, beta, act,
//      batch, strideA, strideB, strideC)  -- strides in floats; 0 broadcasts an operand.
napi_value Gemm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.buffer(0)) return a.done();
  double aOff = a.num(1), bOff = a.num(2), cOff = a.num(3), biasOff = a.num(4);
  long M = a.integer(5), N = a.integer(6), K = a.integer(7);
  long lda = a.integer(8), ldb = a.integer(9), ldc = a.integer(10);
  bool tA = a.num(11) != 0, tB = a.num(12) != 0;
  float alpha = (float)a.num(13), beta = (float)a.num(14);
  int act = (int)a.integer(15);
  long batch = a.argc > 16 ? a.integer(16) : 1;
  long sA = a.argc > 17 ? a.integer(17) : 0, sB = a.argc > 18 ? a.integer(18) : 0;
  long sC = a.argc > 19 ? a.integer(19) : M * ldc;
  if (!a.ok) return a.done();
  if (M < 0 || N < 0 || K < 0 || batch < 1 || sA < 0 || sB < 0 || sC < 0 || lda < (tA ? M : K) ||
      ldb < (tB ? K : N) || ldc < N || lda < 1 || ldb < 1 || ldc < 1) {
    a.fail("gemm: sizes must be >= 0, batch >= 1, strides >= 0 and leading dimensions >= the row length");
    return a.done();
  }
  const double aRows = tA ? K : M, bRows = tB ? N : K;
  float* A = a.f32(aOff, (batch - 1) * (double)sA + aRows * lda);
  float* B = a.f32(bOff, (batch - 1) * (double)sB + bRows * ldb);
  float* C = a.f32(cOff, (batch - 1) * (double)sC + (double)M * ldc);
  float* bias = a.f32(biasOff, N, true);
  if (!a.ok) return a.done();
  cs::batched_sgemm(batch, M, N, K, A, lda, sA, tA, B, ldb, sB, tB, C, ldc, sC, alpha, beta, bias,
                    act);
  return nullptr;
}


bool conv_params(Args& a, size_t i, cs::ConvParams& p) {
  p.B = a.integer(i + 0);
  p.H = a.integer(i + 1);
  p.W = a.integer(i + 2);
  p.Ci = a.integer(i + 3);
  p.Ho = a.integer(i + 4);
  p.Wo = a.integer(i + 5);
  p.Co = a.integer(i + 6);
  p.kh = a.integer(i + 7);
  p.kw = a.integer(i + 8);
  p.sh = a.integer(i + 9);
  p.sw = a.integer(i + 10);
  p.dh = a.integer(i + 11);
  p.dw = a.integer(i + 12);
  p.pt = a.integer(i + 13);
  p.pl = a.integer(i + 14);
  if (!a.ok) return false;
  if (p.B < 1 || p.H < 1 || p.W < 1 || p.Ci < 1 || p.Ho < 1 || p.Wo < 1 || p.Co < 1 || p.kh < 1 ||
      p.kw < 1 || p.sh < 1 || p.sw < 1 || p.dh < 1 || p.dw < 1)
    return a.fail("convolution sizes, strides and dilations must be >= 1");
  return true;
}

// conv2d(heap, xOff, wOff, biasOff, yOff, B, H, W, Ci, Ho, Wo, Co, kh, kw, sh, sw, dh, dw, pt, pl, act)
napi_value Conv2D(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.buffer(0)) return a.done();
  cs::ConvParams p;
  if (!conv_params(a, 5, p)) return a.done();
  const int act = (int)a.integer(20);
  float* x = a.f32(a.num(1), (double)p.B * p.H * p.W * p.Ci);
  float* w = a.f32(a.num(2), (double)p.kh * p.kw * p.Ci * p.Co);
  float* bias = a.f32(a.num(3), p.Co, true);
  float* y = a.f32(a.num(4), (double)p.B * p.Ho * p.Wo * p.Co);
  if (!a.ok) return a.done();
  cs::conv2d_forward(p, x, w, bias, y, act);
  return nullptr;
}

// conv2dBackpropFilter(heap, xOff, dyOff, dwOff, ...15 geometry numbers)
napi_value Conv2DBackpropFilter(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.buffer(0)) return a.done();
  cs::ConvParams p;
  if (!conv_params(a, 4, p)) return a.done();
  float* x = a.f32(a.num(1), (double)p.B * p.H * p.W * p.Ci);
  float* dy = a.f32(a.num(2), (double)p.B * p.Ho * p.Wo * p.Co);
  float* dw = a.f32(a.num(3), (double)p.kh * p.kw * p.Ci * p.Co);
  if (!a.ok) return a.done();
  cs::conv2d_backprop_filter(p, x, dy, dw);
  return nullptr;
}

// conv2dBackpropInput(heap, dyOff, wOff, dxOff, ...15 geometry numbers)
napi_value Conv2DBackpropInput(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.buffer(0)) return a.done();
  cs::ConvParams p;
  if (!conv_params(a, 4, p)) return a.done();
  float* dy = a.f32(a.num(1), (double)p.B * p.Ho * p.Wo * p.Co);
  float* w = a.f32(a.num(2), (double)p.kh * p.kw * p.Ci * p.Co);
  float* dx = a.f32(a.num(3), (double)p.B * p.H * p.W * p.Ci);
  if (!a.ok) return a.done();
  cs::conv2d_backprop_input(p, dy, w, dx);
  return nullptr;
}

// batchNormTrain(heap, xOff, gammaOff, betaOff, yOff, meanOff, varOff, R, C, eps, relu)
napi_value BatchNormTrain(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.buffer(0)) return a.done();
  const long R = a.integer(7), C = a.integer(8);
  const float eps = (float)a.num(9);
  const bool relu = a.num(10) != 0;
  if (!a.ok) return a.done();
  if (R < 1 || C < 1) {
    a.fail("batch norm needs at least one row and one channel");
    return a.done();
  }
  float* x = a.f32(a.num(1), (double)R * C);
  float* g = a.f32(a.num(2), C);
  float* b = a.f32(a.num(3), C);
  float* y = a.f32(a.num(4), (double)R * C);
  float* mean = a.f32(a.num(5), C);
  float* var = a.f32(a.num(6), C);
  if (!a.ok) return a.done();
  cs::bn_train_forward(R, C, x, g, b, eps, relu, y, mean, var);
  return nullptr;
}

// batchNormTrainGrad(heap, dyOff, xOff, gammaOff, betaOff, meanOff, varOff, dxOff, dgammaOff,
//                    dbetaOff, R, C, eps, relu)
napi_value BatchNormTrainGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.buffer(0)) return a.done();
  const long R = a.integer(10), C = a.integer(11);
  const float eps = (float)a.num(12);
  const bool relu = a.num(13) != 0;
  if (!a.ok) return a.done();
  if (R < 1 || C < 1) {
    a.fail("batch norm needs at least one row and one channel");
    return a.done();
  }
  float* dy = a.f32(a.num(1), (double)R * C);
  float* x = a.f32(a.num(2), (double)R * C);
  float* g = a.f32(a.num(3), C);
  float* b = a.f32(a.num(4), C);
  float* mean = a.f32(a.num(5), C);
  float* var = a.f32(a.num(6), C);
  float* dx = a.f32(a.num(7), (double)R * C);
  float* dg = a.f32(a.num(8), C);
  float* db = a.f32(a.num(9), C);
  if (!a.ok) return a.done();
  cs::bn_train_backward(R, C, dy, x, g, b, mean, var, eps, relu, dx, dg, db);
  return nullptr;
}

#define CS_DECLARE(name, fn) {name, nullptr, fn, nullptr, nullptr, nullptr, napi_default, nullptr}

}  // namespace

void cs_augment_init(napi_env env, napi_value exports);  // augment.cc

namespace {

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      CS_DECLARE("info", Info),
      CS_DECLARE("setThreads", SetThreads),
      CS_DECLARE("gemm", Gemm),
      CS_DECLARE("conv2d", Conv2D),
      CS_DECLARE("conv2dBackpropFilter", Conv2DBackpropFilter),
      CS_DECLARE("conv2dBackpropInput", Conv2DBackpropInput),
      CS_DECLARE("batchNormTrain", BatchNormTrain),
      CS_DECLARE("batchNormTrainGrad", BatchNormTrainGrad),
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  cs_augment_init(env, exports);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
