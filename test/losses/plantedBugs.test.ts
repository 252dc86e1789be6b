/**
 * Planted bugs: mutation tests of the real losses.
 *
 * Each mutant is the source of one loss in src/losses/ with one classic bug planted by a textual
 * edit (a wrong sign, a missing temperature, the self-similarity left in the denominator, or the
 * loss's own analogue of it), written to build/ (git-ignored) and imported. Every mutant must be
 * rejected by at least one of the two nets the loss tests use:
 *   - `checkLossInvariants` from contrastream/testing (finiteness, non-negativity, permutation
 *     invariance, monotonicity in the positive, temperature use, vanishing on separated batches,
 *     gradient vs finite differences, leaks), through a (anchors, positives, tau) adapter;
 *   - the slow loop reference written from the paper's formula (test/losses/reference.ts), compared
 *     on random batches drawn by fast-check.
 * The unmutated source, loaded the same way, must pass both: the nets are not rejecting everything.
 * Seeds are fixed, so which checks catch which mutant is deterministic; the expectations below
 * record it (this table is quoted in the closing note).
 *
 * If a mutation no longer applies (the source was refactored), the test fails and names it: update
 * the `find` text so the bug is planted again.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { checkLossInvariants, type InvariantName, type PairLoss } from '../../src/testing/index.ts';
import { useCpu } from './support.ts';
import { ntXentRef, infoNceRef, invaSpreadRef, nceRef, cmcRef, cpcRef, type Mat } from './reference.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const OUT = join(ROOT, 'build', `loss-mutants-${process.pid}`);

interface Mutation {
  /** Text replaced (every occurrence; at least one must exist). */
  find: string;
  replace: string;
}

let counter = 0;
/** Writes src/losses/<file> with the mutations applied (none: the real loss) and imports it. */
async function load<T>(file: string, mutations: Mutation[]): Promise<T> {
  let src = readFileSync(join(ROOT, 'src/losses', file), 'utf8');
  for (const m of mutations) {
    if (!src.includes(m.find)) throw new Error(`mutation of ${file} no longer applies: '${m.find}' not found`);
    src = src.split(m.find).join(m.replace);
  }
  // Relative imports point back into src/ (the mutant lives in build/).
  src = src.replace(/from '\.\.\/([^']+)'/g, (_all, p: string) => `from '${pathToFileURL(join(ROOT, 'src', p)).href}'`);
  const target = join(OUT, `${file.replace(/\.ts$/, '')}.${counter++}.ts`);
  writeFileSync(target, src);
  return (await import(/* @vite-ignore */ pathToFileURL(target).href)) as T;
}

// ---- adapters: every loss as (anchors [N, D], positives [N, D], tau) => scalar -----------------

const D = 9;
/**
 * Fixed noise rows (queue / bank samples) for the losses that take them: e_5 and e_6, orthogonal
 * to the axes the invariant checks build their batches on (rows <= 5 use e_0..e_4, the positive
 * e_7, e_8), so the closed-form properties hold for the real loss.
 */
const NOISE: Mat = [
  [0, 0, 0, 0, 0, 1, 0, 0, 0],
  [0, 0, 0, 0, 0, 0, 1, 0, 0],
];
const Z = 50;
const N_DATA = 100;

type Module = Record<string, (...args: any[]) => tf.Scalar>;
interface Subject {
  file: string;
  pair: (m: Module) => PairLoss;
  /** The slow reference of the same adapter, float64. */
  reference: (a: Mat, p: Mat, tau: number) => number;
  invariants: { nonNegative: boolean; vanishesWhenSeparated: boolean };
}

const withNoise = (f: (noise: tf.Tensor2D) => tf.Scalar) => tf.tidy(() => f(tf.tensor2d(NOISE)));

