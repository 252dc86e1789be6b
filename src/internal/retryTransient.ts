/**
 * Bounded retry of operations that fail for transient reasons: too many open files (EMFILE,
 * ENFILE), a busy or interrupted resource (EAGAIN, EBUSY, EINTR), a network file system that
 * timed out (ETIMEDOUT). Other errors (ENOENT, EACCES, corrupt data) are thrown at once.
 *
 * Attempt k (k = 1..retries) waits baseDelayMs * 4^(k-1): 20, 80, 320 ms by default, i.e. at
 * most 3 retries and 0.42 s per operation before the error is reported.
 */
export interface RetryTransientConfig {
  /** Retries after the first attempt. Default 3. */
  retries?: number;
  /** Wait before the first retry; each next wait is 4x longer. Default 20 ms. */
  baseDelayMs?: number;
  /** Called before each retry with the error and the attempt number (1-based). */
  onRetry?: (error: unknown, attempt: number) => void;
}

export const DEFAULT_RETRY_TRANSIENT_CONFIG = { retries: 3, baseDelayMs: 20 } as const;

export const TRANSIENT_CODES: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY', 'EINTR', 'ETIMEDOUT']);

export function isTransientError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && TRANSIENT_CODES.has(code);
}

export async function retryTransient<T>(op: () => Promise<T>, config: RetryTransientConfig = {}): Promise<T> {
  const retries = config.retries ?? DEFAULT_RETRY_TRANSIENT_CONFIG.retries;
  const base = config.baseDelayMs ?? DEFAULT_RETRY_TRANSIENT_CONFIG.baseDelayMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (attempt >= retries || !isTransientError(err)) throw err;
      config.onRetry?.(err, attempt + 1);
      await new Promise((r) => setTimeout(r, base * 4 ** attempt));
    }
  }
}
