/**
 * Helper kernels in hand-assembled WebAssembly SIMD (see wasmAssembler.ts), instantiated on
 * the wasm backend's own linear memory so they read and write tensors in place: the data
 * movement (strided copies, transposes, phase shuffles) and the per-channel batch-norm loops
 * that the stock backend either lacks or runs as slow scalar code, and that JavaScript runs at
 * about 10 ns per element.
 *
 * All pointers are byte addresses in the wasm heap (`heapOffset`), all counts are elements,
 * all data is float32. Vector loops take 4 floats at a time and finish with a scalar tail, so
 * any size works. Nothing here allocates: the caller passes output buffers.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { Body, encodeModule, type FunctionDef, type ValType } from './wasmAssembler.ts';
import { ContrastreamError } from '../../errors.ts';

/** The exported functions, with JS-side signatures (pointers are byte addresses). */
export interface SimdKernels {
  /**
   * For i0 < n0, i1 < n1, i2 < n2: copy `len` floats from src + i0·ss0 + i1·ss1 + i2·ss2 to
   * dst + i0·ds0 + i1·ds1 + i2·ds2 (strides in bytes). Regions must not overlap.
   */
  copyRows(src: number, dst: number, n0: number, n1: number, n2: number, len: number, ss0: number, ss1: number, ss2: number, ds0: number, ds1: number, ds2: number): void;
  /**
   * dst[b, c, r] = src[b, r, c] for b < batch, r < rows, c < cols, where element [b, r, c]
   * of src is at src + b·sBatch + r·sRow + c·4 and element [b, c, r] of dst at
   * dst + b·dBatch + c·dRow + r·4 (strides in bytes).
   */
  transpose(src: number, dst: number, batch: number, rows: number, cols: number, sBatch: number, sRow: number, dBatch: number, dRow: number): void;
  /** dst[i] += src[i], i < n. */
  addInto(dst: number, src: number, n: number): void;
  /** acc[c] += Σ_r x[r, c] over a [rows, C] x. */
  colSum(x: number, rows: number, c: number, acc: number): void;
  /** acc[c] += Σ_r (x[r, c] − mean[c])². */
  colSumSqDev(x: number, rows: number, c: number, mean: number, acc: number): void;
  /** y[r, c] = x[r, c]·scale[c] + shift[c], then max(·, 0) if relu ≠ 0. */
  scaleShift(x: number, rows: number, c: number, scale: number, shift: number, relu: number, y: number): void;
  /**
   * With g = dy masked by y > 0 when relu ≠ 0 (else g = dy):
   * accG[c] += Σ_r g[r, c] and accGX[c] += Σ_r g[r, c]·(x[r, c] − mean[c]).
   */
  bnGradReduce(dy: number, x: number, y: number, rows: number, c: number, mean: number, relu: number, accG: number, accGX: number): void;
  /** dx[r, c] = a[c]·g[r, c] + b[c]·(x[r, c] − mean[c]) + k[c], g as in bnGradReduce. */
  bnGradApply(dy: number, x: number, y: number, rows: number, c: number, mean: number, a: number, b: number, k: number, relu: number, dx: number): void;
  /**
   * Max-pool gradient, NHWC: for every output pixel and channel, dy is added to dx (which the
   * caller zeroes) at the first maximum of its window in row-major order, over the taps inside
   * the input (padding never wins). x [b, h, w, c], dy [b, ho, wo, c].
   */
  maxPoolGrad(x: number, dy: number, dx: number, b: number, h: number, w: number, c: number, ho: number, wo: number, kh: number, kw: number, sh: number, sw: number, dh: number, dw: number, pt: number, pl: number): void;
  /**
   * Average-pool gradient, NHWC: dy[b, oy, ox, c] / (taps of the window inside the input) is
   * added to dx (zeroed by the caller) at each of those taps — the exact gradient of an
   * average that excludes padding, as tfjs' forward avgPool computes it.
   */
  avgPoolGrad(dy: number, dx: number, b: number, h: number, w: number, c: number, ho: number, wo: number, kh: number, kw: number, sh: number, sw: number, dh: number, dw: number, pt: number, pl: number): void;
  /**
   * Depthwise filter gradient of one image: acc[ky, kx, c] += Σ_{oy, ox} x[y, x, c]·dy[oy, ox, c]
   * with y = oy·sh − pt + ky·dh, x = ox·sw − pl + kx·dw inside [0, h) x [0, w). x is [h, w, c];
   * dy pixels are `dyPix` bytes apart (c floats used from each).
   */
  dwFilterGrad(x: number, dy: number, acc: number, h: number, w: number, c: number, ho: number, wo: number, kh: number, kw: number, sh: number, sw: number, dh: number, dw: number, pt: number, pl: number, dyPix: number): void;
  /**
   * Depthwise input gradient of one image: dx[y, x, c] += dy[oy, ox, c]·f[ky, kx, c] for every
   * output pixel and tap inside the input (same geometry as dwFilterGrad). dx is [h, w, c];
   * dy pixels are `dyPix` bytes apart; filter taps are `fTap` bytes apart.
   */
  dwInputGrad(dy: number, f: number, dx: number, h: number, w: number, c: number, ho: number, wo: number, kh: number, kw: number, sh: number, sw: number, dh: number, dw: number, pt: number, pl: number, dyPix: number, fTap: number): void;
}