const SUBJECTS: Record<string, Subject> = {
  ntXentLoss: {
    file: 'ntXentLoss.ts',
    pair: (m) => (a, p, t) => m.ntXentLoss(a, p, { temperature: t }),
    reference: (a, p, t) => ntXentRef(a, p, t),
    invariants: { nonNegative: true, vanishesWhenSeparated: true },
  },
  infoNceLoss: {
    file: 'infoNceLoss.ts',
    pair: (m) => (a, p, t) => withNoise((q) => m.infoNceLoss(a, p, q, { temperature: t })),
    reference: (a, p, t) => infoNceRef(a, p, NOISE, t),
    invariants: { nonNegative: true, vanishesWhenSeparated: true },
  },
  invaSpreadLoss: {
    file: 'invaSpreadLoss.ts',
    pair: (m) => (a, p, t) => m.invaSpreadLoss(a, p, { temperature: t }),
    reference: (a, p, t) => invaSpreadRef(a, p, t),
    invariants: { nonNegative: true, vanishesWhenSeparated: true },
  },
  nceLoss: {
    file: 'nceLoss.ts',
    pair: (m) => (a, p, t) => withNoise((q) => m.nceLoss(a, p, q, { normalizer: Z, datasetSize: N_DATA, temperature: t })),
    reference: (a, p, t) => nceRef(a, p, NOISE, t, Z, N_DATA),
    invariants: { nonNegative: true, vanishesWhenSeparated: false },
  },
  cmcLoss: {
    file: 'cmcLoss.ts',
    // Two views, in-batch softmax form (the form with a diagonal), and the bank NCE form below.
    pair: (m) => (a, p, t) => m.cmcLoss([a, p], undefined, { form: 'softmax', temperature: t }),
    reference: (a, p, t) => cmcRef([a, p], undefined, { form: 'softmax', tau: t }),
    invariants: { nonNegative: true, vanishesWhenSeparated: true },
  },
  'cmcLoss (NCE, bank)': {
    file: 'cmcLoss.ts',
    pair: (m) => (a, p, t) =>
      withNoise((q) => m.cmcLoss([a, p], { positives: [a, p], negatives: [q, q] }, { form: 'nce', temperature: t, normalizers: [[0, Z], [Z, 0]], datasetSize: N_DATA })),
    reference: (a, p, t) => cmcRef([a, p], { positives: [a, p], negatives: [NOISE, NOISE] }, { form: 'nce', tau: t, z: [[0, Z], [Z, 0]], n: N_DATA }),
    invariants: { nonNegative: true, vanishesWhenSeparated: false },
  },
  cpcInfoNceLoss: {
    file: 'cpcInfoNceLoss.ts',
    pair: (m) => (a, p, t) => m.cpcInfoNceLoss(a, p, { temperature: t, normalize: true }),
    reference: (a, p, t) => cpcRef([a], [p], t, true),
    invariants: { nonNegative: true, vanishesWhenSeparated: true },
  },
};

interface Mutant {
  name: string;
  subject: keyof typeof SUBJECTS;
  mutations: Mutation[];
  /** The checks that reject it (deterministic for the fixed seeds). */
  caughtBy: Array<InvariantName | 'reference'>;
}

