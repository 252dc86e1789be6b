/**
 * Child process of augmentRecycling.test.ts: augments a folder (augmentInPool -> batchWithPrefetch,
 * the training path, so result buffers are recycled) and prints one JSON line
 * { digest, rows } - the sha256 of every batch's indices and view bytes, in order.
 *   node --import tsx augmentDigest.script.ts <dir> <seed> <poolSize> <chunkSize> <batchSize>
 */
import { createHash } from 'node:crypto';
import { fromImageFolder } from '../../src/sources/fromImageFolder.ts';
import { augmentInPool } from '../../src/operators/augmentInPool.ts';
import { batchWithPrefetch } from '../../src/operators/batchWithPrefetch.ts';
import { pullValues } from '../../src/sources/DataSource.ts';
import { simclr } from '../../src/augment/presets.ts';

const [dir, seed, poolSize, chunkSize, batchSize] = process.argv.slice(2);
const hash = createHash('sha256');
let rows = 0;
const batches = fromImageFolder(dir, { shuffle: true, seed: 5 }).pipe(
  augmentInPool({ augment: simclr({ size: 24, scale: [0.2, 1] }), seed: Number(seed), poolSize: Number(poolSize), chunkSize: Number(chunkSize) }),
  batchWithPrefetch({ batchSize: Number(batchSize) }),
);
for await (const b of pullValues(batches)) {
  hash.update(Buffer.from(b.indices.buffer, b.indices.byteOffset, b.indices.byteLength));
  for (const v of b.views) hash.update(Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength));
  rows += b.size;
}
console.log(JSON.stringify({ digest: hash.digest('hex'), rows }));
