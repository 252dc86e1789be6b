/**
 * The skip policy of the data plane (timm's): a failing sample is skipped - reported to
 * `onSkip` and as a log line - until `max` samples in a row have failed; then the stream stops
 * with TooManyFailuresError naming the last ones. Any success resets the count.
 */
import { TooManyFailuresError, type SampleError } from '../data.ts';

export const DEFAULT_MAX_CONSECUTIVE_FAILURES = 50;

export class FailureCap {
  private consecutive = 0;
  private readonly recent: SampleError[] = [];

  constructor(
    private readonly where: string,
    private readonly max: number,
    private readonly log: ((line: string) => void) | null,
    private readonly onSkip: ((error: SampleError) => void) | undefined,
  ) {}

  /** Records a skipped sample; throws TooManyFailuresError when the cap is reached. */
  fail(err: SampleError, raw: string): void {
    this.consecutive++;
    this.recent.push(err);
    if (this.recent.length > 5) this.recent.shift();
    this.log?.(`${this.where}: skipped sample ${err.index}${err.path !== undefined ? ` '${err.path}'` : ''} (epoch ${err.epoch}): ${err.reason} failed: ${raw} [${this.consecutive} in a row, cap ${this.max}]`);
    this.onSkip?.(err);
    if (this.consecutive >= this.max) throw new TooManyFailuresError(this.where, this.consecutive, [...this.recent]);
  }

  ok(): void {
    this.consecutive = 0;
  }
}