type Kind = 'v' | 's';

/** Per-kind (vector / scalar) opcode names. */
function ops(kind: Kind) {
  const v = kind === 'v';
  return {
    bytes: v ? 16 : 4,
    load: v ? 'v128.load' : 'f32.load',
    store: v ? 'v128.store' : 'f32.store',
    add: v ? 'f32x4.add' : 'f32.add',
    sub: v ? 'f32x4.sub' : 'f32.sub',
    mul: v ? 'f32x4.mul' : 'f32.mul',
    max: v ? 'f32x4.max' : 'f32.max',
    type: (v ? 'v128' : 'f32') as ValType,
  };
}

/**
 * Emits `for c in [0, C)` over channels, 4 at a time then one at a time. `body(kind)` sees the
 * byte offset of channel c in local `cb` and must advance any row pointers itself.
 */
function channelLoop(f: Body, body: (kind: Kind) => void): void {
  // cb: byte offset of the channel; c4b: end of the vector part; cbEnd: end of all channels.
  f.i32(0).set('cb');
  f.block(() => {
    f.loop(() => {
      f.get('cb').i32(16).op('i32.add').get('cbEnd').op('i32.gt_s').brIf(1);
      body('v');
      f.get('cb').i32(16).op('i32.add').set('cb');
      f.br(0);
    });
  });
  f.block(() => {
    f.loop(() => {
      f.get('cb').get('cbEnd').op('i32.ge_s').brIf(1);
      body('s');
      f.get('cb').i32(4).op('i32.add').set('cb');
      f.br(0);
    });
  });
}

/** for r < rows: channelLoop(body). Sets cbEnd = C·4 first. */
function rowChannelLoop(f: Body, body: (kind: Kind) => void): void {
  f.get('c').i32(2).op('i32.shl').set('cbEnd');
  f.forRange('r', () => f.i32(0), () => f.get('rows'), 1, () => channelLoop(f, body));
}

function copyRows(): FunctionDef {
  const p: [string, ValType][] = [
    ['src', 'i32'], ['dst', 'i32'], ['n0', 'i32'], ['n1', 'i32'], ['n2', 'i32'], ['len', 'i32'],
    ['ss0', 'i32'], ['ss1', 'i32'], ['ss2', 'i32'], ['ds0', 'i32'], ['ds1', 'i32'], ['ds2', 'i32'],
  ];
  const f = new Body(p, { i0: 'i32', i1: 'i32', i2: 'i32', s: 'i32', d: 'i32', e: 'i32', e4: 'i32', lenb: 'i32', len4b: 'i32' });
  f.get('len').i32(2).op('i32.shl').set('lenb');
  f.get('len').i32(-4).op('i32.and').i32(2).op('i32.shl').set('len4b');
  f.forRange('i0', () => f.i32(0), () => f.get('n0'), 1, () => {
    f.forRange('i1', () => f.i32(0), () => f.get('n1'), 1, () => {
      f.forRange('i2', () => f.i32(0), () => f.get('n2'), 1, () => {
        f.get('src').get('i0').get('ss0').op('i32.mul', 'i32.add').get('i1').get('ss1').op('i32.mul', 'i32.add').get('i2').get('ss2').op('i32.mul', 'i32.add').set('s');
        f.get('dst').get('i0').get('ds0').op('i32.mul', 'i32.add').get('i1').get('ds1').op('i32.mul', 'i32.add').get('i2').get('ds2').op('i32.mul', 'i32.add').set('d');
        f.get('s').get('lenb').op('i32.add').set('e');
        f.get('s').get('len4b').op('i32.add').set('e4');
        f.block(() => f.loop(() => {
          f.get('s').get('e4').op('i32.ge_u').brIf(1);
          f.get('d').get('s').mem('v128.load').mem('v128.store');
          f.get('s').i32(16).op('i32.add').set('s');
          f.get('d').i32(16).op('i32.add').set('d');
          f.br(0);
        }));
        f.block(() => f.loop(() => {
          f.get('s').get('e').op('i32.ge_u').brIf(1);
          f.get('d').get('s').mem('f32.load').mem('f32.store');
          f.get('s').i32(4).op('i32.add').set('s');
          f.get('d').i32(4).op('i32.add').set('d');
          f.br(0);
        }));
      });
    });
  });
  return { name: 'copyRows', body: f, results: [] };
}

