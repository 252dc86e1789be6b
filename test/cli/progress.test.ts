import { describe, it, expect } from 'vitest';
import { Progress, formatDuration } from '../../src/cli/progress.ts';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, columns: 200, write: (s: string) => (chunks.push(s), true) } };
}

describe('Progress', () => {
  it('on a TTY redraws one bar per epoch in place and ends each epoch with a newline', () => {
    const { chunks, stream } = sink(true);
    const p = new Progress({ total: 6, stepsPerEpoch: 3, stream, redrawMs: 0 });
    for (let s = 1; s <= 6; s++) p.update(s, Math.floor((s - 1) / 3), 2 - s * 0.1, 32);
    const out = chunks.join('');
    // Two finished bars (one per epoch), each redrawn with \r.
    const lines = out.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('\r');
    const last = (l: string) => l.split('\r').at(-1)!;
    expect(last(lines[0])).toMatch(/^epoch 1\/2 \[#{24}\] 3\/3 \| \d+ img\/s \| loss [\d.]+ \| ETA 0:00 \(run [\d:-]+\)/);
    expect(last(lines[1])).toMatch(/^epoch 2\/2 \[#{24}\] 3\/3 .*ETA 0:00 \(run 0:00\)/);
    // The partial bar of step 1 was drawn at a third.
    expect(out).toMatch(/\repoch 1\/2 \[#{8}\.{16}\] 1\/3/);
  });

  it('throttles TTY redraws but always draws the end of an epoch', () => {
    const { chunks, stream } = sink(true);
    const p = new Progress({ total: 100, stepsPerEpoch: 100, stream, redrawMs: 60_000 });
    for (let s = 1; s <= 100; s++) p.update(s, 0, 1, 8);
    const draws = chunks.filter((c) => c.startsWith('\r'));
    expect(draws).toHaveLength(2); // first step and the last
    expect(draws[1]).toContain('100/100');
  });

  it('prints plain lines without control characters when not a TTY', () => {
    const { chunks, stream } = sink(false);
    const p = new Progress({ total: 8, stepsPerEpoch: 4, stream, logEvery: 2 });
    for (let s = 1; s <= 8; s++) p.update(s, Math.floor((s - 1) / 4), 1.5, 16);
    p.log('epoch 1: kNN top-1 50.00%');
    expect(chunks.join('')).not.toMatch(/[\r\x1b]/);
    expect(chunks.slice(0, 4).map((c) => c.replace(/ \|.*/, '').trim())).toEqual(['epoch 1/2 step 2/4', 'epoch 1/2 step 4/4', 'epoch 2/2 step 2/4', 'epoch 2/2 step 4/4']);
    expect(chunks[0]).toMatch(/\| \d+ img\/s \| loss 1\.5000 \| ETA /);
    expect(chunks.at(-1)).toBe('epoch 1: kNN top-1 50.00%\n');
  });

  it('log() clears a half-drawn bar on a TTY', () => {
    const { chunks, stream } = sink(true);
    const p = new Progress({ total: 10, stepsPerEpoch: 10, stream, redrawMs: 0 });
    p.update(1, 0, 1, 8);
    p.log('hello');
    expect(chunks.at(-1)).toBe('\r\x1b[Khello\n');
  });

  it('counts a resumed run from its first step', () => {
    const { chunks, stream } = sink(false);
    const p = new Progress({ total: 10, stepsPerEpoch: 5, stream, startStep: 6, logEvery: 1 });
    p.update(7, 1, 1, 8);
    expect(chunks[0]).toMatch(/^epoch 2\/2 step 2\/5/);
  });

  it('formatDuration', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(75.9)).toBe('1:15');
    expect(formatDuration(3 * 3600 + 5 * 60)).toBe('3h05m');
    expect(formatDuration(NaN)).toBe('--:--');
    expect(formatDuration(Infinity)).toBe('--:--');
  });
});

describe('Progress on a narrow terminal', () => {
  it('shrinks the bar so that the whole line fits', () => {
    const chunks: string[] = [];
    const p = new Progress({ total: 8, stepsPerEpoch: 4, redrawMs: 0, stream: { isTTY: true, columns: 80, write: (s: string) => (chunks.push(s), true) } });
    p.update(4, 0, 4.5, 64);
    const drawn = chunks[0].replace(/^\r/, '').replace(/\x1b\[K$/, '');
    expect(drawn.length).toBeLessThanOrEqual(79);
    expect(drawn).toMatch(/^epoch 1\/2 \[#{8,}\] 4\/4 .*\(run [\d:-]+\)$/);
  });
});
