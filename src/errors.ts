/**
 * Base class of every error contrastream throws. `name` is the subclass name, the message
 * says what was wrong and what to do about it.
 */
export class ContrastreamError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An argument failed validation. Names the function and the argument. */
export class ArgumentError extends ContrastreamError {
  constructor(fn: string, arg: string, problem: string) {
    super(`${fn}: argument '${arg}' ${problem}`);
  }
}

/** No TensorFlow.js backend could be initialised. */
export class BackendError extends ContrastreamError {}

/**
 * Serialised state (a checkpoint of a memory bank, key queue or momentum encoder) is malformed,
 * belongs to another kind of object, or cannot be taken right now (updates still pending).
 */
export class StateError extends ContrastreamError {}

/**
 * A loss broke one of the invariants checked by `checkLossInvariants` (contrastream/testing).
 * The message lists every failed property with its shrunk counterexample.
 */
export class LossInvariantError extends ContrastreamError {}

/**
 * A weights manifest (model.json) names a file outside its folder: an absolute path, a `..`
 * segment, or a link that resolves elsewhere. Names the manifest and the offending entry.
 */
export class UnsafePathError extends ContrastreamError {
  /** The manifest file that named the path. */
  readonly manifest: string;
  /** The offending path as written in the manifest. */
  readonly entry: string;
  constructor(manifest: string, entry: string, reason: string) {
    super(
      `${manifest}: weights path '${entry}' ${reason}; refusing to read it. ` +
        `Manifest paths must be plain relative names inside the model folder (e.g. 'weights.bin').`,
    );
    this.manifest = manifest;
    this.entry = entry;
  }
}

/** A weights file (or its manifest) is truncated, corrupt or unreadable. Names the file. */
export class CorruptWeightsError extends ContrastreamError {
  /** Path of the bad file. */
  readonly file: string;
  constructor(file: string, problem: string, options?: { cause?: unknown }) {
    super(`${file}: ${problem}. Save the weights again (saveWeights) or restore the file from a backup.`, options);
    this.file = file;
  }
}

/** Saved weights do not fit the module (missing, unexpected or wrongly shaped tensors). */
export class WeightsMismatchError extends ContrastreamError {}

/**
 * The loss or a gradient became NaN or Inf. Thrown by trainStep before the update is
 * applied, so parameters, optimizer state and BN running statistics are left as they were.
 */
export class DivergenceError extends ContrastreamError {
  /** The step (optimizer iteration) whose loss or gradients were not finite. */
  readonly step: number;
  /** What was not finite, e.g. `loss is NaN` or `gradient of 'fc.weight' has Inf`. */
  readonly what: string;
  constructor(step: number, what: string, hint: string) {
    super(`training diverged at step ${step}: ${what}. ${hint}`);
    this.step = step;
    this.what = what;
  }
}

/** A run folder holds no checkpoint to resume or load from. Names the folder. */
export class NoCheckpointError extends ContrastreamError {
  readonly dir: string;
  constructor(dir: string) {
    super(`no checkpoint in ${dir}: the run saved none yet (checkpoints are written every --checkpoint-every steps, at the end and on Ctrl-C). Start the run again with 'run'.`);
    this.dir = dir;
  }
}

/** A checkpoint (or a run folder's file) is truncated, corrupt or does not fit the pipeline. Names the file. */
export class CheckpointError extends ContrastreamError {
  /** Path of the bad file or folder. */
  readonly file: string;
  constructor(file: string, problem: string, options?: { cause?: unknown }) {
    super(`${file}: ${problem}`, options);
    this.file = file;
  }
}