function transpose(): FunctionDef {
  const f = new Body([['src', 'i32'], ['dst', 'i32'], ['batch', 'i32'], ['rows', 'i32'], ['cols', 'i32'], ['sBatch', 'i32'], ['cb', 'i32'], ['dBatch', 'i32'], ['rb', 'i32']], {
    b: 'i32', r: 'i32', c: 'i32', r4: 'i32', c4: 'i32', rt: 'i32', ct: 'i32', rtEnd: 'i32', ctEnd: 'i32', sb: 'i32', db: 'i32', s: 'i32', d: 'i32',
    a0: 'v128', a1: 'v128', a2: 'v128', a3: 'v128', t0: 'v128', t1: 'v128', t2: 'v128', t3: 'v128',
  });
  // cb = bytes between source rows, rb = bytes between destination rows.
  f.get('rows').i32(-4).op('i32.and').set('r4');
  f.get('cols').i32(-4).op('i32.and').set('c4');
  f.forRange('b', () => f.i32(0), () => f.get('batch'), 1, () => {
    f.get('src').get('b').get('sBatch').op('i32.mul', 'i32.add').set('sb');
    f.get('dst').get('b').get('dBatch').op('i32.mul', 'i32.add').set('db');
    // 4x4 blocks, visited in 32x32 tiles (column tiles outer) so that every cache line read
    // or written is used in full while it is in L1, whatever the aspect ratio.
    f.forRange('ct', () => f.i32(0), () => f.get('c4'), 32, () => {
      f.get('ct').i32(32).op('i32.add').tee('ctEnd').get('c4').get('ctEnd').get('c4').op('i32.lt_s', 'select').set('ctEnd');
      f.forRange('rt', () => f.i32(0), () => f.get('r4'), 32, () => {
        f.get('rt').i32(32).op('i32.add').tee('rtEnd').get('r4').get('rtEnd').get('r4').op('i32.lt_s', 'select').set('rtEnd');
        f.forRange('r', () => f.get('rt'), () => f.get('rtEnd'), 4, () => {
          f.forRange('c', () => f.get('ct'), () => f.get('ctEnd'), 4, () => {
            // s = sb + r·cb + c·4
            f.get('sb').get('r').get('cb').op('i32.mul', 'i32.add').get('c').i32(2).op('i32.shl', 'i32.add').set('s');
            f.get('s').mem('v128.load').set('a0');
            f.get('s').get('cb').op('i32.add').tee('s').mem('v128.load').set('a1');
            f.get('s').get('cb').op('i32.add').tee('s').mem('v128.load').set('a2');
            f.get('s').get('cb').op('i32.add').mem('v128.load').set('a3');
            f.get('a0').get('a1').shuffle32([0, 4, 1, 5]).set('t0');
            f.get('a0').get('a1').shuffle32([2, 6, 3, 7]).set('t1');
            f.get('a2').get('a3').shuffle32([0, 4, 1, 5]).set('t2');
            f.get('a2').get('a3').shuffle32([2, 6, 3, 7]).set('t3');
            // d = db + c·rb + r·4
            f.get('db').get('c').get('rb').op('i32.mul', 'i32.add').get('r').i32(2).op('i32.shl', 'i32.add').set('d');
            f.get('d').get('t0').get('t2').shuffle32([0, 1, 4, 5]).mem('v128.store');
            f.get('d').get('rb').op('i32.add').tee('d').get('t0').get('t2').shuffle32([2, 3, 6, 7]).mem('v128.store');
            f.get('d').get('rb').op('i32.add').tee('d').get('t1').get('t3').shuffle32([0, 1, 4, 5]).mem('v128.store');
            f.get('d').get('rb').op('i32.add').get('t1').get('t3').shuffle32([2, 3, 6, 7]).mem('v128.store');
          });
        });
      });
    });
    // Remaining columns of the first r4 rows.
    f.forRange('r', () => f.i32(0), () => f.get('r4'), 1, () => {
      f.forRange('c', () => f.get('c4'), () => f.get('cols'), 1, () => {
        f.get('db').get('c').get('rb').op('i32.mul', 'i32.add').get('r').i32(2).op('i32.shl', 'i32.add');
        f.get('sb').get('r').get('cb').op('i32.mul', 'i32.add').get('c').i32(2).op('i32.shl', 'i32.add');
        f.mem('f32.load').mem('f32.store');
      });
    });
    // Remaining rows.
    f.forRange('r', () => f.get('r4'), () => f.get('rows'), 1, () => {
      f.forRange('c', () => f.i32(0), () => f.get('cols'), 1, () => {
        f.get('db').get('c').get('rb').op('i32.mul', 'i32.add').get('r').i32(2).op('i32.shl', 'i32.add');
        f.get('sb').get('r').get('cb').op('i32.mul', 'i32.add').get('c').i32(2).op('i32.shl', 'i32.add');
        f.mem('f32.load').mem('f32.store');
      });
    });
  });
  return { name: 'transpose', body: f, results: [] };
}