const MUTANTS: Mutant[] = [
  // NT-Xent (SimCLR)
  { name: 'wrong sign', subject: 'ntXentLoss', mutations: [{ find: 'tf.mean(tf.sub(lse, pos))', replace: 'tf.mean(tf.sub(pos, lse))' }], caughtBy: ['monotonicInPositive', 'nonNegative', 'reference', 'temperatureMonotone'] },
  { name: 'missing temperature', subject: 'ntXentLoss', mutations: [{ find: ', tau);', replace: ', 1);' }], caughtBy: ['reference', 'temperatureMonotone', 'vanishesWhenSeparated'] },
  { name: 'diagonal left in', subject: 'ntXentLoss', mutations: [{ find: 'tf.where(self, tf.scalar(MASKED_LOGIT), logits)', replace: 'logits' }], caughtBy: ['reference', 'vanishesWhenSeparated'] },
  // InfoNCE (MoCo)
  { name: 'wrong sign', subject: 'infoNceLoss', mutations: [{ find: 'return softmaxCrossEntropy(logits, 0);', replace: 'return tf.neg(softmaxCrossEntropy(logits, 0));' }], caughtBy: ['monotonicInPositive', 'nonNegative', 'reference', 'temperatureMonotone'] },
  { name: 'missing temperature', subject: 'infoNceLoss', mutations: [{ find: 'tf.concat([lPos, lNeg], 1), tau)', replace: 'tf.concat([lPos, lNeg], 1), 1)' }], caughtBy: ['reference', 'temperatureMonotone', 'vanishesWhenSeparated'] },
  // InfoNCE's analogue of the diagonal: the positive counted twice in the denominator (the query's own key also queued).
  { name: 'positive also among the negatives', subject: 'infoNceLoss', mutations: [{ find: 'tf.concat([lPos, lNeg], 1)', replace: 'tf.concat([lPos, lPos, lNeg], 1)' }], caughtBy: ['reference', 'vanishesWhenSeparated'] },
  // InvaSpread
  { name: 'wrong sign', subject: 'invaSpreadLoss', mutations: [{ find: 'return tf.neg(tf.mean(tf.add(logPPos, negTerm)))', replace: 'return (tf.mean(tf.add(logPPos, negTerm)))' }], caughtBy: ['monotonicInPositive', 'nonNegative', 'reference', 'temperatureMonotone'] },
  { name: 'missing temperature', subject: 'invaSpreadLoss', mutations: [{ find: ', tau)', replace: ', 1)' }], caughtBy: ['reference', 'temperatureMonotone', 'vanishesWhenSeparated'] },
  { name: 'diagonal left in', subject: 'invaSpreadLoss', mutations: [{ find: 'tf.where(self, masked, logits)', replace: 'logits' }], caughtBy: ['reference', 'vanishesWhenSeparated'] },
  // NCE (InstDisc)
  { name: 'wrong sign', subject: 'nceLoss', mutations: [{ find: 'return tf.neg(tf.mean(tf.add(logH, tf.sum(log1mH, 1))))', replace: 'return (tf.mean(tf.add(logH, tf.sum(log1mH, 1))))' }], caughtBy: ['monotonicInPositive', 'nonNegative', 'reference', 'temperatureMonotone'] },
  { name: 'missing temperature', subject: 'nceLoss', mutations: [{ find: ', tau) as tf.Tensor', replace: ', 1) as tf.Tensor' }], caughtBy: ['reference', 'temperatureMonotone'] },
  // NCE's analogue: the noise samples scored as data, log h instead of log(1 - h).
  { name: 'noise scored as data', subject: 'nceLoss', mutations: [{ find: 'logSigmoid(tf.sub(c, sNeg))', replace: 'logSigmoid(tf.sub(sNeg, c))' }], caughtBy: ['reference'] },
  { name: 'normaliser Z ignored', subject: 'nceLoss', mutations: [{ find: 'Math.log(k) + Math.log(z) - Math.log(datasetSize)', replace: 'Math.log(k) - Math.log(datasetSize)' }], caughtBy: ['reference'] },
  // CMC, in-batch softmax form
  { name: 'wrong sign', subject: 'cmcLoss', mutations: [{ find: 'return tf.addN(terms) as tf.Scalar;', replace: 'return tf.neg(tf.addN(terms)) as tf.Scalar;' }], caughtBy: ['monotonicInPositive', 'nonNegative', 'reference', 'temperatureMonotone'] },
  { name: 'missing temperature', subject: 'cmcLoss', mutations: [{ find: 'tf.matMul(anchors[i], anchors[j], false, true), tau)', replace: 'tf.matMul(anchors[i], anchors[j], false, true), 1)' }], caughtBy: ['reference', 'temperatureMonotone', 'vanishesWhenSeparated'] },
  // CMC's analogue of the diagonal: a view contrasted with itself (the i = j pairs left in).
  { name: 'self-pairs (i = j) left in', subject: 'cmcLoss', mutations: [{ find: '      if (i === j) continue;\n      if (paradigm', replace: '      if (paradigm' }], caughtBy: ['reference'] },
  // CMC, NCE form against the banks
  { name: 'wrong sign', subject: 'cmcLoss (NCE, bank)', mutations: [{ find: 'return tf.neg(tf.mean(tf.add(logH, tf.sum(log1mH, 1)))) as tf.Scalar;', replace: 'return (tf.mean(tf.add(logH, tf.sum(log1mH, 1)))) as tf.Scalar;' }], caughtBy: ['monotonicInPositive', 'nonNegative', 'reference', 'temperatureMonotone'] },
  { name: 'missing temperature', subject: 'cmcLoss (NCE, bank)', mutations: [{ find: 'negativeDots(anchor, negatives), tau)', replace: 'negativeDots(anchor, negatives), 1)' }, { find: 'tf.mul(anchor, positives), 1), tau)', replace: 'tf.mul(anchor, positives), 1), 1)' }], caughtBy: ['reference', 'temperatureMonotone'] },
  { name: 'noise scored as data', subject: 'cmcLoss (NCE, bank)', mutations: [{ find: 'logSigmoid(tf.sub(c, sNeg))', replace: 'logSigmoid(tf.sub(sNeg, c))' }], caughtBy: ['reference'] },
  // CPC
  { name: 'wrong sign', subject: 'cpcInfoNceLoss', mutations: [{ find: 'return tf.div(tf.addN(perOffset), perOffset.length)', replace: 'return tf.div(tf.addN(perOffset), -perOffset.length)' }], caughtBy: ['monotonicInPositive', 'nonNegative', 'reference', 'temperatureMonotone'] },
  { name: 'missing temperature', subject: 'cpcInfoNceLoss', mutations: [{ find: 'tf.matMul(zhat, z, false, true), tau)', replace: 'tf.matMul(zhat, z, false, true), 1)' }], caughtBy: ['reference', 'temperatureMonotone', 'vanishesWhenSeparated'] },
  // CPC's analogue: the positive (diagonal) masked out of the denominator, leaving only the other rows.
  {
    name: 'positive left out of the denominator', subject: 'cpcInfoNceLoss',
    mutations: [{ find: 'return softmaxCrossEntropy(logits, tf.range(0, rows, 1, \'int32\') as tf.Tensor1D);', replace: 'return tf.mean(tf.sub(tf.logSumExp(tf.where(tf.cast(tf.eye(rows), \'bool\'), tf.fill([rows, rows], -1e30), logits), 1), tf.sum(tf.mul(logits, tf.eye(rows)), 1))) as tf.Scalar;' }],
    caughtBy: ['nonNegative', 'reference', 'vanishesWhenSeparated'],
  },
];

