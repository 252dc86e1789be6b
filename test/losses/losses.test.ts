/**
 * Every loss's property tests, one module per loss (`*.cases.ts`), run from this single test file.
 *
 * Why one file: vitest evaluates each *.test.ts in a fresh module graph, and these tests load
 * tfjs-core's gradient functions from its ESM build (see support.ts), which costs seconds per
 * graph on a 2-core machine. Loading it once keeps the whole suite fast.
 */
import './ntXentLoss.cases.ts';
import './infoNceLoss.cases.ts';
import './invaSpreadLoss.cases.ts';
import './nceLoss.cases.ts';
import './cpcInfoNceLoss.cases.ts';
import './cmcLoss.cases.ts';
import './proximalLoss.cases.ts';
