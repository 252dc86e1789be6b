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