function addInto(): FunctionDef {
  const f = new Body([['dst', 'i32'], ['src', 'i32'], ['n', 'i32']], { e: 'i32', e4: 'i32' });
  f.get('dst').get('n').i32(2).op('i32.shl', 'i32.add').set('e');
  f.get('dst').get('n').i32(-4).op('i32.and').i32(2).op('i32.shl', 'i32.add').set('e4');
  for (const kind of ['v', 's'] as Kind[]) {
    const o = ops(kind);
    f.block(() => f.loop(() => {
      f.get('dst').get(kind === 'v' ? 'e4' : 'e').op('i32.ge_u').brIf(1);
      f.get('dst').get('dst').mem(o.load).get('src').mem(o.load).op(o.add).mem(o.store);
      f.get('dst').i32(o.bytes).op('i32.add').set('dst');
      f.get('src').i32(o.bytes).op('i32.add').set('src');
      f.br(0);
    }));
  }
  return { name: 'addInto', body: f, results: [] };
}

const CH_LOCALS: Record<string, ValType> = { r: 'i32', cb: 'i32', cbEnd: 'i32' };

function colSum(): FunctionDef {
  const f = new Body([['x', 'i32'], ['rows', 'i32'], ['c', 'i32'], ['acc', 'i32']], CH_LOCALS);
  rowChannelLoop(f, (kind) => {
    const o = ops(kind);
    f.get('acc').get('cb').op('i32.add');
    f.get('acc').get('cb').op('i32.add').mem(o.load);
    f.get('x').mem(o.load).op(o.add).mem(o.store);
    f.get('x').i32(o.bytes).op('i32.add').set('x');
  });
  return { name: 'colSum', body: f, results: [] };
}

function colSumSqDev(): FunctionDef {
  const f = new Body([['x', 'i32'], ['rows', 'i32'], ['c', 'i32'], ['mean', 'i32'], ['acc', 'i32']], { ...CH_LOCALS, dv: 'v128', ds: 'f32' });
  rowChannelLoop(f, (kind) => {
    const o = ops(kind);
    const d = kind === 'v' ? 'dv' : 'ds';
    f.get('x').mem(o.load).get('mean').get('cb').op('i32.add').mem(o.load).op(o.sub).set(d);
    f.get('acc').get('cb').op('i32.add');
    f.get('acc').get('cb').op('i32.add').mem(o.load);
    f.get(d, d).op(o.mul, o.add).mem(o.store);
    f.get('x').i32(o.bytes).op('i32.add').set('x');
  });
  return { name: 'colSumSqDev', body: f, results: [] };
}

