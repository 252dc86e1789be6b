/**
 * ResNet (He et al. 2016, "Deep Residual Learning for Image Recognition") as in torchvision
 * (v1.5: in a Bottleneck the stride sits on the 3x3 conv), NHWC, without the classifier.
 *
 *   stem 'imagenet': conv7x7/2 (64) → BN → ReLU → maxpool3x3/2      (224 px → 56)
 *   stem 'cifar':    conv3x3/1 (64) → BN → ReLU, no max-pool         (32 px → 32)
 *   layer1..4: planes 64, 128, 256, 512, first block of layers 2–4 has stride 2
 *     BasicBlock (expansion 1):  3x3 → BN → ReLU → 3x3 → BN, + shortcut, ReLU
 *     Bottleneck (expansion 4):  1x1 → BN → ReLU → 3x3/s → BN → ReLU → 1x1 → BN, + shortcut, ReLU
 *     shortcut: identity, or 1x1/s conv → BN (torchvision's `downsample`) when the shape changes
 *   global average pool → [N, 512·expansion] → optional `fc` Linear to featureDim.
 *
 * Weight names follow torchvision's state_dict (conv1.weight, layer1.0.bn1.running_mean,
 * layer2.0.downsample.0.weight, fc.weight). Init as torchvision: convs He-normal (fan_out),
 * BN gamma 1 / beta 0, optionally gamma 0 on the last BN of each residual branch
 * (`zeroInitResidual`, Goyal et al. 2017), fc PyTorch's Linear default.
 *
 * Parameters without fc: ResNet-18 11,176,512 (ImageNet stem), 11,168,832 (CIFAR stem);
 * ResNet-50 23,508,032 (ImageNet stem), 23,500,352 (CIFAR stem).
 *
 * Defaults: stem 'imagenet' (torchvision's), featureDim null (output the pooled features),
 * inChannels 3, zeroInitResidual false, seed 0.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';
import { Module, checkInput, checkPositiveInt, type ForwardOptions } from './module.ts';
import { Conv2d } from './conv2d.ts';
import { BatchNorm } from './batchNorm.ts';
import { Linear } from './linear.ts';
import { MaxPool } from './maxPool.ts';
import { Sequential } from './sequential.ts';
import { SeededRandom } from './init.ts';

export type ResNetStem = 'imagenet' | 'cifar';
export type ResNetBlock = 'basic' | 'bottleneck';

export interface ResNetConfig {
  /** 'imagenet' (7x7/2 conv + max-pool) or 'cifar' (3x3/1 conv, no pool). Default 'imagenet'. */
  stem?: ResNetStem;
  /** Width of a final Linear layer `fc`; null outputs the pooled 512/2048 features. Default null. */
  featureDim?: number | null;
  /** Input channels. Default 3. */
  inChannels?: number;
  /** Zero-init gamma of the last BN in each residual branch. Default false. */
  zeroInitResidual?: boolean;
  /** Seed of the weight initialisation. Default 0. */
  seed?: number;
}

export const DEFAULT_RESNET_CONFIG = {
  stem: 'imagenet',
  featureDim: null,
  inChannels: 3,
  zeroInitResidual: false,
  seed: 0,
} as const;

interface BlockContext {
  rng: SeededRandom;
  zeroInitResidual: boolean;
}

function conv(rng: SeededRandom, inC: number, outC: number, k: number, stride = 1): Conv2d {
  return new Conv2d({ inChannels: inC, outChannels: outC, kernelSize: k, stride, padding: Math.floor(k / 2), rng });
}

/** Shortcut projection: 1x1/stride conv → BN. */
function downsample(ctx: BlockContext, inC: number, outC: number, stride: number): Sequential {
  return new Sequential([conv(ctx.rng, inC, outC, 1, stride), new BatchNorm({ numFeatures: outC })]);
}

