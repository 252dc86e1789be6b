/**
 * Runs modules in order: y = f_k(…f_2(f_1(x))). Children are named '0', '1', … (as in
 * torch.nn.Sequential) or by the names given.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';
import { Module, type ForwardOptions } from './module.ts';

export class Sequential extends Module {
  private readonly layers: Module[];

  constructor(layers: readonly Module[] | readonly (readonly [string, Module])[]) {
    super();
    if (!Array.isArray(layers)) throw new ArgumentError('Sequential', 'layers', 'must be an array of modules or [name, module] pairs');
    this.layers = layers.map((entry: Module | readonly [string, Module], i: number) =>
      entry instanceof Module ? this.addModule(String(i), entry) : this.addModule(entry[0], entry[1]),
    );
  }

  /** Number of layers. */
  get length(): number {
    return this.layers.length;
  }

  /** The i-th layer. */
  at(i: number): Module {
    const m = this.layers[i];
    if (m === undefined) throw new ArgumentError('Sequential.at', 'i', `must be in [0, ${this.layers.length}), got ${i}`);
    return m;
  }

  forward(x: tf.Tensor, options: ForwardOptions): tf.Tensor {
    this.assertAlive();
    if (this.layers.length === 0) return tf.clone(x);
    return tf.tidy(() => {
      let h = x;
      for (const layer of this.layers) h = layer.forward(h, options);
      return h;
    });
  }
}
