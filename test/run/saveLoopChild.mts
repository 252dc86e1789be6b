// Child process of the kill-during-save test: writes checkpoints of `floats` values (all equal
// to the step number) into run folder argv[2], forever, printing "saving N" before and
// "saved N" after each. The parent SIGKILLs it at some point.
import { writeCheckpoint } from '../../src/run/checkpoint.ts';

const runDir = process.argv[2];
const floats = Number(process.argv[3] ?? 4_000_000);
for (let step = 1; ; step++) {
  const values = new Float32Array(floats).fill(step);
  process.stdout.write(`saving ${step}\n`);
  await writeCheckpoint(
    runDir,
    {
      step,
      epoch: 0,
      samplesConsumed: step * 10,
      pipeline: 'kill-test',
      modules: { net: { weight: { shape: [floats], values } } },
      optimizer: { kind: 'sgd', iterations: step, slots: { weight: { momentum: { shape: [4], values: new Float32Array(4).fill(step) } } } },
      state: { rng: step, rows: new Int32Array([step, step]) },
      time: Date.now(),
    },
    { keep: 2 },
  );
  process.stdout.write(`saved ${step}\n`);
}
