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
 * torchvision and a DataLoader with 2 workers (bench/augment_torchvision.py --serve), run as a
 * child process when /usr/bin/python3 imports torch and torchvision. After a warm-up pass on
 * each side, the timed passes alternate (ours, theirs, ours, ...) so that both see the same
 * machine load; the ratio is the median of the paired ratios. CPU ms per image (all threads /
 * processes) is printed too: it depends much less on other load than images per second.
 *
 * The kernels are native (native/src/augment.cc: libjpeg-turbo decode, AVX-512 resample and
 * colour ops, bit-identical to the TypeScript ones) when the addon is built; run with
 * CONTRASTREAM_NATIVE=0 to measure the TypeScript kernels.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { fromImageFolder } from '../src/sources/fromImageFolder.ts';
import { augmentInPool } from '../src/operators/augmentInPool.ts';
import { batchWithPrefetch } from '../src/operators/batchWithPrefetch.ts';
import { createFlowStats } from '../src/operators/createFlowStats.ts';
import { createAugmentPool, type AugmentPool } from '../src/augment/createAugmentPool.ts';
import { simclr } from '../src/augment/presets.ts';
import { Rng } from '../src/internal/prng.ts';
import { pullValues } from '../src/sources/DataSource.ts';
import { nativeAugmentStatus } from '../src/augment/nativeKernels.ts';

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

interface PassResult {
  rate: number; // source images per second
  cpuMs: number; // CPU ms per image (whole process / process tree)
}

/** One pass of contrastream over the folder with a warm pool. */
async function ourPass(pool: AugmentPool, pass: number, exactJpeg: boolean, peaks: { samples: number; batches: number; heap: number }): Promise<PassResult> {
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
    peaks.heap = Math.max(peaks.heap, process.memoryUsage().heapUsed);
  }
  const dt = (performance.now() - t0) / 1000;
  const cu = process.cpuUsage(c0);
  if (n !== IMAGES) throw new Error(`got ${n} images, expected ${IMAGES}`);
  peaks.samples = Math.max(peaks.samples, sAug.peakInFlight);
  peaks.batches = Math.max(peaks.batches, sBatch.peakInFlight);
  return { rate: n / dt, cpuMs: (cu.user + cu.system) / 1000 / n };
}

/** The torchvision reference as a child process serving one pass per request. */
class Torchvision {
  private lines: string[] = [];
  private waiters: ((line: string) => void)[] = [];
  private child: ChildProcessWithoutNullStreams;
  info = '';

  static available(): boolean {
    return spawnSync('/usr/bin/python3', ['-c', 'import torch, torchvision'], { encoding: 'utf8' }).status === 0;
  }

  constructor() {
    this.child = spawn('/usr/bin/python3', [join(ROOT, 'bench', 'augment_torchvision.py'), DIR, '--workers', '2', '--batch', String(BATCH), '--serve']);
    let buf = '';
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const w = this.waiters.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
    });
    let err = '';
    this.child.stderr.on('data', (d) => (err += d));
    this.child.on('exit', (code) => {
      for (const w of this.waiters.splice(0)) w(JSON.stringify({ error: `torchvision exited (${code}): ${err.slice(-2000)}` }));
    });
  }

  private line(): Promise<string> {
    const l = this.lines.shift();
    return l !== undefined ? Promise.resolve(l) : new Promise((r) => this.waiters.push(r));
  }

  /** Waits for the child's warm-up pass. */
  async ready(): Promise<void> {
    const r = JSON.parse(await this.line());
    if (r.error) throw new Error(r.error);
    this.info = `torchvision ${r.torchvision} (torch ${r.torch}), DataLoader ${r.workers} workers`;
  }

  async pass(): Promise<PassResult> {
    this.child.stdin.write('pass\n');
    const r = JSON.parse(await this.line());
    if (r.error) throw new Error(r.error);
    return { rate: r.images_per_s, cpuMs: r.cpu_ms_per_image };
  }

  close(): void {
    if (!this.child.stdin.writableEnded) this.child.stdin.end('quit\n');
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

await generate();
console.log(`two-view SimCLR augmentation, ${IMAGES} JPEG ${W}x${H} -> 2 x 96x96, batch ${BATCH}; pool ${POOL} workers, ${availableParallelism()} cores`);
console.log(`augmentation kernels: ${nativeAugmentStatus()} (CONTRASTREAM_NATIVE=0 for the TypeScript ones)`);
const pool = createAugmentPool({ size: POOL });
const peaks = { samples: 0, batches: 0, heap: 0 };
const tv = !flag('no-torch') && Torchvision.available() ? new Torchvision() : undefined;
if (!flag('no-torch') && !tv) console.log('torchvision: not available (/usr/bin/python3 -c "import torch, torchvision" failed); no ratio');
const ours: PassResult[] = [];
const theirs: PassResult[] = [];
try {
  const warm = await ourPass(pool, 0, false, peaks);
  console.log(`  contrastream warm-up: ${warm.rate.toFixed(0)} img/s`);
  if (tv) {
    await tv.ready();
    console.log(`  ${tv.info}: warmed up`);
  }
  // Interleave the passes so that both sides see the same machine load (this machine is shared).
  for (let pass = 1; pass <= PASSES; pass++) {
    const a = await ourPass(pool, pass, false, peaks);
    ours.push(a);
    let line = `  pass ${pass}: contrastream ${a.rate.toFixed(0)} img/s (${a.cpuMs.toFixed(2)} CPU ms/img)`;
    if (tv) {
      const b = await tv.pass();
      theirs.push(b);
      line += `, torchvision ${b.rate.toFixed(0)} img/s (${b.cpuMs.toFixed(2)} CPU ms/img), ratio ${(a.rate / b.rate).toFixed(2)}x`;
    }
    console.log(line);
  }
  tv?.close();
  let exact: PassResult[] = [];
  if (flag('exact')) {
    for (let pass = 1; pass <= PASSES; pass++) exact.push(await ourPass(pool, 100 + pass, true, peaks));
  }
  console.log('');
  const rate = median(ours.map((r) => r.rate));
  const cpu = median(ours.map((r) => r.cpuMs));
  console.log(
    `contrastream: ${rate.toFixed(0)} source img/s (median of ${PASSES}; best ${Math.max(...ours.map((r) => r.rate)).toFixed(0)}), ${cpu.toFixed(2)} CPU ms/img  ` +
      `(peak in flight: ${peaks.samples} samples in augmentInPool, ${peaks.batches} batches; peak heap ${(peaks.heap / 2 ** 20).toFixed(0)} MB)`,
  );
  if (exact.length) console.log(`contrastream exactJpeg: ${median(exact.map((r) => r.rate)).toFixed(0)} source img/s, ${median(exact.map((r) => r.cpuMs)).toFixed(2)} CPU ms/img`);
  if (tv) {
    const trate = median(theirs.map((r) => r.rate));
    const tcpu = median(theirs.map((r) => r.cpuMs));
    console.log(`torchvision:  ${trate.toFixed(0)} source img/s (median of ${PASSES}), ${tcpu.toFixed(2)} CPU ms/img`);
    console.log(
      `ratio contrastream / torchvision: ${median(ours.map((r, i) => r.rate / theirs[i].rate)).toFixed(2)}x throughput (median of paired passes), ` +
        `${(tcpu / cpu).toFixed(2)}x CPU efficiency (images per CPU second)`,
    );
  }
} finally {
  tv?.close();
  await pool.destroy();
}
