// Child process of the signal test: trains the recording pipeline for many epochs into run
// folder argv[3] (data argv[2]) with progress on stdout; prints a JSON result line at the end.
import { runPipeline } from '../../src/pipeline/runPipeline.ts';
import recording from './recordingPipeline.ts';

const r = await runPipeline(recording, { data: process.argv[2], outDir: process.argv[3], epochs: 200, workers: 1, monitorEvery: 0 });
process.stdout.write(`RESULT ${JSON.stringify({ steps: r.steps, interrupted: r.interrupted ?? false })}\n`);
