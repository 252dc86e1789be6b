/**
 * Training progress: a live bar on a TTY (step/total, img/s, loss, ETA), plain log lines
 * otherwise (every `logEvery` steps and at the end of each epoch).
 */
export interface ProgressConfig {
  total: number;
  stepsPerEpoch: number;
  /** Output stream. Default process.stdout. */
  stream?: NodeJS.WriteStream | { isTTY?: boolean; write(s: string): boolean; columns?: number };
  /** Non-TTY: a line every this many steps. Default max(1, stepsPerEpoch / 4). */
  logEvery?: number;
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const m = Math.floor(s / 60);
  const sec = Math.floor(s % 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${m}:${String(sec).padStart(2, '0')}`;
}

export class Progress {
  private readonly stream: NonNullable<ProgressConfig['stream']>;
  private readonly start = performance.now();
  private images = 0;
  private ema = NaN;
  private lastDraw = 0;
  private readonly logEvery: number;

  constructor(private readonly config: ProgressConfig) {
    this.stream = config.stream ?? process.stdout;
    this.logEvery = config.logEvery ?? Math.max(1, Math.floor(config.stepsPerEpoch / 4));
  }

  get tty(): boolean {
    return this.stream.isTTY === true;
  }

  /** Images per second since start. */
  get rate(): number {
    return this.images / ((performance.now() - this.start) / 1000);
  }

  update(step: number, epoch: number, loss: number, images: number): void {
    this.images += images;
    this.ema = Number.isNaN(this.ema) ? loss : 0.9 * this.ema + 0.1 * loss;
    const { total, stepsPerEpoch } = this.config;
    const elapsed = (performance.now() - this.start) / 1000;
    const eta = (elapsed / step) * (total - step);
    const info = `epoch ${epoch + 1} step ${step}/${total} | ${this.rate.toFixed(0)} img/s | loss ${this.ema.toFixed(4)} | ETA ${fmtTime(eta)}`;
    if (this.tty) {
      const now = performance.now();
      if (now - this.lastDraw < 100 && step !== total) return;
      this.lastDraw = now;
      const width = 24;
      const filled = Math.round((step / total) * width);
      const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${info}`;
      this.stream.write(`\r${line.slice(0, (this.stream.columns ?? 120) - 1)}\x1b[K`);
      if (step === total) this.stream.write('\n');
    } else if (step % this.logEvery === 0 || step % stepsPerEpoch === 0 || step === total) {
      this.stream.write(`${info}\n`);
    }
  }

  /** Prints a line without breaking the bar. */
  log(line: string): void {
    this.stream.write(this.tty ? `\r\x1b[K${line}\n` : `${line}\n`);
  }
}
