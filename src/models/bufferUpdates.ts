/**
 * Deferred buffer updates (BN running statistics).
 *
 * A BatchNorm in training mode updates its running mean and variance. PyTorch does this as a
 * side effect of the forward pass. Here a forward pass run inside `deferBufferUpdates` only
 * records the update (holding the [C] batch statistics); the caller commits the updates once
 * the step is known to be good, or discards them. `trainStep` does this, so:
 *   - the running-statistics arithmetic runs after the gradient tape has closed, and
 *   - a step that diverges (NaN loss) leaves the running statistics untouched.
 * Outside any `deferBufferUpdates` scope the update is applied immediately, as in PyTorch.
 * Updates are applied in the order the forward passes ran (two views through one encoder
 * update the statistics twice, as PyTorch would).
 */
import { ArgumentError, ContrastreamError } from '../errors.ts';

/** One recorded update. `apply` must not be called after `dispose`. */
export interface BufferUpdate {
  apply(): void;
  /** Frees the tensors the update holds. */
  dispose(): void;
}

const scopes: BufferUpdate[][] = [];

/** Called by layers: records the update in the innermost scope, or applies it now. */
export function scheduleBufferUpdate(update: BufferUpdate): void {
  const scope = scopes[scopes.length - 1];
  if (scope !== undefined) {
    scope.push(update);
    return;
  }
  try {
    update.apply();
  } finally {
    update.dispose();
  }
}

/** Updates recorded by one `deferBufferUpdates` call. Commit or discard exactly once. */
export class PendingBufferUpdates {
  private updates: BufferUpdate[] | null;

  constructor(updates: BufferUpdate[]) {
    this.updates = updates;
  }

  /** Number of recorded updates (0 after commit/discard). */
  get size(): number {
    return this.updates?.length ?? 0;
  }

  /** Whether commit or discard has been called. */
  get settled(): boolean {
    return this.updates === null;
  }

  /** Applies every update in order and frees them. */
  commit(): void {
    const updates = this.take('commit');
    let failure: unknown;
    for (const u of updates) {
      try {
        if (failure === undefined) u.apply();
      } catch (err) {
        failure = err;
      } finally {
        u.dispose();
      }
    }
    if (failure !== undefined) throw failure;
  }

  /** Frees every update without applying it. */
  discard(): void {
    for (const u of this.take('discard')) u.dispose();
  }

  private take(op: string): BufferUpdate[] {
    if (this.updates === null) {
      throw new ContrastreamError(`PendingBufferUpdates.${op}: already committed or discarded; call exactly one of them once`);
    }
    const u = this.updates;
    this.updates = null;
    return u;
  }
}

/**
 * Runs `fn` (synchronously) with buffer updates deferred. Returns its result and the pending
 * updates; if `fn` throws, the updates are discarded and the error rethrown.
 */
export function deferBufferUpdates<T>(fn: () => T): { result: T; pending: PendingBufferUpdates } {
  const scope: BufferUpdate[] = [];
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    for (const u of scope) u.dispose();
    throw err;
  } finally {
    scopes.pop();
  }
  if (typeof (result as { then?: unknown } | null)?.then === 'function') {
    for (const u of scope) u.dispose();
    throw new ArgumentError('deferBufferUpdates', 'fn', 'must be synchronous (it returned a promise)');
  }
  return { result, pending: new PendingBufferUpdates(scope) };
}
