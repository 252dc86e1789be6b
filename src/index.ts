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
  NoCheckpointError,
  CheckpointError,
} from './errors.ts';

// backend
export { initBackend, activeBackend, parseBackendName, BACKEND_ORDER, type BackendName, type BackendInfo, type InitBackendConfig } from './backend/initBackend.ts';
export { batchNormTraining, type BatchNormTrainingConfig, type BatchNormTrainingResult } from './ops/batchNormTraining.ts';

// data types
export { SampleError, PathEscapeError, DataFormatError, BatchShapeError, isImageFile, type Lease, type SampleFailure, type Sample, type ImageFile, type SourceItem, type AugmentedSample, type ArrayBatch, type TensorBatch, type ViewArray } from './data.ts';

// sources
export { DataSource, pullValues } from './sources/DataSource.ts';
export { listImageFolder, DEFAULT_IMAGE_EXTENSIONS, type ListImageFolderConfig, type ImageFolderListing } from './sources/listImageFolder.ts';
export { fromArrays, type ArraysData, type FromArraysConfig } from './sources/fromArrays.ts';
export { fromIdx, parseIdxHeader, type FromIdxConfig, type IdxHeader } from './sources/fromIdx.ts';
export { fromCifar10Binary, type FromCifar10BinaryConfig } from './sources/fromCifar10Binary.ts';
export { fromImageFolder, type FromImageFolderConfig } from './sources/fromImageFolder.ts';
export { isFrame, interleaveVideos, FfmpegNotFoundError, VideoDecodeError, type Frame, type FrameSource, type VideoErrorPolicy } from './sources/FrameSource.ts';
export { fromVideoFile, buildFfmpegArgs, type FromVideoFileConfig } from './sources/fromVideoFile.ts';
export { fromFrameFolder, listFrameFolder, type FromFrameFolderConfig } from './sources/fromFrameFolder.ts';
export { findFfmpeg, FFMPEG_ENV, type FindFfmpegConfig, type FfmpegLocation } from './sources/findFfmpeg.ts';

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
export { createAugmentPool, AugmentPool, DEFAULT_AUGMENT_POOL_CONFIG, type AugmentPoolConfig } from './augment/createAugmentPool.ts';
export { TooManyFailuresError, WorkerError, type WorkerFailure } from './data.ts';
export { readImageHeader, checkImageHeader, type ImageHeader } from './augment/imageHeader.ts';
export { retryTransient, isTransientError, type RetryTransientConfig } from './internal/retryTransient.ts';

// operators
export { augmentInPool, SAMPLE_DONE, type AugmentInPoolConfig } from './operators/augmentInPool.ts';
export { batchWithPrefetch, type BatchWithPrefetchConfig } from './operators/batchWithPrefetch.ts';
export { toTensorBatch, type ToTensorBatchConfig } from './operators/toTensorBatch.ts';
export { pullMap, type PullMapConfig } from './operators/pullMap.ts';
export { createFlowStats, type FlowStats } from './operators/createFlowStats.ts';
export { applyAugment, type AugmentKey, type OutputAlloc } from './augment/applyAugment.ts';
export { decodeImage, type DecodeConfig } from './augment/decodeImage.ts';
export { setNativeAugment, nativeAugmentStatus } from './augment/nativeKernels.ts';
export { rgbToLab, labToRgb } from './augment/lab.ts';
export { trainEach, type TrainEachConfig, type TrainedStep, type LossResult } from './operators/trainEach.ts';
export {
  temporalPositives,
  createTemporalPositivesStats,
  temporalDistance,
  isTemporalNegative,
  type TemporalPositivesConfig,
  type TemporalPositivesStats,
  type TemporalTuple,
  type TemporalSpan,
  type FramePosition,
} from './operators/temporalPositives.ts';
export { frameSequences, type FrameSequencesConfig, type FrameSequence } from './operators/frameSequences.ts';

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
export { writeCheckpoint, readCheckpoint, latestCheckpoint, listCheckpoints, pruneCheckpoints, CHECKPOINTS_DIR, type Checkpoint, type CheckpointRef, type TensorData, type WriteCheckpointConfig } from './run/checkpoint.ts';
export { loadRun, readRunInfo, MetricsWriter, CONFIG_JSON, METRICS_JSONL, EMBEDDING_JSON, WEIGHTS_DIR, PIPELINE_JSON, type RunInfo } from './run/RunFolder.ts';
export { loadEncoder, type LoadedEncoder, type LoadEncoderConfig } from './run/loadEncoder.ts';
export { pca2d, type Pca2dConfig, type Pca2dResult } from './eval/pca2d.ts';
export { subscribeGated, type PushGate } from './sources/DataSource.ts';
export { openDataset } from './pipeline/openDataset.ts';
export { knnClassify, type KnnConfig, type KnnResult } from './eval/knnClassify.ts';
export { linearProbe, softmaxRegressionGradients, DEFAULT_LINEAR_PROBE_CONFIG, type LinearProbeConfig, type LinearProbeResult } from './eval/linearProbe.ts';
export { writeFeatures, readNpy, encodeNpy, NpyFormatError, type FeatureFile } from './eval/writeFeatures.ts';

// CLI pieces: run report, pipeline files, progress
export { writeReport, renderReport, readReportData, ReportError, DEFAULT_WRITE_REPORT_CONFIG, type WriteReportConfig, type ReportData } from './report/writeReport.ts';
export { readDefinitionFile, validateConfig, configProblems, DefinitionError, type DeclarativeDefinition } from './cli/definitionSchema.ts';
export { Progress, DEFAULT_PROGRESS_CONFIG, type ProgressConfig } from './cli/progress.ts';