/** torchvision's BasicBlock (expansion 1). */
export class BasicBlock extends Module {
  static readonly expansion = 1;
  private readonly conv1: Conv2d;
  private readonly bn1: BatchNorm;
  private readonly conv2: Conv2d;
  private readonly bn2: BatchNorm;
  private readonly down: Sequential | undefined;

  constructor(ctx: BlockContext, inplanes: number, planes: number, stride: number) {
    super();
    this.conv1 = this.addModule('conv1', conv(ctx.rng, inplanes, planes, 3, stride));
    this.bn1 = this.addModule('bn1', new BatchNorm({ numFeatures: planes, relu: true }));
    this.conv2 = this.addModule('conv2', conv(ctx.rng, planes, planes, 3));
    this.bn2 = this.addModule('bn2', new BatchNorm({ numFeatures: planes, zeroInit: ctx.zeroInitResidual }));
    this.down = stride !== 1 || inplanes !== planes ? this.addModule('downsample', downsample(ctx, inplanes, planes, stride)) : undefined;
  }

  forward(x: tf.Tensor, options: ForwardOptions): tf.Tensor {
    return tf.tidy(() => {
      const out = this.bn2.forward(this.conv2.forward(this.bn1.forward(this.conv1.forward(x), options)), options);
      const identity = this.down === undefined ? x : this.down.forward(x, options);
      return tf.relu(tf.add(out, identity));
    });
  }
}

/** torchvision's Bottleneck (expansion 4, stride on the 3x3: ResNet v1.5). */
export class Bottleneck extends Module {
  static readonly expansion = 4;
  private readonly conv1: Conv2d;
  private readonly bn1: BatchNorm;
  private readonly conv2: Conv2d;
  private readonly bn2: BatchNorm;
  private readonly conv3: Conv2d;
  private readonly bn3: BatchNorm;
  private readonly down: Sequential | undefined;

  constructor(ctx: BlockContext, inplanes: number, planes: number, stride: number) {
    super();
    const width = planes; // groups 1, base width 64
    const out = planes * Bottleneck.expansion;
    this.conv1 = this.addModule('conv1', conv(ctx.rng, inplanes, width, 1));
    this.bn1 = this.addModule('bn1', new BatchNorm({ numFeatures: width, relu: true }));
    this.conv2 = this.addModule('conv2', conv(ctx.rng, width, width, 3, stride));
    this.bn2 = this.addModule('bn2', new BatchNorm({ numFeatures: width, relu: true }));
    this.conv3 = this.addModule('conv3', conv(ctx.rng, width, out, 1));
    this.bn3 = this.addModule('bn3', new BatchNorm({ numFeatures: out, zeroInit: ctx.zeroInitResidual }));
    this.down = stride !== 1 || inplanes !== out ? this.addModule('downsample', downsample(ctx, inplanes, out, stride)) : undefined;
  }

  forward(x: tf.Tensor, options: ForwardOptions): tf.Tensor {
    return tf.tidy(() => {
      let h = this.bn1.forward(this.conv1.forward(x), options);
      h = this.bn2.forward(this.conv2.forward(h), options);
      h = this.bn3.forward(this.conv3.forward(h), options);
      const identity = this.down === undefined ? x : this.down.forward(x, options);
      return tf.relu(tf.add(h, identity));
    });
  }
}

export class ResNet extends Module {
  readonly stem: ResNetStem;
  readonly block: ResNetBlock;
  readonly inChannels: number;
  /** Width of the output features: featureDim, or 512·expansion without fc. */
  readonly outputDim: number;
  private readonly conv1: Conv2d;
  private readonly bn1: BatchNorm;
  private readonly maxpool: MaxPool | undefined;
  private readonly stages: Sequential[] = [];
  private readonly fc: Linear | undefined;

