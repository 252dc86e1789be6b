/**
 * contrastream — contrastive self-supervised image encoders as reactive dataflow.
 * Public API, exported by name. The property-testing kit is in `contrastream/testing`.
 */
// errors
export {
  ContrastreamError,
  ArgumentError,
  BackendError,
  StateError,
  LossInvariantError,
  UnsafePathError,
  CorruptWeightsError,
  WeightsMismatchError,
  DivergenceError,
} from './errors.ts';

// backend
export { initBackend, activeBackend, parseBackendName, BACKEND_ORDER, type BackendName, type BackendInfo, type InitBackendConfig } from './backend/initBackend.ts';
export { batchNormTraining, type BatchNormTrainingConfig, type BatchNormTrainingResult } from './ops/batchNormTraining.ts';

// data types
export { SampleError, PathEscapeError, DataFormatError, BatchShapeError, type Sample, type ImageFile, type SourceItem, type AugmentedSample, type ArrayBatch, type TensorBatch, type ViewArray } from './data.ts';

// sources
export { DataSource } from './sources/DataSource.ts';
export { fromArrays, type ArraysData, type FromArraysConfig } from './sources/fromArrays.ts';
export { fromIdx, type FromIdxConfig } from './sources/fromIdx.ts';
export { fromCifar10Binary, type FromCifar10BinaryConfig } from './sources/fromCifar10Binary.ts';
export { fromImageFolder, type FromImageFolderConfig } from './sources/fromImageFolder.ts';

// augmentation
export {
  randomResizedCrop,
  resize,
  centerCrop,
  randomHorizontalFlip,
  colorJitter,
  randomApply,
  randomGrayscale,
  gaussianBlur,
  randomSolarize,
  normalize,
  splitLab,
  patchGrid,
  nViews,
  twoViews,
  IMAGENET_MEAN,
  IMAGENET_STD,
  type AugmentSpec,
  type Transform,
  type View,
} from './augment/spec.ts';
export { simclr as simclrAugment, mocoV1 as mocoV1Augment, mocoV2 as mocoV2Augment, instDisc as instDiscAugment, cmc as cmcAugment, cpc as cpcAugment } from './augment/presets.ts';
export { createAugmentPool, AugmentPool, type AugmentPoolConfig } from './augment/createAugmentPool.ts';

// operators
export { augmentInPool, type AugmentInPoolConfig } from './operators/augmentInPool.ts';
export { batchWithPrefetch, type BatchWithPrefetchConfig } from './operators/batchWithPrefetch.ts';
export { toTensorBatch, type ToTensorBatchConfig } from './operators/toTensorBatch.ts';
export { pullMap, type PullMapConfig } from './operators/pullMap.ts';
export { trainEach, type TrainEachConfig, type TrainedStep, type LossResult } from './operators/trainEach.ts';

// losses
export { ntXentLoss, infoNceLoss, infoNceLossFromLogits, invaSpreadLoss, nceLoss, estimateNceNormalizer, cpcInfoNceLoss, cmcLoss, estimateCmcNormalizers, proximalLoss } from './losses/index.ts';

// memory
export { MemoryBank, updateMemoryBank, KeyQueue, updateKeyQueue, MomentumEncoder, updateMomentumEncoder } from './memory/index.ts';

// models
export { Module, type ForwardOptions } from './models/module.ts';
export { Conv2d } from './models/conv2d.ts';
export { BatchNorm } from './models/batchNorm.ts';
export { Linear } from './models/linear.ts';
export { Sequential } from './models/sequential.ts';
export { convNet6, ConvNet6 } from './models/convNet6.ts';
export { resnet18, resnet34, resnet50, ResNet } from './models/resnet.ts';
export { linearProjection } from './models/linearProjection.ts';
export { mlpProjection, MLPProjection } from './models/mlpProjection.ts';
export { l2Normalize } from './models/l2Normalize.ts';
export { fileSystemIO } from './models/fileSystemIO.ts';
export { saveWeights } from './models/saveWeights.ts';
export { loadWeights } from './models/loadWeights.ts';

// optimisation
export { Optimizer, type OptimizerState } from './optim/optimizer.ts';
export { sgd, SGD } from './optim/sgd.ts';
export { lars, LARS } from './optim/lars.ts';
export { adam, adamw, Adam } from './optim/adam.ts';
export { cosineWithWarmup } from './optim/cosineWithWarmup.ts';
export { stepDecay } from './optim/stepDecay.ts';
export { trainStep, trainStepAsync, type TrainStepConfig } from './train/trainStep.ts';
export { registerGradients } from './train/registerGradients.ts';

// pipelines and evaluation
export { definePipeline, type PipelineDefinition, type PipelineInstance, type PipelineContext, type StepReport, type DatasetInfo } from './pipeline/PipelineDefinition.ts';
export { runPipeline, type RunOptions, type RunResult } from './pipeline/runPipeline.ts';
export { openDataset } from './pipeline/openDataset.ts';
export { knnClassify, type KnnConfig, type KnnResult } from './eval/knnClassify.ts';
