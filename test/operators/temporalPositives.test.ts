import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { from, lastValueFrom, toArray } from 'rxjs';
import {
  temporalPositives,
  createTemporalPositivesStats,
  temporalDistance,
  type TemporalPositivesConfig,
  type TemporalTuple,
} from '../../src/operators/temporalPositives.ts';
import { frameSequences } from '../../src/operators/frameSequences.ts';
import { ArgumentError } from '../../src/errors.ts';
import type { Frame } from '../../src/sources/FrameSource.ts';
import { DataSource } from '../../src/sources/DataSource.ts';

/** A tiny frame (1 pixel) of video `v` at position n and time t. */
function frame(v: string, n: number, t: number, last = false): Frame {
  const f: Frame = { index: n, videoId: v, frameIndex: n, timestampMs: t, pixels: new Uint8Array([n & 255]), width: 1, height: 1, channels: 1 };
  if (last) f.last = true;
  return f;
}

/** Videos of the given lengths with time steps `gaps[v]` ms (varying), interleaved by `order`. */
function interleaved(lengths: number[], order: number[], gapsMs: number[][], markLast: boolean): Frame[] {
  const pos = lengths.map(() => 0);
  const time = lengths.map(() => 0);
  const out: Frame[] = [];
  let k = 0;
  const remaining = () => lengths.some((l, v) => pos[v] < l);
  while (remaining()) {
    let v = order[k++ % order.length] % lengths.length;
    while (pos[v] >= lengths[v]) v = (v + 1) % lengths.length;
    const n = pos[v]++;
    if (n > 0) time[v] += gapsMs[v][n % gapsMs[v].length];
    out.push(frame(`video${v}`, n, time[v], markLast && n === lengths[v] - 1));
  }
  return out;
}

const run = (frames: Frame[], config: TemporalPositivesConfig) => lastValueFrom(from(frames).pipe(temporalPositives(config), toArray()));

function checkTuple(t: TemporalTuple, unit: 'frames' | 'ms', window: number, minOffset: number, extra: number, negatives: number) {
  expect(t.positives.length).toBe(1 + extra);
  expect(t.negatives.length).toBe(negatives);
  for (const p of t.positives) {
    expect(p.videoId).toBe(t.anchor.videoId);
    expect(p).not.toBe(t.anchor);
    const d = temporalDistance(t.anchor, p, unit);
    expect(d).toBeLessThanOrEqual(window);
    expect(d).toBeGreaterThanOrEqual(minOffset);
  }
  for (const n of t.negatives) expect(temporalDistance(t.anchor, n, unit)).toBeGreaterThan(window);
}

const videosArb = fc.record({
  lengths: fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 4 }),
  order: fc.array(fc.nat(7), { minLength: 1, maxLength: 12 }),
  gaps: fc.array(fc.array(fc.integer({ min: 1, max: 90 }), { minLength: 1, maxLength: 5 }), { minLength: 4, maxLength: 4 }),
  markLast: fc.boolean(),
});

