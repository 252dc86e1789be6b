/**
 * Reference loops for the fused training batch norm, on flat [R, C] Float32Arrays (channels
 * last). Used by the cpu-backend kernels and by the wasm kernels when the native addon is absent
 * (then on Float32Array views of the wasm heap). Sums accumulate in float64.
 *
 *   mean_c = (1/R) sum_r x_rc,   var_c = (1/R) sum_r (x_rc - mean_c)^2     (biased)
 *   y_rc   = gamma_c (x_rc - mean_c) / sqrt(var_c + eps) + beta_c, then max(y, 0) if relu
 *
 * Gradient, with g = dy masked by (y > 0) when relu, xhat = (x - mean) / sqrt(var + eps):
 *   dbeta_c = sum_r g,  dgamma_c = sum_r g xhat,
 *   dx = gamma / sqrt(var + eps) * (g - dbeta/R - xhat dgamma/R)
 */

export function batchNormTrainForward(
  x: Float32Array, gamma: Float32Array, beta: Float32Array, rows: number, channels: number,
  epsilon: number, relu: boolean, y: Float32Array, mean: Float32Array, variance: Float32Array,
): void {
  const C = channels;
  const s1 = new Float64Array(C);
  const s2 = new Float64Array(C);
  for (let r = 0, o = 0; r < rows; r++, o += C) {
    for (let c = 0; c < C; c++) s1[c] += x[o + c];
  }
  for (let c = 0; c < C; c++) s1[c] /= rows;
  for (let r = 0, o = 0; r < rows; r++, o += C) {
    for (let c = 0; c < C; c++) {
      const d = x[o + c] - s1[c];
      s2[c] += d * d;
    }
  }
  const scale = new Float64Array(C);
  const shift = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    mean[c] = s1[c];
    variance[c] = s2[c] / rows;
    scale[c] = gamma[c] / Math.sqrt(s2[c] / rows + epsilon);
    shift[c] = beta[c] - s1[c] * scale[c];
  }
  for (let r = 0, o = 0; r < rows; r++, o += C) {
    for (let c = 0; c < C; c++) {
      const v = x[o + c] * scale[c] + shift[c];
      y[o + c] = relu && v < 0 ? 0 : v;
    }
  }
}

export function batchNormTrainBackward(
  dy: Float32Array, x: Float32Array, y: Float32Array, gamma: Float32Array, mean: Float32Array,
  variance: Float32Array, rows: number, channels: number, epsilon: number, relu: boolean,
  dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array,
): void {
  const C = channels;
  const invstd = new Float64Array(C);
  for (let c = 0; c < C; c++) invstd[c] = 1 / Math.sqrt(variance[c] + epsilon);
  const sg = new Float64Array(C);
  const sgx = new Float64Array(C);
  for (let r = 0, o = 0; r < rows; r++, o += C) {
    for (let c = 0; c < C; c++) {
      const g = relu && !(y[o + c] > 0) ? 0 : dy[o + c];
      sg[c] += g;
      sgx[c] += g * (x[o + c] - mean[c]);
    }
  }
  const ka = new Float64Array(C);
  const kb = new Float64Array(C);
  const kc = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const dg = sgx[c] * invstd[c];
    dbeta[c] = sg[c];
    dgamma[c] = dg;
    const scale = gamma[c] * invstd[c];
    ka[c] = scale;
    kb[c] = (scale * sg[c]) / rows;
    kc[c] = (scale * invstd[c] * dg) / rows;
  }
  for (let r = 0, o = 0; r < rows; r++, o += C) {
    for (let c = 0; c < C; c++) {
      const g = relu && !(y[o + c] > 0) ? 0 : dy[o + c];
      dx[o + c] = ka[c] * g - kb[c] - kc[c] * (x[o + c] - mean[c]);
    }
  }
}