function scaleShift(): FunctionDef {
  const f = new Body([['x', 'i32'], ['rows', 'i32'], ['c', 'i32'], ['scale', 'i32'], ['shift', 'i32'], ['relu', 'i32'], ['y', 'i32']], CH_LOCALS);
  const emit = (relu: boolean) =>
    rowChannelLoop(f, (kind) => {
      const o = ops(kind);
      f.get('y');
      f.get('x').mem(o.load).get('scale').get('cb').op('i32.add').mem(o.load).op(o.mul);
      f.get('shift').get('cb').op('i32.add').mem(o.load).op(o.add);
      if (relu) {
        if (kind === 'v') f.f32x4(0);
        else f.f32(0);
        f.op(o.max);
      }
      f.mem(o.store);
      f.get('x').i32(o.bytes).op('i32.add').set('x');
      f.get('y').i32(o.bytes).op('i32.add').set('y');
    });
  f.get('relu').if_(() => emit(true), () => emit(false));
  return { name: 'scaleShift', body: f, results: [] };
}

/** Pushes g = dy (masked by y > 0 when relu) and advances dy (and y). */
function pushGradient(f: Body, kind: Kind, relu: boolean): void {
  const o = ops(kind);
  f.get('dy').mem(o.load);
  if (relu) {
    if (kind === 'v') {
      f.get('y').mem(o.load).f32x4(0).op('f32x4.gt', 'v128.and');
    } else {
      f.f32(0).get('y').mem(o.load).f32(0).op('f32.gt', 'select');
    }
    f.get('y').i32(o.bytes).op('i32.add').set('y');
  }
  f.get('dy').i32(o.bytes).op('i32.add').set('dy');
}

function bnGradReduce(): FunctionDef {
  const f = new Body(
    [['dy', 'i32'], ['x', 'i32'], ['y', 'i32'], ['rows', 'i32'], ['c', 'i32'], ['mean', 'i32'], ['relu', 'i32'], ['accG', 'i32'], ['accGX', 'i32']],
    { ...CH_LOCALS, gv: 'v128', gs: 'f32' },
  );
  const emit = (relu: boolean) =>
    rowChannelLoop(f, (kind) => {
      const o = ops(kind);
      const g = kind === 'v' ? 'gv' : 'gs';
      pushGradient(f, kind, relu);
      f.set(g);
      f.get('accG').get('cb').op('i32.add');
      f.get('accG').get('cb').op('i32.add').mem(o.load).get(g).op(o.add).mem(o.store);
      f.get('accGX').get('cb').op('i32.add');
      f.get('accGX').get('cb').op('i32.add').mem(o.load);
      f.get(g).get('x').mem(o.load).get('mean').get('cb').op('i32.add').mem(o.load).op(o.sub, o.mul, o.add).mem(o.store);
      f.get('x').i32(o.bytes).op('i32.add').set('x');
    });
  f.get('relu').if_(() => emit(true), () => emit(false));
  return { name: 'bnGradReduce', body: f, results: [] };
}

function bnGradApply(): FunctionDef {
  const f = new Body(
    [['dy', 'i32'], ['x', 'i32'], ['y', 'i32'], ['rows', 'i32'], ['c', 'i32'], ['mean', 'i32'], ['a', 'i32'], ['b', 'i32'], ['k', 'i32'], ['relu', 'i32'], ['dx', 'i32']],
    CH_LOCALS,
  );
  const emit = (relu: boolean) =>
    rowChannelLoop(f, (kind) => {
      const o = ops(kind);
      f.get('dx');
      pushGradient(f, kind, relu);
      f.get('a').get('cb').op('i32.add').mem(o.load).op(o.mul);
      f.get('x').mem(o.load).get('mean').get('cb').op('i32.add').mem(o.load).op(o.sub);
      f.get('b').get('cb').op('i32.add').mem(o.load).op(o.mul, o.add);
      f.get('k').get('cb').op('i32.add').mem(o.load).op(o.add);
      f.mem(o.store);
      f.get('x').i32(o.bytes).op('i32.add').set('x');
      f.get('dx').i32(o.bytes).op('i32.add').set('dx');
    });
  f.get('relu').if_(() => emit(true), () => emit(false));
  return { name: 'bnGradApply', body: f, results: [] };
}

