/**
 * Training progress, one bar per epoch.
 *
 * On a TTY the bar is redrawn in place (`\r`, at most every `redrawMs`) and left on its own
 * line when the epoch ends:
 *
 *   epoch 2/5 [##########..............]  40/117 | 812 img/s | loss 4.1234 | ETA 0:12 (run 1:23)
 *
 * When the stream is not a TTY (a log file, CI) it prints plain lines instead: every
 * `logEvery` steps and at the end of every epoch. img/s is over the last `window` steps; the
 * loss is an exponential moving average (0.9); the ETAs assume the mean step time so far.
 */
export interface ProgressConfig {
  /** Steps in the whole run. */
  total: number;
  stepsPerEpoch: number;
  /** Steps already done before this process (a resumed run). Default 0. */
  startStep?: number;
  /** Output stream. Default process.stdout. */
  stream?: NodeJS.WriteStream | { isTTY?: boolean; write(s: string): boolean; columns?: number };
  /** Non-TTY: a line every this many steps. Default max(1, stepsPerEpoch / 4). */
  logEvery?: number;
  /** TTY: least time between redraws, ms. Default 100. */
  redrawMs?: number;
  /** Steps over which img/s is measured. Default 20. */
  window?: number;
}

export const DEFAULT_PROGRESS_CONFIG = { startStep: 0, redrawMs: 100, window: 20 } as const;

/** Formats seconds as m:ss, or XhYYm above an hour; '--:--' when unknown. */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const m = Math.floor(s / 60);
  const sec = Math.floor(s % 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${m}:${String(sec).padStart(2, '0')}`;
}

export class Progress {
  private readonly stream: NonNullable<ProgressConfig['stream']>;
  private readonly start = performance.now();
  private readonly startStep: number;
  private images = 0;
  private ema = NaN;
  private lastDraw = -Infinity;
  private readonly logEvery: number;
  private readonly times: number[] = [];
  private readonly counts: number[] = [];
  private barOpen = false;

  constructor(private readonly config: ProgressConfig) {
    this.stream = config.stream ?? process.stdout;
    this.startStep = config.startStep ?? DEFAULT_PROGRESS_CONFIG.startStep;
    this.logEvery = config.logEvery ?? Math.max(1, Math.floor(config.stepsPerEpoch / 4));
  }

  get tty(): boolean {
    return this.stream.isTTY === true;
  }

  /** Images per second since this Progress started. */
  get rate(): number {
    return this.images / ((performance.now() - this.start) / 1000);
  }

  /** Images per second over the last `window` steps (the whole run until then). */
  get recentRate(): number {
    if (this.times.length < 2) return this.rate;
    const dt = (this.times[this.times.length - 1] - this.times[0]) / 1000;
    const n = this.counts.slice(1).reduce((a, b) => a + b, 0);
    return dt > 0 ? n / dt : this.rate;
  }

  /** The text of the bar for a step (no control characters). */
  line(step: number, epoch: number, width = 24): string {
    const { total, stepsPerEpoch } = this.config;
    const epochs = Math.max(1, Math.ceil(total / stepsPerEpoch));
    const inEpoch = step - epoch * stepsPerEpoch;
    const done = step - this.startStep;
    const elapsed = (performance.now() - this.start) / 1000;
    const perStep = done > 0 ? elapsed / done : NaN;
    const etaEpoch = perStep * (stepsPerEpoch - inEpoch);
    const etaRun = perStep * (total - step);
    const filled = Math.max(0, Math.min(width, Math.round((inEpoch / stepsPerEpoch) * width)));
    const w = String(stepsPerEpoch).length;
    return (
      `epoch ${epoch + 1}/${epochs} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(inEpoch).padStart(w)}/${stepsPerEpoch}` +
      ` | ${this.recentRate.toFixed(0)} img/s | loss ${this.ema.toFixed(4)} | ETA ${formatDuration(etaEpoch)}` +
      (epochs > 1 ? ` (run ${formatDuration(etaRun)})` : '')
    );
  }

  /**
   * Records a finished step: 1-based run step, 0-based epoch, its loss and source images.
   * The step's epoch is taken from the step number (so a step that ends an epoch draws a
   * full bar for that epoch).
   */
  update(step: number, _epoch: number, loss: number, images: number): void {
    const now = performance.now();
    this.images += images;
    this.times.push(now);
    this.counts.push(images);
    const window = this.config.window ?? DEFAULT_PROGRESS_CONFIG.window;
    if (this.times.length > window + 1) {
      this.times.shift();
      this.counts.shift();
    }
    this.ema = Number.isNaN(this.ema) ? loss : 0.9 * this.ema + 0.1 * loss;
    const { total, stepsPerEpoch } = this.config;
    const epoch = Math.floor((step - 1) / stepsPerEpoch);
    const epochEnd = step % stepsPerEpoch === 0 || step === total;
    if (this.tty) {
      if (now - this.lastDraw < (this.config.redrawMs ?? DEFAULT_PROGRESS_CONFIG.redrawMs) && !epochEnd) return;
      this.lastDraw = now;
      const cols = this.stream.columns ?? 120;
      // Narrow terminals: shrink the bar (24 wide by default, at least 8) before cutting text.
      const textWidth = this.line(step, epoch, 0).length;
      const width = Math.max(8, Math.min(24, cols - 1 - textWidth));
      this.stream.write(`\r${this.line(step, epoch, width).slice(0, cols - 1)}\x1b[K`);
      this.barOpen = !epochEnd;
      if (epochEnd) this.stream.write('\n');
    } else if (step % this.logEvery === 0 || epochEnd) {
      this.stream.write(`${this.line(step, epoch, 0).replace(' [] ', ' step ')}\n`);
    }
  }

  /** Prints a line without breaking the bar (the bar is redrawn on the next update). */
  log(line: string): void {
    if (this.tty && this.barOpen) {
      this.stream.write(`\r\x1b[K${line}\n`);
      this.lastDraw = -Infinity;
    } else {
      this.stream.write(`${line}\n`);
    }
  }
}
