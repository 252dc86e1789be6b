/**
 * A minimal WebAssembly binary encoder: enough to write small SIMD loops (the helper kernels
 * of simdModule.ts) without a compiler toolchain. It emits one module that imports its linear
 * memory as `env.memory` and exports functions taking and returning i32/f32 values.
 *
 * Function bodies are written with `Body`, a thin layer over the stack machine: named locals,
 * structured control (`block`, `loop`, `if_`, `forRange`) and mnemonic opcodes. Memory
 * operands are byte addresses. Only the opcodes used in this project are listed.
 */

export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128';

const VALTYPE: Record<ValType, number> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** Core opcodes without immediates. */
const PLAIN: Record<string, number> = {
  unreachable: 0x00,
  nop: 0x01,
  return: 0x0f,
  drop: 0x1a,
  select: 0x1b,
  'i32.eqz': 0x45,
  'i32.eq': 0x46,
  'i32.ne': 0x47,
  'i32.lt_s': 0x48,
  'i32.lt_u': 0x49,
  'i32.gt_s': 0x4a,
  'i32.gt_u': 0x4b,
  'i32.le_s': 0x4c,
  'i32.le_u': 0x4d,
  'i32.ge_s': 0x4e,
  'i32.ge_u': 0x4f,
  'f32.eq': 0x5b,
  'f32.ne': 0x5c,
  'f32.lt': 0x5d,
  'f32.gt': 0x5e,
  'f32.le': 0x5f,
  'f32.ge': 0x60,
  'i32.add': 0x6a,
  'i32.sub': 0x6b,
  'i32.mul': 0x6c,
  'i32.div_s': 0x6d,
  'i32.div_u': 0x6e,
  'i32.rem_s': 0x6f,
  'i32.rem_u': 0x70,
  'i32.and': 0x71,
  'i32.or': 0x72,
  'i32.xor': 0x73,
  'i32.shl': 0x74,
  'i32.shr_s': 0x75,
  'i32.shr_u': 0x76,
  'f32.abs': 0x8b,
  'f32.neg': 0x8c,
  'f32.sqrt': 0x91,
  'f32.add': 0x92,
  'f32.sub': 0x93,
  'f32.mul': 0x94,
  'f32.div': 0x95,
  'f32.min': 0x96,
  'f32.max': 0x97,
  'f64.add': 0xa0,
  'f64.sub': 0xa1,
  'f64.mul': 0xa2,
  'f32.demote_f64': 0xb6,
  'f64.promote_f32': 0xbb,
  'f32.convert_i32_s': 0xb2,
};

/** SIMD opcodes (0xfd prefix) without immediates. */
const SIMD: Record<string, number> = {
  'i32x4.splat': 0x11,
  'f32x4.splat': 0x13,
  'f32x4.eq': 0x41,
  'f32x4.ne': 0x42,
  'f32x4.lt': 0x43,
  'f32x4.gt': 0x44,
  'f32x4.le': 0x45,
  'f32x4.ge': 0x46,
  'v128.not': 0x4d,
  'v128.and': 0x4e,
  'v128.andnot': 0x4f,
  'v128.or': 0x50,
  'v128.xor': 0x51,
  'v128.bitselect': 0x52,
  'v128.any_true': 0x53,
  'f32x4.abs': 0xe0,
  'f32x4.neg': 0xe1,
  'f32x4.sqrt': 0xe3,
  'f32x4.add': 0xe4,
  'f32x4.sub': 0xe5,
  'f32x4.mul': 0xe6,
  'f32x4.div': 0xe7,
  'f32x4.min': 0xe8,
  'f32x4.max': 0xe9,
  'f32x4.pmin': 0xea,
  'f32x4.pmax': 0xeb,
};

/** Loads and stores: opcode bytes and natural alignment (log2). */
const MEMORY: Record<string, { code: number[]; align: number }> = {
  'i32.load': { code: [0x28], align: 2 },
  'f32.load': { code: [0x2a], align: 2 },
  'i32.store': { code: [0x36], align: 2 },
  'f32.store': { code: [0x38], align: 2 },
  // v128 accesses are only assumed 4-byte aligned (tensor data is float-aligned).
  'v128.load': { code: [0xfd, 0x00], align: 2 },
  'v128.store': { code: [0xfd, 0x0b], align: 2 },
};

