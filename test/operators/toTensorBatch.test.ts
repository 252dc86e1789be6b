import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { from, lastValueFrom, map, toArray, concatMap } from 'rxjs';
import { toTensorBatch } from '../../src/operators/toTensorBatch.ts';
import { batchWithPrefetch } from '../../src/operators/batchWithPrefetch.ts';
import { pullMap } from '../../src/operators/pullMap.ts';
import { createFlowStats } from '../../src/operators/createFlowStats.ts';
import { fromArrays } from '../../src/sources/fromArrays.ts';
import type { TensorBatch, AugmentedSample } from '../../src/data.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const N = 10;
const images = new Uint8Array(N * 2 * 3 * 1).map((_, i) => i);
const src = () => fromArrays({ images, width: 3, height: 2, channels: 1, labels: Array.from({ length: N }, (_, i) => i % 2) });

describe('toTensorBatch', () => {
  it('wraps batches as NHWC tensors and disposes them when the consumer is done (tensor count flat)', async () => {
    const before = tf.memory().numTensors;
    const seen: number[][] = [];
    await lastValueFrom(
      src().pipe(
        batchWithPrefetch({ batchSize: 4 }),
        toTensorBatch(),
        map((b: TensorBatch) => {
          expect(b.views[0].shape).toEqual([b.size, 2, 3, 1]);
          expect(b.views[0].dtype).toBe('float32');
          seen.push(Array.from(b.labels!.dataSync()));
          // inside `next` the tensors are alive
          expect(b.views[0].isDisposed).toBe(false);
          return b;
        }),
        toArray(),
      ),
    );
    expect(seen).toEqual([[0, 1, 0, 1], [0, 1, 0, 1], [0, 1]]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('float32 views keep their values; uint8 views become float32 0..255 (or int32)', async () => {
    const s: AugmentedSample = { index: 0, epoch: 0, views: [{ data: new Float32Array([-1.5, 2]), shape: [1, 2, 1] }, { data: new Uint8Array([7, 255]), shape: [1, 1, 2] }] };
    const vals = await lastValueFrom(
      from([s]).pipe(
        batchWithPrefetch({ batchSize: 1 }),
        toTensorBatch({ uint8As: 'int32' }),
        map((b) => [Array.from(b.views[0].dataSync()), Array.from(b.views[1].dataSync()), b.views[1].dtype]),
      ),
    );
    expect(vals).toEqual([[-1.5, 2], [7, 255], 'int32']);
  });

  it('pullMap keeps tensors alive during an async step and frees them after; steps run one at a time', async () => {
    const before = tf.memory().numTensors;
    const stats = createFlowStats();
    let running = 0;
    let maxRunning = 0;
    const sums = await lastValueFrom(
      src().pipe(
        batchWithPrefetch({ batchSize: 3, prefetch: 1 }),
        toTensorBatch(),
        pullMap(
          async (b: TensorBatch) => {
            running++;
            maxRunning = Math.max(maxRunning, running);
            await new Promise((r) => setTimeout(r, 5));
            const v = tf.tidy(() => tf.sum(b.views[0]).dataSync()[0]); // still alive after the await
            running--;
            return v;
          },
          { stats },
        ),
        toArray(),
      ),
    );
    const total = images.reduce((a, v) => a + v, 0);
    expect(sums.reduce((a, v) => a + v, 0)).toBe(total);
    expect(maxRunning).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('pullMap runs `concurrency` projects at once, keeps order, and surfaces errors', async () => {
    let running = 0;
    let maxRunning = 0;
    const out = await lastValueFrom(
      from([5, 1, 3, 2]).pipe(
        pullMap(
          async (x: number) => {
            running++;
            maxRunning = Math.max(maxRunning, running);
            await new Promise((r) => setTimeout(r, x * 3));
            running--;
            return x * 10;
          },
          { concurrency: 2 },
        ),
        toArray(),
      ),
    );
    expect(out).toEqual([50, 10, 30, 20]);
    expect(maxRunning).toBe(2);
    await expect(lastValueFrom(from([1, 2]).pipe(pullMap(async (x: number) => { if (x === 2) throw new Error('step failed'); return x; })))).rejects.toThrow('step failed');
    // plain concatMap still works with retain/release
    const r = await lastValueFrom(src().pipe(batchWithPrefetch({ batchSize: 5 }), concatMap(async (b) => b.size), toArray()));
    expect(r).toEqual([5, 5]);
  });

  it('on the cpu backend (tensors alias the arrays) released batches are not recycled under kept tensors', async () => {
    let kept: tf.Tensor | undefined;
    let want: number[] = [];
    await lastValueFrom(
      src().pipe(
        // float32 views (uint8 views are converted, i.e. copied, by toTensorBatch)
        pullMap((s) => ({ index: s.index, epoch: 0, views: [{ data: Float32Array.from(s.pixels), shape: [2, 3, 1] }] }) as AugmentedSample),
        batchWithPrefetch({ batchSize: 2, prefetch: 1 }),
        toTensorBatch(),
        map((b: TensorBatch) => {
          if (!kept) {
            kept = tf.keep(tf.reshape(b.views[0], [-1])); // shares the data of the batch tensor
            want = Array.from(kept.dataSync());
          }
          return b.size;
        }),
        toArray(),
      ),
    );
    expect(Array.from(kept!.dataSync())).toEqual(want);
    kept!.dispose();
  });
});