/** The slice of the WebAssembly JS API used here (the tsconfig has no DOM/wasm lib types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
  Memory: abstract new (...args: never[]) => object;
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/**
 * Visits the taps (ky, kx) of the window of output pixel (oy, ox) that fall inside the input;
 * `body` sees y, xx, and the pixel's byte offset (y·w + xx)·cbEnd in `off`. Needs locals ky, kx,
 * y, xx, off and parameters/locals oy, ox, sh, sw, pt, pl, kh, kw, dh, dw, h, w, cbEnd.
 */
function windowTaps(f: Body, body: () => void): void {
  f.forRange('ky', () => f.i32(0), () => f.get('kh'), 1, () => {
    f.block(() => {
      f.get('oy').get('sh').op('i32.mul').get('pt').op('i32.sub').get('ky').get('dh').op('i32.mul', 'i32.add').tee('y');
      f.i32(0).op('i32.lt_s').brIf(0);
      f.get('y').get('h').op('i32.ge_s').brIf(0);
      f.forRange('kx', () => f.i32(0), () => f.get('kw'), 1, () => {
        f.block(() => {
          f.get('ox').get('sw').op('i32.mul').get('pl').op('i32.sub').get('kx').get('dw').op('i32.mul', 'i32.add').tee('xx');
          f.i32(0).op('i32.lt_s').brIf(0);
          f.get('xx').get('w').op('i32.ge_s').brIf(0);
          f.get('y').get('w').op('i32.mul').get('xx').op('i32.add').get('cbEnd').op('i32.mul').set('off');
          body();
        });
      });
    });
  });
}

function avgPoolGrad(): FunctionDef {
  const names = ['dy', 'dx', 'b', 'h', 'w', 'c', 'ho', 'wo', 'kh', 'kw', 'sh', 'sw', 'dh', 'dw', 'pt', 'pl'];
  const f = new Body(names.map((n) => [n, 'i32'] as [string, ValType]), {
    n: 'i32', oy: 'i32', ox: 'i32', ky: 'i32', kx: 'i32', y: 'i32', xx: 'i32', off: 'i32', cb: 'i32', cbEnd: 'i32',
    dxn: 'i32', dyp: 'i32', count: 'i32', addr: 'i32', inv: 'f32', invv: 'v128',
  });
  f.get('c').i32(2).op('i32.shl').set('cbEnd');
  f.forRange('n', () => f.i32(0), () => f.get('b'), 1, () => {
    f.get('dx').get('n').get('h').op('i32.mul').get('w').op('i32.mul').get('cbEnd').op('i32.mul', 'i32.add').set('dxn');
    f.forRange('oy', () => f.i32(0), () => f.get('ho'), 1, () => {
      f.forRange('ox', () => f.i32(0), () => f.get('wo'), 1, () => {
        f.get('dy').get('n').get('ho').op('i32.mul').get('oy').op('i32.add').get('wo').op('i32.mul').get('ox').op('i32.add').get('cbEnd').op('i32.mul', 'i32.add').set('dyp');
        f.i32(0).set('count');
        windowTaps(f, () => f.get('count').i32(1).op('i32.add').set('count'));
        f.block(() => {
          f.get('count').op('i32.eqz').brIf(0); // no tap inside the input: nothing to add
          f.f32(1).get('count').op('f32.convert_i32_s', 'f32.div').tee('inv').op('f32x4.splat').set('invv');
          windowTaps(f, () => {
            channelLoop(f, (kind) => {
              const o = ops(kind);
              f.get('dxn').get('off').op('i32.add').get('cb').op('i32.add').tee('addr');
              f.get('addr').mem(o.load);
              f.get('dyp').get('cb').op('i32.add').mem(o.load).get(kind === 'v' ? 'invv' : 'inv').op(o.mul, o.add).mem(o.store);
            });
          });
        });
      });
    });
  });
  return { name: 'avgPoolGrad', body: f, results: [] };
}