  constructor(block: ResNetBlock, layers: readonly number[], config: ResNetConfig = {}) {
    super();
    const fn = 'ResNet';
    if (block !== 'basic' && block !== 'bottleneck') throw new ArgumentError(fn, 'block', `must be 'basic' or 'bottleneck', got ${String(block)}`);
    if (!Array.isArray(layers) || layers.length !== 4) throw new ArgumentError(fn, 'layers', `must list 4 block counts, got ${String(layers)}`);
    layers.forEach((n) => checkPositiveInt(fn, 'layers', n));
    const stem = config.stem ?? DEFAULT_RESNET_CONFIG.stem;
    if (stem !== 'imagenet' && stem !== 'cifar') throw new ArgumentError(fn, 'stem', `must be 'imagenet' or 'cifar', got ${String(stem)}`);
    const featureDim = config.featureDim === undefined ? DEFAULT_RESNET_CONFIG.featureDim : config.featureDim;
    if (featureDim !== null) checkPositiveInt(fn, 'featureDim', featureDim);
    this.inChannels = checkPositiveInt(fn, 'inChannels', config.inChannels ?? DEFAULT_RESNET_CONFIG.inChannels);
    const seed = config.seed ?? DEFAULT_RESNET_CONFIG.seed;
    if (!Number.isFinite(seed)) throw new ArgumentError(fn, 'seed', `must be a finite number, got ${seed}`);
    this.stem = stem;
    this.block = block;

    const ctx: BlockContext = {
      rng: new SeededRandom(seed),
      zeroInitResidual: config.zeroInitResidual ?? DEFAULT_RESNET_CONFIG.zeroInitResidual,
    };
    this.conv1 = this.addModule('conv1', stem === 'imagenet' ? conv(ctx.rng, this.inChannels, 64, 7, 2) : conv(ctx.rng, this.inChannels, 64, 3, 1));
    this.bn1 = this.addModule('bn1', new BatchNorm({ numFeatures: 64, relu: true }));
    this.maxpool = stem === 'imagenet' ? this.addModule('maxpool', new MaxPool({ kernelSize: 3, stride: 2, padding: 1 })) : undefined;

    const Block = block === 'basic' ? BasicBlock : Bottleneck;
    let inplanes = 64;
    [64, 128, 256, 512].forEach((planes, i) => {
      const blocks: Module[] = [];
      for (let b = 0; b < layers[i]; b++) {
        blocks.push(new Block(ctx, inplanes, planes, b === 0 && i > 0 ? 2 : 1));
        inplanes = planes * Block.expansion;
      }
      this.stages.push(this.addModule(`layer${i + 1}`, new Sequential(blocks)));
    });
    this.fc = featureDim === null ? undefined : this.addModule('fc', new Linear({ inFeatures: inplanes, outFeatures: featureDim, rng: ctx.rng }));
    this.outputDim = featureDim ?? inplanes;
  }

  forward(x: tf.Tensor, options: ForwardOptions): tf.Tensor2D {
    this.assertAlive();
    checkInput('ResNet.forward', x, 4, this.inChannels);
    return tf.tidy(() => {
      let h = this.bn1.forward(this.conv1.forward(x), options); // [N, H', W', 64]
      if (this.maxpool !== undefined) h = this.maxpool.forward(h);
      for (const stage of this.stages) h = stage.forward(h, options);
      const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D; // [N, 512·expansion]
      return this.fc === undefined ? pooled : this.fc.forward(pooled); // [N, outputDim]
    });
  }
}

/** ResNet-18: BasicBlock, [2, 2, 2, 2]. */
export function resnet18(config: ResNetConfig = {}): ResNet {
  return new ResNet('basic', [2, 2, 2, 2], config);
}

/** ResNet-34: BasicBlock, [3, 4, 6, 3]. */
export function resnet34(config: ResNetConfig = {}): ResNet {
  return new ResNet('basic', [3, 4, 6, 3], config);
}

/** ResNet-50: Bottleneck, [3, 4, 6, 3]. */
export function resnet50(config: ResNetConfig = {}): ResNet {
  return new ResNet('bottleneck', [3, 4, 6, 3], config);
}
