/**
 * `contrastream eval` and `contrastream embed`: frozen-encoder evaluation and feature export.
 *
 * Both load the encoder of a run folder (final weights, else the latest checkpoint) or of a
 * weights folder (with its pipeline.json) through `loadEncoder`, decode the data at the
 * encoder's input size (Resize + CenterCrop in the augmentation pool), and run the features
 * in batches in eval mode.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { formatFlags, intFlag, UsageError, type FlagSpec, type ParsedArgs } from './parseArgs.ts';
import { readRunConfig } from './runFolder.ts';
import { activeBackend, initBackend } from '../backend/initBackend.ts';
import { registerGradients } from '../train/registerGradients.ts';
import { createAugmentPool } from '../augment/createAugmentPool.ts';
import { openDataset, type OpenedDataset } from '../pipeline/openDataset.ts';
import { collectImages, collectImagesWithOrigins, type ImageSet } from '../eval/collectImages.ts';
import { encodeImages, rawPixelFeatures } from '../eval/encodeImages.ts';
import { knnClassify } from '../eval/knnClassify.ts';
import { linearProbe, DEFAULT_LINEAR_PROBE_CONFIG } from '../eval/linearProbe.ts';
import { writeFeatures } from '../eval/writeFeatures.ts';
import { writeReport } from '../report/writeReport.ts';
import { loadEncoder } from '../run/loadEncoder.ts';

const HELP_FLAG: FlagSpec = { type: 'boolean', help: 'show this help' };
const BACKEND_FLAG: FlagSpec = { type: 'string', value: 'NAME', help: 'tensorflow-gpu | tensorflow | wasm | cpu (default: fastest that loads)' };

export const EVAL_FLAGS: Record<string, FlagSpec> = {
  data: { type: 'string', value: 'PATH', help: "labelled data with a train and a test split (default: the run's data)" },
  'eval-train': { type: 'string', value: 'N', help: 'use the first N train images (kNN bank and probe training; default all)' },
  'eval-test': { type: 'string', value: 'N', help: 'use the first N test images (default all)' },
  k: { type: 'string', value: 'N', help: 'kNN neighbours (default 200)' },
  temperature: { type: 'string', value: 'T', help: 'kNN vote temperature (default 0.1)' },
  'probe-epochs': { type: 'string', value: 'N', help: `linear-probe epochs (default ${DEFAULT_LINEAR_PROBE_CONFIG.epochs}; 0 skips the probe)` },
  backend: BACKEND_FLAG,
  help: HELP_FLAG,
};

export const EMBED_FLAGS: Record<string, FlagSpec> = {
  data: { type: 'string', value: 'PATH', help: "IDX, CIFAR-10 binary or image folder (default: the run's data)" },
  out: { type: 'string', value: 'FILE', help: 'output file: .npy (float32 [N, D] + .labels.npy / .paths.txt) or .json' },
  split: { type: 'string', value: 'NAME', help: 'train | test (default train; an unlabelled folder has only train)' },
  limit: { type: 'string', value: 'N', help: 'only the first N images' },
  backend: BACKEND_FLAG,
  help: HELP_FLAG,
};

export { formatFlags };

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

interface Prepared {
  encoder: Awaited<ReturnType<typeof loadEncoder>>;
  dataset: OpenedDataset;
  dataPath: string | undefined;
  isRunFolder: boolean;
  target: string;
}

async function prepare(targetArg: string, flags: ParsedArgs['flags'], command: string): Promise<Prepared> {
  const target = resolve(targetArg);
  if (!existsSync(target)) throw new UsageError(`${command}: '${target}' does not exist`);
  const recorded = readRunConfig(target);
  if (activeBackend() === undefined) await initBackend({ backend: flags.backend as string | undefined, log: say });
  await registerGradients();
  const recordedData = typeof recorded.run.data === 'string' ? recorded.run.data : undefined;
  const dataPath = (flags.data as string | undefined) ?? recordedData;
  const dataset = await openDataset(dataPath === undefined ? undefined : resolve(dataPath));
  const encoder = await loadEncoder(target);
  if (dataset.channels !== encoder.channels && dataset.format !== 'folder') {
    encoder.dispose();
    throw new UsageError(`${command}: the encoder takes ${encoder.channels}-channel images but '${dataset.root}' has ${dataset.channels} channels`);
  }
  return { encoder, dataset, dataPath, isRunFolder: recorded.isRunFolder, target };
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

/** Decodes a split at the encoder's size with the encoder's channel count. */
async function decode(dataset: OpenedDataset, split: 'train' | 'test', size: number, subset: number | undefined): Promise<ImageSet> {
  const pool = createAugmentPool({});
  try {
    const open = split === 'train' ? dataset.train : dataset.test;
    if (open === undefined) throw new UsageError(`the data in '${dataset.root}' has no ${split} split`);
    return await collectImages(open({ subset }), size, pool);
  } finally {
    await pool.destroy();
  }
}