function dwFilterGrad(): FunctionDef {
  const names = ['x', 'dy', 'acc', 'h', 'w', 'c', 'ho', 'wo', 'kh', 'kw', 'sh', 'sw', 'dh', 'dw', 'pt', 'pl', 'dyPix'];
  const f = new Body(names.map((n) => [n, 'i32'] as [string, ValType]), {
    oy: 'i32', ox: 'i32', ky: 'i32', kx: 'i32', y: 'i32', xx: 'i32', off: 'i32', cb: 'i32', cbEnd: 'i32',
    dyp: 'i32', tap: 'i32', addr: 'i32',
  });
  f.get('c').i32(2).op('i32.shl').set('cbEnd');
  f.forRange('oy', () => f.i32(0), () => f.get('ho'), 1, () => {
    f.forRange('ox', () => f.i32(0), () => f.get('wo'), 1, () => {
      f.get('dy').get('oy').get('wo').op('i32.mul').get('ox').op('i32.add').get('dyPix').op('i32.mul', 'i32.add').set('dyp');
      windowTaps(f, () => {
        // acc row of this tap: acc + (ky·kw + kx)·cbEnd
        f.get('acc').get('ky').get('kw').op('i32.mul').get('kx').op('i32.add').get('cbEnd').op('i32.mul', 'i32.add').set('tap');
        channelLoop(f, (kind) => {
          const o = ops(kind);
          f.get('tap').get('cb').op('i32.add').tee('addr');
          f.get('addr').mem(o.load);
          f.get('x').get('off').op('i32.add').get('cb').op('i32.add').mem(o.load);
          f.get('dyp').get('cb').op('i32.add').mem(o.load).op(o.mul, o.add).mem(o.store);
        });
      });
    });
  });
  return { name: 'dwFilterGrad', body: f, results: [] };
}

function dwInputGrad(): FunctionDef {
  const names = ['dy', 'f', 'dx', 'h', 'w', 'c', 'ho', 'wo', 'kh', 'kw', 'sh', 'sw', 'dh', 'dw', 'pt', 'pl', 'dyPix', 'fTap'];
  const f = new Body(names.map((n) => [n, 'i32'] as [string, ValType]), {
    oy: 'i32', ox: 'i32', ky: 'i32', kx: 'i32', y: 'i32', xx: 'i32', off: 'i32', cb: 'i32', cbEnd: 'i32',
    dyp: 'i32', tap: 'i32', addr: 'i32',
  });
  f.get('c').i32(2).op('i32.shl').set('cbEnd');
  f.forRange('oy', () => f.i32(0), () => f.get('ho'), 1, () => {
    f.forRange('ox', () => f.i32(0), () => f.get('wo'), 1, () => {
      f.get('dy').get('oy').get('wo').op('i32.mul').get('ox').op('i32.add').get('dyPix').op('i32.mul', 'i32.add').set('dyp');
      windowTaps(f, () => {
        f.get('f').get('ky').get('kw').op('i32.mul').get('kx').op('i32.add').get('fTap').op('i32.mul', 'i32.add').set('tap');
        channelLoop(f, (kind) => {
          const o = ops(kind);
          f.get('dx').get('off').op('i32.add').get('cb').op('i32.add').tee('addr');
          f.get('addr').mem(o.load);
          f.get('dyp').get('cb').op('i32.add').mem(o.load);
          f.get('tap').get('cb').op('i32.add').mem(o.load).op(o.mul, o.add).mem(o.store);
        });
      });
    });
  });
  return { name: 'dwInputGrad', body: f, results: [] };
}