const SEED = 11;
const RUNS = 8;

/** Reference comparison on random batches: [] when the loss matches, ['reference'] when not. */
function referenceCheck(loss: PairLoss, reference: Subject['reference']): Array<'reference'> {
  const row = fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: D, maxLength: D }).filter((r) => Math.hypot(...r) > 0.3);
  const batch = fc.integer({ min: 2, max: 4 }).chain((n) => fc.tuple(fc.array(row, { minLength: n, maxLength: n }), fc.array(row, { minLength: n, maxLength: n })));
  const property = fc.property(batch, fc.constantFrom(0.1, 0.3, 0.7), ([a, p], t) => {
    const got = tf.tidy(() => loss(tf.tensor2d(a), tf.tensor2d(p), t).dataSync()[0]);
    const want = reference(a, p, t);
    return Math.abs(got - want) <= 1e-3 * (1 + Math.abs(want) + 1 / t);
  });
  return fc.check(property, { numRuns: RUNS, seed: SEED }).failed ? ['reference'] : [];
}

function caughtBy(loss: PairLoss, s: Subject): Array<InvariantName | 'reference'> {
  const r = checkLossInvariants(loss, { ...s.invariants, dim: D, numRuns: RUNS, seed: SEED, throwOnFailure: false });
  const failed: Array<InvariantName | 'reference'> = r.failed.map((f) => f.property);
  return [...failed, ...referenceCheck(loss, s.reference)].sort();
}

describe('planted bugs in the real losses are caught', () => {
  beforeAll(async () => {
    await useCpu();
    mkdirSync(OUT, { recursive: true });
  });
  afterAll(() => rmSync(OUT, { recursive: true, force: true }));

  for (const [name, s] of Object.entries(SUBJECTS)) {
    it(`${name}: the unmutated source passes every check (control)`, async () => {
      const loss = s.pair(await load<Module>(s.file, []));
      expect(caughtBy(loss, s)).toEqual([]);
    });
  }

  for (const m of MUTANTS) {
    it(`${m.subject}: ${m.name} is rejected`, async () => {
      const s = SUBJECTS[m.subject];
      const loss = s.pair(await load<Module>(s.file, m.mutations));
      const caught = caughtBy(loss, s);
      if (process.env.MUTANT_TABLE) console.log(`| ${m.subject} | ${m.name} | ${caught.join(', ')} |`);
      expect(caught.length, 'no check rejected the mutant').toBeGreaterThan(0);
      expect(caught).toEqual([...m.caughtBy].sort());
    });
  }
});