export async function evalCommand(targetArg: string, flags: ParsedArgs['flags']): Promise<number> {
  const k = intFlag(flags, 'k', 'eval') ?? 200;
  const temperature = flags.temperature === undefined ? 0.1 : Number(flags.temperature);
  if (!(temperature > 0)) throw new UsageError(`eval: option '--temperature' needs a number > 0, got '${String(flags.temperature)}'`);
  if (k < 1) throw new UsageError(`eval: option '--k' must be at least 1`);
  const probeEpochs = intFlag(flags, 'probe-epochs', 'eval') ?? DEFAULT_LINEAR_PROBE_CONFIG.epochs;
  const p = await prepare(targetArg, flags, 'eval');
  const { encoder, dataset } = p;
  try {
    if (!dataset.labelled || dataset.test === undefined) {
      throw new UsageError(
        `eval: '${dataset.root}' needs labels and a test split (IDX with t10k-* files, CIFAR-10 with test_batch.bin, or an image folder with train/ and test/ class folders)`,
      );
    }
    const train = await decode(dataset, 'train', encoder.imageSize, intFlag(flags, 'eval-train', 'eval'));
    const test = await decode(dataset, 'test', encoder.imageSize, intFlag(flags, 'eval-test', 'eval'));
    say(`eval: ${encoder.pipeline} encoder from ${p.target} on ${dataset.root} (${train.count} train / ${test.count} test images at ${encoder.imageSize} px)`);
    const numClasses = dataset.numClasses ?? Math.max(...train.labels, ...test.labels) + 1;
    const fTrain = encodeImages(train, (x) => encoder.features(x)); // [N, D]
    const fTest = encodeImages(test, (x) => encoder.features(x)); // [M, D]
    const rTrain = encodeImages(train, rawPixelFeatures); // [N, S*S*C]
    const rTest = encodeImages(test, rawPixelFeatures);
    try {
      const knn = knnClassify(fTrain, train.labels, fTest, test.labels, { k, temperature, numClasses });
      const raw = knnClassify(rTrain, train.labels, rTest, test.labels, { k, temperature, numClasses });
      say(`kNN top-1 (k=${k}, tau=${temperature}): encoder ${pct(knn.top1)} | raw pixels ${pct(raw.top1)}`);
      const result: Record<string, unknown> = {
        knnTop1: knn.top1,
        rawKnnTop1: raw.top1,
        k,
        temperature,
        featureDim: fTrain.shape[1],
        trainImages: train.count,
        testImages: test.count,
        data: dataset.root,
        time: Date.now(),
      };
      if (probeEpochs > 0) {
        const t0 = performance.now();
        const probe = linearProbe(fTrain, train.labels, fTest, test.labels, { epochs: probeEpochs, numClasses });
        say(`linear probe top-1: ${pct(probe.top1)} (train ${pct(probe.trainTop1)}, ${probeEpochs} epochs, ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
        Object.assign(result, { linearTop1: probe.top1, linearTrainTop1: probe.trainTop1, probeEpochs });
      }
      if (p.isRunFolder) {
        writeFileSync(join(p.target, 'eval.json'), JSON.stringify(result, null, 2) + '\n');
        say(`report: ${writeReport(p.target)}`);
      }
    } finally {
      tf.dispose([fTrain, fTest, rTrain, rTest]);
    }
    return 0;
  } finally {
    encoder.dispose();
  }
}

/** collectImages, keeping where every row came from (`file` or `file#frame=N` for videos). */
async function collectRows(dataset: OpenedDataset, split: 'train' | 'test', size: number, limit: number | undefined): Promise<{ set: ImageSet; sources: (string | undefined)[] }> {
  const open = split === 'train' ? dataset.train : dataset.test;
  if (open === undefined) throw new UsageError(`the data in '${dataset.root}' has no ${split} split`);
  const pool = createAugmentPool({});
  try {
    const { set, origins } = await collectImagesWithOrigins(open({ subset: limit }), size, pool, limit);
    const sources = origins.map((o) => (o.path === undefined ? undefined : dataset.format === 'video' ? `${o.path}#frame=${o.index}` : o.path));
    return { set, sources };
  } finally {
    await pool.destroy();
  }
}

export async function embedCommand(targetArg: string, flags: ParsedArgs['flags']): Promise<number> {
  const out = flags.out as string | undefined;
  if (out === undefined) throw new UsageError(`embed: option '--out FILE' is required (a .npy or .json file)`);
  const ext = extname(out).toLowerCase();
  if (ext !== '.npy' && ext !== '.json') throw new UsageError(`embed: '--out ${out}' must end in .npy or .json`);
  const split = (flags.split as string | undefined) ?? 'train';
  if (split !== 'train' && split !== 'test') throw new UsageError(`embed: option '--split' must be train or test, got '${split}'`);
  const limit = intFlag(flags, 'limit', 'embed');
  const p = await prepare(targetArg, flags, 'embed');
  const { encoder, dataset } = p;
  try {
    const { set, sources } = await collectRows(dataset, split, encoder.imageSize, limit);
    const t0 = performance.now();
    const f = encodeImages(set, (x) => encoder.features(x)); // [N, D]
    const features = f.dataSync() as Float32Array;
    const shape: [number, number] = [f.shape[0], f.shape[1]];
    f.dispose();
    const hasLabels = set.labels.some((l) => l >= 0);
    const paths = sources.every((p) => p !== undefined) && sources.length > 0 ? (sources as string[]) : undefined;
    const files = writeFeatures(resolve(out), { features, shape, labels: hasLabels ? set.labels : undefined, paths });
    say(`embed: ${shape[0]} x ${shape[1]} features of ${dataset.root} (${split}) in ${((performance.now() - t0) / 1000).toFixed(1)} s -> ${files.join(', ')}`);
    return 0;
  } finally {
    encoder.dispose();
  }
}