describe('temporalPositives', () => {
  it('property: every positive within the window, no negative inside it (frame windows)', async () => {
    await fc.assert(
      fc.asyncProperty(
        videosArb,
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 0, max: 3 }),
        fc.option(fc.integer({ min: 2, max: 12 }), { nil: undefined }),
        fc.integer({ min: 1, max: 3 }),
        async (vids, window, extra, negatives, maxBufferFrames, maxVideos) => {
          const frames = interleaved(vids.lengths, vids.order, vids.gaps, vids.markLast);
          const stats = createTemporalPositivesStats();
          const tuples = await run(frames, { window: { frames: window }, extraPositives: extra, negatives, maxBufferFrames, maxVideos, stats, negativePoolSize: 4 });
          for (const t of tuples) checkTuple(t, 'frames', window, 1, extra, negatives);
          expect(tuples.map((t) => t.index)).toEqual(tuples.map((_, i) => i));
          // each frame is an anchor at most once
          const anchors = new Set(tuples.map((t) => `${t.anchor.videoId}/${t.anchor.frameIndex}`));
          expect(anchors.size).toBe(tuples.length);
          // bounded: buffers + reservoirs never exceed what the config allows
          const cap = maxBufferFrames ?? Math.max(16, 4 * window + 8);
          expect(stats.peakBufferedFrames).toBeLessThanOrEqual(maxVideos * (cap + 1 + 4) + 4);
          // with the default buffer, one open video at a time and no negatives asked, every
          // frame that has a neighbour within the window becomes an anchor
          if (maxBufferFrames === undefined && negatives === 0 && maxVideos >= vids.lengths.length) {
            const expected = vids.lengths.filter((l) => l >= 2).reduce((a, l) => a + l, 0);
            expect(tuples.length).toBe(expected);
            expect(stats.forcedAnchors).toBe(0);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('property: the same rules with windows in milliseconds over uneven frame times', async () => {
    await fc.assert(
      fc.asyncProperty(
        videosArb,
        fc.integer({ min: 1, max: 400 }),
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 0, max: 3 }),
        async (vids, windowMs, extra, negatives) => {
          const frames = interleaved(vids.lengths, vids.order, vids.gaps, vids.markLast);
          const tuples = await run(frames, { window: { ms: windowMs }, extraPositives: extra, negatives });
          for (const t of tuples) checkTuple(t, 'ms', windowMs, Number.MIN_VALUE, extra, negatives);
          // an anchor is dropped only when nothing of its video lies within the window
          if (negatives === 0) {
            const made = new Set(tuples.map((t) => `${t.anchor.videoId}/${t.anchor.frameIndex}`));
            for (const f of frames) {
              const hasNeighbour = frames.some((g) => g !== f && g.videoId === f.videoId && temporalDistance(f, g, 'ms') <= windowMs && temporalDistance(f, g, 'ms') > 0);
              expect(made.has(`${f.videoId}/${f.frameIndex}`), `${f.videoId}/${f.frameIndex}`).toBe(hasNeighbour);
            }
          }
        },
      ),
      { numRuns: 120 },
    );
  });

  it('samples positives on both sides of the anchor and across the whole window', async () => {
    const frames = Array.from({ length: 200 }, (_, n) => frame('v', n, 40 * n));
    const tuples = await run(frames, { window: { frames: 3 }, extraPositives: 2, seed: 5 });
    const offsets = new Map<number, number>();
    for (const t of tuples) for (const p of t.positives) offsets.set(p.frameIndex - t.anchor.frameIndex, (offsets.get(p.frameIndex - t.anchor.frameIndex) ?? 0) + 1);
    expect([...offsets.keys()].sort((a, b) => a - b)).toEqual([-3, -2, -1, 1, 2, 3]);
    // distinct positives when there are enough candidates
    for (const t of tuples) expect(new Set(t.positives).size).toBe(3);
  });

  it('honours minOffset, negativeMargin and anchorStride', async () => {
    const frames = Array.from({ length: 120 }, (_, n) => frame('v', n, 100 * n));
    const tuples = await run(frames, { window: { frames: 6 }, minOffset: 4, negatives: 3, negativeMargin: 20, anchorStride: 5 });
    for (const t of tuples) {
      for (const p of t.positives) expect(Math.abs(p.frameIndex - t.anchor.frameIndex)).toBeGreaterThanOrEqual(4);
      for (const n of t.negatives) expect(Math.abs(n.frameIndex - t.anchor.frameIndex)).toBeGreaterThan(20);
      expect(t.anchor.frameIndex % 5).toBe(0);
    }
    expect(tuples.length).toBeGreaterThan(15);
  });

  it('shuffles through a bounded buffer: the same tuples, mixed', async () => {
    const frames: Frame[] = [];
    for (let n = 0; n < 50; n++) for (const v of ['a', 'b']) frames.push(frame(v, n, 40 * n));
    const key = (t: TemporalTuple) => `${t.anchor.videoId}/${t.anchor.frameIndex}`;
    const plain = await run(frames, { window: { frames: 2 } });
    const mixed = await run(frames, { window: { frames: 2 }, shuffleBuffer: 16, seed: 3 });
    expect(mixed.map(key).sort()).toEqual(plain.map(key).sort());
    expect(mixed.map(key)).not.toEqual(plain.map(key));
    expect(mixed.map((t) => t.index)).toEqual(mixed.map((_, i) => i));
    // bounded: a tuple leaves at most 16 + (tuples made by one frame) places after its rank
    const rank = new Map(plain.map((t, i) => [key(t), i]));
    mixed.forEach((t, i) => expect(i).toBeGreaterThanOrEqual(rank.get(key(t))! - 16 - 2));
  });

  it('draws negatives from other videos when they are interleaved', async () => {
    const frames: Frame[] = [];
    for (let n = 0; n < 30; n++) for (const v of ['a', 'b', 'c']) frames.push(frame(v, n, 33 * n));
    const tuples = await run(frames, { window: { frames: 40 }, negatives: 4 }); // the window covers whole videos
    expect(tuples.length).toBe(90);
    for (const t of tuples) for (const n of t.negatives) expect(n.videoId).not.toBe(t.anchor.videoId);
  });

  it('keeps memory flat on a long video', async () => {
    const small = createTemporalPositivesStats();
    const large = createTemporalPositivesStats();
    const mk = (len: number) => Array.from({ length: len }, (_, n) => frame('long', n, 40 * n));
    await run(mk(300), { window: { frames: 4 }, negatives: 2, stats: small });
    const tuples = await run(mk(20000), { window: { frames: 4 }, negatives: 2, stats: large });
    expect(tuples.length).toBe(20000);
    expect(large.peakBufferedFrames).toBe(small.peakBufferedFrames);
    expect(large.peakBufferedFrames).toBeLessThanOrEqual(9 + 1 + 32 + 1);
  });

  it('pulls frames lazily: a tuple needs only the frames up to its window', async () => {
    let pulled = 0;
    const frames = Array.from({ length: 1000 }, (_, n) => frame('v', n, 40 * n));
    const counted = new DataSource<Frame>(() => {
      let i = 0;
      return {
        async next() {
          if (i >= frames.length) return { done: true, value: undefined };
          pulled++;
          return { done: false, value: frames[i++] };
        },
      };
    });
    const it = (counted.pipe(temporalPositives({ window: { frames: 3 } })) as DataSource<TemporalTuple>).pull();
    const first = await it.next();
    expect(first.done).toBe(false);
    expect((first.value as TemporalTuple).anchor.frameIndex).toBe(0);
    expect(pulled).toBe(5); // frames 0..4: frame 4 is the first beyond the window of frame 0
    await it.return!(undefined);
  });

  it('ends the stream with an ArgumentError on frames out of order or not frames', async () => {
    await expect(run([frame('v', 0, 0), frame('v', 2, 80), frame('v', 1, 40)], { window: { frames: 2 } })).rejects.toThrow(ArgumentError);
    await expect(run([frame('v', 0, 0), frame('v', 2, 80), frame('v', 1, 40)], { window: { frames: 2 } })).rejects.toThrow(/out of order/);
    await expect(lastValueFrom(from([{ index: 0 }] as unknown as Frame[]).pipe(temporalPositives({ window: { frames: 2 } })))).rejects.toThrow(/must be a Frame/);
  });

  it('checks its config up front', () => {
    expect(() => temporalPositives({ window: { frames: 0 } })).toThrow(/config\.window\.frames/);
    expect(() => temporalPositives({ window: { ms: -1 } })).toThrow(/config\.window\.ms/);
    expect(() => temporalPositives({ window: {} as { frames: number } })).toThrow(/config\.window/);
    expect(() => temporalPositives({ window: { frames: 2 }, minOffset: 3 })).toThrow(/config\.minOffset/);
    expect(() => temporalPositives({ window: { frames: 2 }, negatives: -1 })).toThrow(/config\.negatives/);
  });
});

describe('frameSequences', () => {
  it('emits runs of consecutive frames per video, interleaved videos, with hop and step', async () => {
    const frames: Frame[] = [];
    for (let n = 0; n < 20; n++) for (const v of ['a', 'b']) frames.push(frame(v, n, 100 * n));
    const seqs = await lastValueFrom(from(frames).pipe(frameSequences({ length: 4, hop: 2 }), toArray()));
    for (const s of seqs) {
      expect(s.frames.length).toBe(4);
      s.frames.forEach((f, i) => {
        expect(f.videoId).toBe(s.videoId);
        expect(f.frameIndex).toBe(s.frames[0].frameIndex + i);
      });
    }
    const starts = (v: string) => seqs.filter((s) => s.videoId === v).map((s) => s.frames[0].frameIndex);
    expect(starts('a')).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16]);
    expect(starts('b')).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16]);
    const stepped = await lastValueFrom(from(frames.filter((f) => f.videoId === 'a')).pipe(frameSequences({ length: 3, step: 2 }), toArray()));
    expect(stepped.map((s) => s.frames.map((f) => f.frameIndex))).toEqual([
      [0, 2, 4],
      [6, 8, 10],
      [12, 14, 16],
    ]);
  });

  it('never straddles a gap in frameIndex', async () => {
    const idx = [0, 1, 2, 5, 6, 7, 8, 9, 20, 21];
    const seqs = await lastValueFrom(from(idx.map((n) => frame('v', n, 40 * n))).pipe(frameSequences({ length: 3, hop: 1 }), toArray()));
    expect(seqs.map((s) => s.frames.map((f) => f.frameIndex))).toEqual([
      [0, 1, 2],
      [5, 6, 7],
      [6, 7, 8],
      [7, 8, 9],
    ]);
  });
});
