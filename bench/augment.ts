/**
 * npm run bench:augment  (node --import tsx bench/augment.ts [--images 1800] [--passes 3]
 *                          [--pool N] [--batch 256] [--no-torch] [--exact])
 *
 * Two-view SimCLR augmentation throughput, in source images per second, from a folder of
 * 320x240 JPEG files (generated once into .bench-cache/):
 *
 *   RandomResizedCrop(96, scale 0.2-1) -> flip -> p=0.8 ColorJitter(0.4, 0.4, 0.4, 0.1)
 *   -> p=0.2 grayscale -> Normalize(ImageNet)        (twice per image)
 *
 * contrastream: fromImageFolder -> augmentInPool (default pool size = cores) ->
 * batchWithPrefetch(256), consumed by a for-await loop. Reference: the same transforms with
 * torchvision and a DataLoader with 2 workers (bench/augment_torchvision.py), run in the same
 * process tree when /usr/bin/python3 imports torch and torchvision. Prints both and the ratio.
 * Each side reports its best timed pass after a warm-up pass.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { fromImageFolder } from '../src/sources/fromImageFolder.ts';
import { augmentInPool } from '../src/operators/augmentInPool.ts';
import { batchWithPrefetch } from '../src/operators/batchWithPrefetch.ts';
import { createFlowStats } from '../src/operators/createFlowStats.ts';
import { createAugmentPool } from '../src/augment/createAugmentPool.ts';
import { simclr } from '../src/augment/presets.ts';
import { Rng } from '../src/internal/prng.ts';
import { pullValues } from '../src/sources/DataSource.ts';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

const IMAGES = arg('images', 1800);
const PASSES = arg('passes', 3);
const POOL = arg('pool', availableParallelism());
const BATCH = arg('batch', 256);
const ROOT = new URL('../', import.meta.url).pathname;
const DIR = join(ROOT, '.bench-cache', `augment-jpeg-320x240-${IMAGES}`);
const W = 320;
const H = 240;

/** Deterministic synthetic photos: smooth colour field + shapes + mild noise, JPEG q90 4:2:0. */
async function generate(): Promise<void> {
  const have = existsSync(DIR) ? readdirSync(DIR).filter((f) => f.endsWith('.jpg')).length : 0;
  if (have >= IMAGES) return;
  mkdirSync(DIR, { recursive: true });
  const t0 = performance.now();
  process.stdout.write(`generating ${IMAGES} JPEGs (${W}x${H}) in ${DIR} ...`);
  for (let i = have; i < IMAGES; i++) {
    const rng = new Rng(20240601, i);
    const field = new Uint8Array(8 * 6 * 3);
    for (let k = 0; k < field.length; k++) field[k] = rng.int(0, 256);
    const shapes: string[] = [];
    for (let k = 0; k < 7; k++) {
      const col = `rgb(${rng.int(0, 256)},${rng.int(0, 256)},${rng.int(0, 256)})`;
      const x = rng.int(0, W);
      const y = rng.int(0, H);
      const op = (0.4 + 0.6 * rng.next()).toFixed(2);
      if (rng.next() < 0.5) shapes.push(`<ellipse cx="${x}" cy="${y}" rx="${rng.int(8, 90)}" ry="${rng.int(8, 70)}" fill="${col}" fill-opacity="${op}"/>`);
      else shapes.push(`<rect x="${x - 40}" y="${y - 30}" width="${rng.int(10, 120)}" height="${rng.int(10, 90)}" fill="${col}" fill-opacity="${op}" transform="rotate(${rng.int(0, 90)} ${x} ${y})"/>`);
    }
    const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">${shapes.join('')}</svg>`);
    const base = await sharp(field, { raw: { width: 8, height: 6, channels: 3 } }).resize(W, H, { kernel: 'cubic' }).png().toBuffer();
    const noise = await sharp({ create: { width: W, height: H, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 10 + rng.int(0, 20) } } }).png().toBuffer();
    await sharp(base)
      .composite([{ input: svg }, { input: noise, blend: 'overlay' }])
      .jpeg({ quality: 90 })
      .toFile(join(DIR, `${String(i).padStart(5, '0')}.jpg`));
  }
  console.log(` ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

const spec = simclr({
  size: 96,
  scale: [0.2, 1],
  jitter: { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 },
  jitterProb: 0.8,
  grayscaleProb: 0.2,
  blurProb: 0,
});

async function ours(exactJpeg: boolean): Promise<{ best: number; cpuMs: number; peakSamples: number; peakBatches: number; heapMB: number }> {
  const pool = createAugmentPool({ size: POOL });
  let best = 0;
  let cpuMs = 0;
  let peakSamples = 0;
  let peakBatches = 0;
  let heap = 0;
  try {
    for (let pass = 0; pass <= PASSES; pass++) {
      const sAug = createFlowStats();
      const sBatch = createFlowStats();
      const c0 = process.cpuUsage(); // the whole process: main thread and worker threads
      const t0 = performance.now();
      let n = 0;
      const batches = fromImageFolder(DIR, { shuffle: true, seed: pass }).pipe(
        augmentInPool({ augment: spec, pool, seed: pass, exactJpeg, stats: sAug }),
        batchWithPrefetch({ batchSize: BATCH, prefetch: 2, stats: sBatch }),
      );
      for await (const b of pullValues(batches)) {
        if (b.views.length !== 2 || b.views[0].shape[1] !== 96) throw new Error('unexpected batch shape');
        n += b.size;
        heap = Math.max(heap, process.memoryUsage().heapUsed);
      }
      const dt = (performance.now() - t0) / 1000;
      const cu = process.cpuUsage(c0);
      const cpu = (cu.user + cu.system) / 1000 / n;
      if (n !== IMAGES) throw new Error(`got ${n} images, expected ${IMAGES}`);
      const rate = n / dt;
      console.log(`  contrastream${exactJpeg ? ' (exactJpeg)' : ''} pass ${pass}${pass === 0 ? ' (warm-up)' : ''}: ${rate.toFixed(0)} img/s (${dt.toFixed(2)} s, ${cpu.toFixed(2)} CPU ms/img)`);
      if (pass > 0 && rate > best) {
        best = rate;
        cpuMs = cpu;
      }
      peakSamples = Math.max(peakSamples, sAug.peakInFlight);
      peakBatches = Math.max(peakBatches, sBatch.peakInFlight);
    }
  } finally {
    await pool.destroy();
  }
  return { best, cpuMs, peakSamples, peakBatches, heapMB: heap / 2 ** 20 };
}

function torchvision(): { rate: number; cpuMs: number } | undefined {
  const py = '/usr/bin/python3';
  const probe = spawnSync(py, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log('torchvision: not available (/usr/bin/python3 -c "import torch, torchvision" failed); no ratio');
    return undefined;
  }
  const r = spawnSync(py, [join(ROOT, 'bench', 'augment_torchvision.py'), DIR, '--workers', '2', '--batch', String(BATCH), '--passes', String(PASSES)], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) {
    console.log(`torchvision: run failed (${r.status}):\n${r.stderr}`);
    return undefined;
  }
  const line = r.stdout.trim().split('\n').pop()!;
  const res = JSON.parse(line) as { images_per_s: number; cpu_ms_per_image: number; torch: string; torchvision: string };
  console.log(
    `  torchvision ${res.torchvision} (torch ${res.torch}), DataLoader 2 workers: ${res.images_per_s.toFixed(0)} img/s ` +
      `(best of ${PASSES}, ${res.cpu_ms_per_image.toFixed(2)} CPU ms/img)`,
  );
  return { rate: res.images_per_s, cpuMs: res.cpu_ms_per_image };
}

await generate();
console.log(`two-view SimCLR augmentation, ${IMAGES} JPEG ${W}x${H} -> 2 x 96x96, batch ${BATCH}; pool ${POOL} workers, ${availableParallelism()} cores`);
const a = await ours(false);
const tv = flag('no-torch') ? undefined : torchvision();
const b = flag('exact') ? await ours(true) : undefined;
console.log('');
console.log(
  `contrastream: ${a.best.toFixed(0)} source img/s, ${a.cpuMs.toFixed(2)} CPU ms/img  ` +
    `(peak in flight: ${a.peakSamples} samples in augmentInPool, ${a.peakBatches} batches; peak heap ${a.heapMB.toFixed(0)} MB)`,
);
if (b) console.log(`contrastream exactJpeg: ${b.best.toFixed(0)} source img/s, ${b.cpuMs.toFixed(2)} CPU ms/img`);
if (tv !== undefined) {
  console.log(`torchvision:  ${tv.rate.toFixed(0)} source img/s, ${tv.cpuMs.toFixed(2)} CPU ms/img`);
  console.log(`ratio contrastream / torchvision: ${(a.best / tv.rate).toFixed(2)}x throughput, ${(tv.cpuMs / a.cpuMs).toFixed(2)}x CPU efficiency (images per CPU second)`);
}
