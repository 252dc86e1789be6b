/**
 * Operator that applies MoCo's momentum update theta_k <- m theta_k + (1 - m) theta_q
 * (He et al. 2019, Eq. 2) once per value, after the optimizer step: place it after the step in
 * the pipe. The update runs on the variables' device and does not block on a download; the value
 * is emitted after it. Errors (a disposed variable) go through `subscriber.error`.
 */
import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import { ArgumentError } from '../errors.ts';
import { MomentumEncoder } from './MomentumEncoder.ts';

export interface UpdateMomentumEncoderConfig<T> {
  /** The encoder pair to update. Required. */
  encoder: MomentumEncoder;
  /** Whether a value is an optimizer step that should trigger an update. Default: every value. */
  when?: (value: T) => boolean;
}

export const DEFAULT_UPDATE_MOMENTUM_ENCODER_CONFIG = { when: () => true } as const;

export function updateMomentumEncoder<T>(config: UpdateMomentumEncoderConfig<T>): MonoTypeOperatorFunction<T> {
  const fn = 'updateMomentumEncoder';
  if (config === null || typeof config !== 'object') throw new ArgumentError(fn, 'config', 'must be an object');
  if (!(config.encoder instanceof MomentumEncoder)) throw new ArgumentError(fn, 'config.encoder', 'must be a MomentumEncoder');
  if (config.when !== undefined && typeof config.when !== 'function') throw new ArgumentError(fn, 'config.when', 'must be a function value => boolean');
  const { encoder } = config;
  const when: (value: T) => boolean = config.when ?? DEFAULT_UPDATE_MOMENTUM_ENCODER_CONFIG.when;
  return (source) =>
    new Observable<T>((subscriber) =>
      source.subscribe({
        next(value) {
          try {
            if (when(value)) encoder.update();
          } catch (error) {
            subscriber.error(error);
            return;
          }
          subscriber.next(value);
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      }),
    );
}