export function uleb(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

export function sleb(n: number): number[] {
  const out: number[] = [];
  let v = n | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

function str(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

/** The body of one function: parameters and locals by name, code appended in order. */
export class Body {
  readonly code: number[] = [];
  private readonly index = new Map<string, { i: number; type: ValType }>();
  private readonly extra: ValType[] = [];
  private depth = 0;

  constructor(
    readonly params: [string, ValType][],
    locals: Record<string, ValType> = {},
  ) {
    params.forEach(([n, t], i) => this.index.set(n, { i, type: t }));
    for (const [n, t] of Object.entries(locals)) this.local(n, t);
  }

  /** Declares a local (once). */
  local(name: string, type: ValType): this {
    if (this.index.has(name)) throw new Error(`wasmAssembler: local '${name}' declared twice`);
    this.index.set(name, { i: this.params.length + this.extra.length, type });
    this.extra.push(type);
    return this;
  }

  private slot(name: string): number {
    const s = this.index.get(name);
    if (s === undefined) throw new Error(`wasmAssembler: unknown local '${name}'`);
    return s.i;
  }

  /** Plain or SIMD opcodes by mnemonic, in order. */
  op(...names: string[]): this {
    for (const name of names) {
      if (name in PLAIN) this.code.push(PLAIN[name]);
      else if (name in SIMD) this.code.push(0xfd, ...uleb(SIMD[name]));
      else throw new Error(`wasmAssembler: unknown opcode '${name}'`);
    }
    return this;
  }

  get(...names: string[]): this {
    for (const n of names) this.code.push(0x20, ...uleb(this.slot(n)));
    return this;
  }

  set(name: string): this {
    this.code.push(0x21, ...uleb(this.slot(name)));
    return this;
  }

  tee(name: string): this {
    this.code.push(0x22, ...uleb(this.slot(name)));
    return this;
  }

  i32(v: number): this {
    this.code.push(0x41, ...sleb(v));
    return this;
  }

  f32(v: number): this {
    const b = new Uint8Array(new Float32Array([v]).buffer);
    this.code.push(0x43, ...b);
    return this;
  }

  /** Memory access at the address on the stack plus a constant byte offset. */
  mem(name: string, offset = 0): this {
    const m = MEMORY[name];
    if (m === undefined) throw new Error(`wasmAssembler: unknown memory opcode '${name}'`);
    this.code.push(...m.code, ...uleb(m.align), ...uleb(offset));
    return this;
  }

  /** i8x16.shuffle of the two v128 on the stack, by 32-bit lane (0-3 first, 4-7 second). */
  shuffle32(lanes: [number, number, number, number]): this {
    this.code.push(0xfd, 0x0d);
    for (const l of lanes) this.code.push(l * 4, l * 4 + 1, l * 4 + 2, l * 4 + 3);
    return this;
  }

  /** f32x4.extract_lane. */
  lane(l: number): this {
    this.code.push(0xfd, 0x1f, l);
    return this;
  }

  /** i32x4.extract_lane. */
  laneI32(l: number): this {
    this.code.push(0xfd, 0x1b, l);
    return this;
  }

  /** A v128 of four equal f32 constants. */
  f32x4(v: number): this {
    return this.f32(v).op('f32x4.splat');
  }

  block(body: () => void): this {
    this.code.push(0x02, 0x40);
    this.depth++;
    body();
    this.depth--;
    this.code.push(0x0b);
    return this;
  }

  loop(body: () => void): this {
    this.code.push(0x03, 0x40);
    this.depth++;
    body();
    this.depth--;
    this.code.push(0x0b);
    return this;
  }

  /** if (condition on the stack) then … [else …]. */
  if_(then: () => void, otherwise?: () => void): this {
    this.code.push(0x04, 0x40);
    this.depth++;
    then();
    if (otherwise !== undefined) {
      this.code.push(0x05);
      otherwise();
    }
    this.depth--;
    this.code.push(0x0b);
    return this;
  }

  br(depth: number): this {
    this.code.push(0x0c, ...uleb(depth));
    return this;
  }

  brIf(depth: number): this {
    this.code.push(0x0d, ...uleb(depth));
    return this;
  }

  /**
   * for (i = start; i < end; i += step) body — `start` and `end` push an i32, `end` is
   * re-evaluated every iteration; signed comparison. `step` is a constant or a local's name.
   */
  forRange(i: string, start: () => void, end: () => void, step: number | string, body: () => void): this {
    start();
    this.set(i);
    this.block(() => {
      this.loop(() => {
        this.get(i);
        end();
        this.op('i32.ge_s').brIf(1);
        body();
        this.get(i);
        if (typeof step === 'number') this.i32(step);
        else this.get(step);
        this.op('i32.add').set(i);
        this.br(0);
      });
    });
    return this;
  }

  /** Encoded function body (locals + code + end). */
  encode(): number[] {
    const groups: number[][] = [];
    for (const t of this.extra) groups.push([1, VALTYPE[t]]);
    const body = [...vec(groups), ...this.code, 0x0b];
    return [...uleb(body.length), ...body];
  }
}

export interface FunctionDef {
  name: string;
  body: Body;
  results: ValType[];
}

/** A module importing `env.memory` and exporting `functions`. */
export function encodeModule(functions: FunctionDef[]): Uint8Array {
  const types = functions.map((f) => [0x60, ...vec(f.body.params.map(([, t]) => [VALTYPE[t]])), ...vec(f.results.map((t) => [VALTYPE[t]]))]);
  const section = (id: number, payload: number[]) => [id, ...uleb(payload.length), ...payload];
  const typeSec = section(1, vec(types));
  const importSec = section(2, vec([[...str('env'), ...str('memory'), 0x02, 0x00, ...uleb(0)]]));
  const funcSec = section(3, vec(functions.map((_, i) => uleb(i))));
  const exportSec = section(7, vec(functions.map((f, i) => [...str(f.name), 0x00, ...uleb(i)])));
  const codeSec = section(10, vec(functions.map((f) => f.body.encode())));
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...typeSec, ...importSec, ...funcSec, ...exportSec, ...codeSec]);
}
