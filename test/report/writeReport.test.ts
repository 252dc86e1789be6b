/**
 * report.html: built from a fixture run folder (config.json, metrics.jsonl, embedding.json),
 * opened in headless Chromium from a file:// URL; the charts must render with the expected
 * number of points, with no console errors and no network requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { downsample, readReportData, writeReport } from '../../src/report/writeReport.ts';

// Page-side globals used inside page.evaluate (the test tsconfig has no DOM lib).
declare const document: { getElementById(id: string): { getAttribute(name: string): string | null } | null };
declare const window: unknown;

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function fixtureRun(opts: { steps: number; epochs: number; points: number; hostile?: boolean; torn?: boolean; skipLastMonitor?: boolean }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cs-report-'));
  const temperature = opts.hostile ? '</script><script>window.__pwned = 1</script>' : 0.5;
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({ pipeline: 'simclr', config: { temperature, batchSize: 64 }, run: { epochs: opts.epochs, seed: 0, data: 'embedded' }, version: 1 }),
  );
  const lines: string[] = [];
  const per = opts.steps / opts.epochs;
  for (let s = 1; s <= opts.steps; s++) {
    lines.push(JSON.stringify({ type: 'step', step: s, epoch: Math.floor((s - 1) / per), loss: 5 * Math.exp(-s / 40) + 0.1 * Math.sin(s), lr: 0.3 * (1 - s / opts.steps), imagesPerSecond: 400 + (s % 7), time: 1e12 + s }));
    if (s % per === 0 && !(opts.skipLastMonitor && s === opts.steps)) lines.push(JSON.stringify({ type: 'knn', epoch: s / per, step: s, top1: 0.5 + 0.05 * (s / per) }));
  }
  lines.push(JSON.stringify({ type: 'final', knnTop1: 0.71, rawKnnTop1: 0.66, imagesPerSecond: 402, steps: opts.steps }));
  writeFileSync(join(dir, 'metrics.jsonl'), lines.join('\n') + '\n');
  if (opts.torn) appendFileSync(join(dir, 'metrics.jsonl'), '{"type":"step","step":9');
  const labels: number[] = [];
  const points: [number, number][] = [];
  for (let i = 0; i < opts.points; i++) {
    labels.push(i % 10);
    points.push([Math.cos(i) * (i % 10), Math.sin(i) * (i % 10)]);
  }
  writeFileSync(join(dir, 'embedding.json'), JSON.stringify({ labels, points, method: 'pca' }));
  return dir;
}

describe('readReportData', () => {
  it('reads steps, monitor points and the final line, and skips a torn last line', () => {
    const dir = fixtureRun({ steps: 60, epochs: 3, points: 30, torn: true });
    try {
      const d = readReportData(dir);
      expect(d.loss).toHaveLength(60);
      expect(d.speed).toHaveLength(60);
      expect(d.knn).toEqual([[1, 0.55], [2, 0.6], [3, 0.65]].map(([e, t]) => [e, expect.closeTo(t, 10)]));
      expect(d.final?.knnTop1).toBe(0.71);
      expect(d.skippedLines).toBe(1);
      expect(d.embedding?.points).toHaveLength(30);
      expect(d.pipeline).toBe('simclr');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('downsample averages into buckets and keeps short curves as they are', () => {
    const pts: [number, number][] = Array.from({ length: 10 }, (_, i) => [i, i * 2]);
    expect(downsample(pts, 20)).toBe(pts);
    const d = downsample(pts, 5);
    expect(d).toEqual([[0.5, 1], [2.5, 5], [4.5, 9], [6.5, 13], [8.5, 17]]);
  });

  it('works on a folder with nothing but config.json (a run killed at once)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-report-'));
    try {
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ pipeline: 'moco', config: {}, run: {}, version: 1 }));
      const file = writeReport(dir);
      expect(readFileSync(file, 'utf8')).toContain('moco');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!existsSync(CHROMIUM))('report.html in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function open(file: string) {
    const page = await browser.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('request', (r) => requests.push(r.url()));
    const url = pathToFileURL(file).href;
    await page.goto(url);
    await page.waitForSelector('body[data-rendered="true"]', { timeout: 10_000 });
    return { page, errors, requests: requests.filter((u) => u !== url) };
  }

  it('draws loss, kNN, img/s and embedding charts with every point, offline and without errors', async () => {
    const dir = fixtureRun({ steps: 120, epochs: 4, points: 500 });
    try {
      const { page, errors, requests } = await open(writeReport(dir));
      const counts = await page.evaluate(() =>
        Object.fromEntries(['loss-chart', 'knn-chart', 'speed-chart', 'lr-chart', 'embedding-chart'].map((id) => [id, document.getElementById(id)!.getAttribute('data-points')])),
      );
      expect(counts).toEqual({ 'loss-chart': '120', 'knn-chart': '4', 'speed-chart': '120', 'lr-chart': '120', 'embedding-chart': '500' });
      // The drawn elements, not just the attributes.
      expect(await page.locator('#embedding-chart circle.pt').count()).toBe(500);
      expect(await page.locator('#knn-chart circle.pt').count()).toBe(4);
      const lossPoints = await page.locator('#loss-chart polyline.series').getAttribute('points');
      expect(lossPoints!.trim().split(/\s+/)).toHaveLength(120);
      expect(await page.locator('#knn-chart line.ref').count()).toBe(2); // final + raw-pixel lines
      expect(await page.locator('#knn-chart rect.final-pt').count()).toBe(0); // the monitor has the last epoch
      // Ten colours for ten labels, and a legend entry for each.
      const fills = await page.locator('#embedding-chart circle.pt').evaluateAll((cs) => new Set(cs.map((c) => c.getAttribute('fill'))).size);
      expect(fills).toBe(10);
      expect(await page.locator('#embedding-chart-legend span').count()).toBe(10);
      // The chart has real extent on screen.
      const box = await page.locator('#loss-chart').boundingBox();
      expect(box!.width).toBeGreaterThan(200);
      expect(box!.height).toBeGreaterThan(80);
      expect(await page.locator('#config').textContent()).toContain('"temperature": 0.5');
      expect(await page.locator('#summary').textContent()).toContain('71.00%');
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      await page.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows config text from the run as text, never as markup or script', async () => {
    const dir = fixtureRun({ steps: 20, epochs: 2, points: 10, hostile: true, skipLastMonitor: true });
    try {
      const { page, errors } = await open(writeReport(dir));
      // The monitor skipped the last epoch: the final evaluation is drawn there instead.
      expect(await page.locator('#knn-chart').getAttribute('data-points')).toBe('1');
      expect(await page.locator('#knn-chart rect.final-pt').count()).toBe(1);
      expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      expect(await page.locator('#config').textContent()).toContain('</script><script>window.__pwned = 1</script>');
      expect(errors).toEqual([]);
      await page.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('renders "no data" placeholders for an empty run folder without errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-report-'));
    try {
      const { page, errors } = await open(writeReport(dir));
      expect(await page.locator('#loss-chart').getAttribute('data-points')).toBe('0');
      expect(await page.locator('#embedding-chart').getAttribute('data-points')).toBe('0');
      expect(await page.locator('#loss-chart text.empty').count()).toBe(1);
      expect(errors).toEqual([]);
      await page.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
