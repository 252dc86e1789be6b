// Child process of the resume tests: continues a run folder (argv[2]) in a fresh process.
// Prints one JSON line { steps, interrupted } on success.
import { runPipeline } from '../../src/pipeline/runPipeline.ts';
import { loadRun } from '../../src/run/RunFolder.ts';
import { resolvePipeline } from '../../src/run/resolvePipeline.ts';

const runDir = process.argv[2];
const info = await loadRun(runDir);
const def = await resolvePipeline(info.pipeline);
const sink = { write: () => true } as unknown as NodeJS.WriteStream;
const r = await runPipeline(def, { resumeFrom: runDir, workers: 1, stream: sink, handleSignals: false });
process.stdout.write(`${JSON.stringify({ steps: r.steps, interrupted: r.interrupted ?? false })}\n`);
