/**
 * `npm run bench:methods` — trains every built-in method on Fashion-MNIST and reports, per
 * method: kNN top-1 (weighted, k = 200, tau = 0.1, cosine, train features as the bank),
 * training img/s, and the raw-pixel kNN baseline computed the same way.
 *
 * Data: /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist) when present, else
 * the embedded subset. Options: --data PATH, --epochs N (all methods; default: BENCH_EPOCHS),
 * --methods a,b, --train-subset N, --eval-train N, --eval-test N, --backend NAME.
 *
 * Epochs per method (BENCH_EPOCHS): the fewest passes over the 60k training images after which
 * the method's kNN beat the raw-pixel baseline in our runs, with some margin, so the whole bench
 * takes about an hour on 2 cores. One epoch was not enough for any method but CPC (measured,
 * 1 epoch, 60k bank / 10k test, raw 78.86%: SimCLR 78.42%, InvaSpread 79.01%, MoCo v2 78.25%,
 * CMC with one shared crop 76.77%); MoCo v2 gave 79.23% after 2, too close to call, so it runs 3.
 */
import { existsSync } from 'node:fs';
import { initBackend } from '../src/backend/initBackend.ts';
import { BUILTIN_PIPELINES, loadBuiltin } from '../src/cli/pipelines.ts';
import { runPipeline } from '../src/pipeline/runPipeline.ts';
import { parseArgs, intFlag } from '../src/cli/parseArgs.ts';

const { flags } = parseArgs(
  process.argv.slice(2),
  {
    data: { type: 'string', help: '' },
    epochs: { type: 'string', help: '' },
    methods: { type: 'string', help: '' },
    'train-subset': { type: 'string', help: '' },
    'eval-train': { type: 'string', help: '' },
    'eval-test': { type: 'string', help: '' },
    backend: { type: 'string', help: '' },
  },
  'bench:methods',
);
const SYSTEM = '/usr/share/datasets/fashion-mnist';
const data = (flags.data as string | undefined) ?? (existsSync(SYSTEM) ? SYSTEM : undefined);
/** Passes over the training set per method (see the header); 1 when not listed. */
export const BENCH_EPOCHS: Record<string, number> = { simclr: 2, invaspread: 2, moco: 3, cmc: 2, instdisc: 2 };
const epochsFlag = intFlag(flags, 'epochs', 'bench:methods');
const methods = flags.methods ? String(flags.methods).split(',') : Object.keys(BUILTIN_PIPELINES);
await initBackend({ backend: flags.backend as string | undefined, log: (l) => console.log(l) });

const rows: string[] = [];
for (const name of methods) {
  const def = await loadBuiltin(name);
  if (def === undefined) throw new Error(`unknown method '${name}'`);
  const epochs = epochsFlag ?? BENCH_EPOCHS[name] ?? 1;
  const t0 = performance.now();
  const r = await runPipeline(def, {
    data,
    epochs,
    trainSubset: intFlag(flags, 'train-subset', 'bench:methods'),
    evalTrain: intFlag(flags, 'eval-train', 'bench:methods'),
    evalTest: intFlag(flags, 'eval-test', 'bench:methods'),
    monitorEvery: 0,
  });
  const min = (performance.now() - t0) / 60000;
  const beats = r.knnTop1 !== undefined && r.rawKnnTop1 !== undefined ? (r.knnTop1 > r.rawKnnTop1 ? 'yes' : 'NO') : '-';
  rows.push(
    `| ${name} | ${epochs} | ${((r.knnTop1 ?? NaN) * 100).toFixed(2)}% | ${((r.rawKnnTop1 ?? NaN) * 100).toFixed(2)}% | ${beats} | ${r.imagesPerSecond.toFixed(0)} | ${min.toFixed(1)} |`,
  );
  console.log(rows.at(-1));
}
console.log(`\nFashion-MNIST (${data ?? 'embedded subset'}), kNN k=200 tau=0.1\n`);
console.log('| method | epochs | kNN top-1 | raw-pixel kNN | beats raw | img/s | minutes |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