function maxPoolGrad(): FunctionDef {
  const names = ['x', 'dy', 'dx', 'b', 'h', 'w', 'c', 'ho', 'wo', 'kh', 'kw', 'sh', 'sw', 'dh', 'dw', 'pt', 'pl'];
  const f = new Body(names.map((n) => [n, 'i32'] as [string, ValType]), {
    n: 'i32', oy: 'i32', ox: 'i32', ky: 'i32', kx: 'i32', y: 'i32', xx: 'i32', off: 'i32', cb: 'i32', cbEnd: 'i32', cb4: 'i32',
    xn: 'i32', dxn: 'i32', dyp: 'i32', bo: 'i32', addr: 'i32',
    best: 'v128', bidx: 'v128', v: 'v128', m: 'v128', g: 'v128', bs: 'f32', vs: 'f32',
  });
  f.get('c').i32(2).op('i32.shl').set('cbEnd');
  f.get('c').i32(-4).op('i32.and').i32(2).op('i32.shl').set('cb4');
  const taps = (body: () => void) => windowTaps(f, body);
  f.forRange('n', () => f.i32(0), () => f.get('b'), 1, () => {
    f.get('n').get('h').op('i32.mul').get('w').op('i32.mul').get('cbEnd').op('i32.mul').tee('xn');
    f.get('dx').op('i32.add').set('dxn');
    f.get('x').get('xn').op('i32.add').set('xn');
    f.forRange('oy', () => f.i32(0), () => f.get('ho'), 1, () => {
      f.forRange('ox', () => f.i32(0), () => f.get('wo'), 1, () => {
        f.get('dy').get('n').get('ho').op('i32.mul').get('oy').op('i32.add').get('wo').op('i32.mul').get('ox').op('i32.add').get('cbEnd').op('i32.mul', 'i32.add').set('dyp');
        // Four channels at a time.
        f.forRange('cb', () => f.i32(0), () => f.get('cb4'), 16, () => {
          f.f32x4(-Infinity).set('best');
          f.i32(-1).op('i32x4.splat').set('bidx');
          taps(() => {
            f.get('xn').get('off').op('i32.add').get('cb').op('i32.add').mem('v128.load').tee('v');
            f.get('best').op('f32x4.gt').set('m');
            f.get('v').get('best').get('m').op('v128.bitselect').set('best');
            f.get('off').op('i32x4.splat').get('bidx').get('m').op('v128.bitselect').set('bidx');
          });
          f.get('dyp').get('cb').op('i32.add').mem('v128.load').set('g');
          for (let l = 0; l < 4; l++) {
            f.get('bidx').laneI32(l).tee('bo').i32(0).op('i32.ge_s');
            f.if_(() => {
              f.get('dxn').get('bo').op('i32.add').get('cb').op('i32.add').i32(4 * l).op('i32.add').tee('addr');
              f.get('addr').mem('f32.load').get('g').lane(l).op('f32.add').mem('f32.store');
            });
          }
        });
        // Remaining channels one at a time.
        f.forRange('cb', () => f.get('cb4'), () => f.get('cbEnd'), 4, () => {
          f.f32(-Infinity).set('bs');
          f.i32(-1).set('bo');
          taps(() => {
            f.get('xn').get('off').op('i32.add').get('cb').op('i32.add').mem('f32.load').tee('vs');
            f.get('bs').op('f32.gt');
            f.if_(() => {
              f.get('vs').set('bs');
              f.get('off').set('bo');
            });
          });
          f.get('bo').i32(0).op('i32.ge_s');
          f.if_(() => {
            f.get('dxn').get('bo').op('i32.add').get('cb').op('i32.add').tee('addr');
            f.get('addr').mem('f32.load').get('dyp').get('cb').op('i32.add').mem('f32.load').op('f32.add').mem('f32.store');
          });
        });
      });
    });
  });
  return { name: 'maxPoolGrad', body: f, results: [] };
}

let compiled: object | undefined;

/** The compiled helper module (built once per process; a few kilobytes). */
export function simdWasmModule(): object {
  compiled ??= new WA.Module(
    encodeModule([copyRows(), transpose(), addInto(), colSum(), colSumSqDev(), scaleShift(), bnGradReduce(), bnGradApply(), maxPoolGrad(), avgPoolGrad(), dwFilterGrad(), dwInputGrad()]),
  );
  return compiled;
}

const instances = new WeakMap<object, SimdKernels>();

/** The backend's linear memory (exported by the tfjs wasm module as `memory`). */
function backendMemory(backend: BackendWasm): object {
  const mem = (backend.wasm as unknown as { asm?: { memory?: unknown }; wasmMemory?: unknown }).asm?.memory;
  if (!(mem instanceof WA.Memory)) {
    throw new ContrastreamError('contrastream wasm kernels: cannot find the linear memory of the tfjs wasm module (asm.memory); is @tensorflow/tfjs-backend-wasm 4.22 installed?');
  }
  return mem;
}

/** The helper kernels bound to `backend`'s heap. */
export function simdKernels(backend: BackendWasm): SimdKernels {
  const memory = backendMemory(backend);
  let k = instances.get(memory);
  if (k === undefined) {
    const inst = new WA.Instance(simdWasmModule(), { env: { memory } });
    k = inst.exports as unknown as SimdKernels;
    instances.set(memory, k);
  }
  return k;
}
