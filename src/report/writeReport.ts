/**
 * Writes `report.html` into a run folder: one self-contained page that works offline (no CDN,
 * no fetch; data inlined as JSON, charts drawn as inline SVG by inline JavaScript).
 *
 * Reads (all optional except the folder itself):
 * - `config.json`   `{ pipeline, config, run, version }`
 * - `metrics.jsonl` one JSON object per line: `step` (loss, lr, imagesPerSecond), `knn`
 *                   (monitor top-1), `final` (knnTop1, rawKnnTop1, imagesPerSecond, steps).
 *                   A torn last line (a killed run) is skipped.
 * - `embedding.json` `{ labels, points: [x, y][], method }` (2-D PCA of test features)
 * - `eval.json`     written by `contrastream eval` (kNN and linear-probe top-1)
 *
 * Shows: summary numbers, loss curve (raw and a centred moving average), kNN top-1 per monitor (with the
 * final encoder and raw-pixel values), img/s, the 2-D embedding coloured by label, and the
 * config. Every chart's <svg> gets `data-points="N"` once drawn (what the tests check).
 * The file is written atomically (temp file in the folder, fsync, rename).
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ContrastreamError } from '../errors.ts';

/** The run folder is missing or unreadable. */
export class ReportError extends ContrastreamError {}

export interface WriteReportConfig {
  /** Output file name inside the run folder. Default 'report.html'. */
  fileName?: string;
  /** Most loss/img/s points drawn (longer runs are averaged into this many buckets). Default 2000. */
  maxCurvePoints?: number;
}

export const DEFAULT_WRITE_REPORT_CONFIG = { fileName: 'report.html', maxCurvePoints: 2000 } as const;

/** What the page gets, inlined as JSON. */
export interface ReportData {
  title: string;
  runDir: string;
  generated: string;
  pipeline: string | null;
  config: unknown;
  run: unknown;
  loss: [number, number][]; // [step, loss]
  lr: [number, number][];
  speed: [number, number][]; // [step, img/s]
  knn: [number, number][]; // [epoch, top1]
  final: Record<string, unknown> | null;
  evaluation: Record<string, unknown> | null;
  embedding: { labels: number[]; points: [number, number][]; method: string } | null;
  interrupted: boolean;
  skippedLines: number;
}

function readJson(file: string): unknown {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** Averages [x, y] pairs into at most `max` buckets (keeps the shape of long curves). */
export function downsample(points: [number, number][], max: number): [number, number][] {
  if (points.length <= max) return points;
  const out: [number, number][] = [];
  const per = points.length / max;
  for (let b = 0; b < max; b++) {
    const lo = Math.floor(b * per);
    const hi = Math.min(points.length, Math.floor((b + 1) * per));
    let sx = 0;
    let sy = 0;
    for (let i = lo; i < hi; i++) {
      sx += points[i][0];
      sy += points[i][1];
    }
    out.push([sx / (hi - lo), sy / (hi - lo)]);
  }
  return out;
}

/** Collects what the page shows from a run folder. */
export function readReportData(runDir: string, config: WriteReportConfig = {}): ReportData {
  const max = config.maxCurvePoints ?? DEFAULT_WRITE_REPORT_CONFIG.maxCurvePoints;
  const cfg = readJson(join(runDir, 'config.json')) as { pipeline?: string; config?: unknown; run?: unknown } | undefined;
  const loss: [number, number][] = [];
  const lr: [number, number][] = [];
  const speed: [number, number][] = [];
  const knn: [number, number][] = [];
  let final: Record<string, unknown> | null = null;
  let interrupted = false;
  let skippedLines = 0;
  const metricsFile = join(runDir, 'metrics.jsonl');
  if (existsSync(metricsFile)) {
    for (const line of readFileSync(metricsFile, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(line);
      } catch {
        skippedLines++;
        continue;
      }
      if (m.type === 'step' && finite(m.step)) {
        if (finite(m.loss)) loss.push([m.step, m.loss]);
        if (finite(m.lr)) lr.push([m.step, m.lr]);
        if (finite(m.imagesPerSecond)) speed.push([m.step, m.imagesPerSecond]);
      } else if (m.type === 'knn' && finite(m.epoch) && finite(m.top1)) {
        knn.push([m.epoch, m.top1]);
      } else if (m.type === 'final') {
        final = m;
      } else if (m.type === 'interrupted') {
        interrupted = true;
      }
    }
  }
  const emb = readJson(join(runDir, 'embedding.json')) as ReportData['embedding'] | undefined;
  const embedding =
    emb && Array.isArray(emb.points) && Array.isArray(emb.labels)
      ? {
          method: typeof emb.method === 'string' ? emb.method : 'pca',
          points: emb.points.filter((p) => Array.isArray(p) && finite(p[0]) && finite(p[1])),
          labels: emb.labels.map((l) => (finite(l) ? l : -1)),
        }
      : null;
  const evaluation = (readJson(join(runDir, 'eval.json')) as Record<string, unknown> | undefined) ?? null;
  if (final !== null && final.interrupted === true) interrupted = true;
  const pipeline = typeof cfg?.pipeline === 'string' ? cfg.pipeline : null;
  return {
    title: `contrastream run${pipeline ? ` — ${pipeline}` : ''}`,
    runDir,
    generated: new Date().toISOString(),
    pipeline,
    config: cfg?.config ?? null,
    run: cfg?.run ?? null,
    loss: downsample(loss, max),
    lr: downsample(lr, max),
    speed: downsample(speed, max),
    knn,
    final,
    evaluation,
    embedding,
    interrupted,
    skippedLines,
  };
}

/** JSON that is safe inside a <script> element (no `</script>`, no `<!--`). */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:16px 28px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;opacity:.75;font-size:12px}
main{padding:20px 28px;display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:18px}
section{background:#fff;border:1px solid #e1e4ea;border-radius:8px;padding:14px 16px}section h2{margin:0 0 8px;font-size:15px}
section.wide{grid-column:1/-1}.cards{display:flex;flex-wrap:wrap;gap:12px}.card{min-width:130px;padding:8px 12px;border-radius:6px;background:#f0f3f8}
.card b{display:block;font-size:20px}.card span{font-size:12px;color:#5a6270}svg{width:100%;height:auto;display:block}#embedding-chart{max-width:1100px;margin:0 auto}
.axis{stroke:#9aa3b2;stroke-width:1}.grid{stroke:#eceff4;stroke-width:1}.tick{font-size:11px;fill:#5a6270}.label{font-size:12px;fill:#3a4150}
.empty{font-size:13px;fill:#8a92a0}pre{margin:0;max-height:420px;overflow:auto;background:#f6f7f9;padding:10px;border-radius:6px;font-size:12px}
.legend{display:flex;flex-wrap:wrap;gap:10px;font-size:12px;margin-top:6px}.legend i{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:4px;vertical-align:-1px}
.warn{color:#a4262c}`;

/** The inline script: draws every chart from the JSON in #report-data. Plain ES2017, no imports. */
const SCRIPT = String.raw`
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('report-data').textContent);
  var NS = 'http://www.w3.org/2000/svg';
  var W = 640, H = 320, M = { l: 58, r: 16, t: 14, b: 40 };
  var PALETTE = ['#1f77b4','#ff7f0e','#2ca02c','#d62728','#9467bd','#8c564b','#e377c2','#7f7f7f','#bcbd22','#17becf',
                 '#393b79','#637939','#8c6d31','#843c39','#7b4173','#3182bd','#e6550d','#31a354','#756bb1','#636363'];
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function text(parent, x, y, s, cls, anchor) {
    var t = el('text', { x: x, y: y, 'class': cls || 'tick', 'text-anchor': anchor || 'middle' }, parent);
    t.textContent = s;
    return t;
  }
  function niceTicks(lo, hi, n) {
    if (!(hi > lo)) { hi = lo + 1; lo = lo - 1; }
    var span = hi - lo, step = Math.pow(10, Math.floor(Math.log10(span / n)));
    var err = span / n / step;
    if (err >= 7.5) step *= 10; else if (err >= 3.5) step *= 5; else if (err >= 1.5) step *= 2;
    var ticks = [], start = Math.ceil(lo / step) * step;
    for (var v = start; v <= hi + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
    return ticks;
  }
  function fmt(v) {
    var a = Math.abs(v);
    if (a === 0) return '0';
    if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
    return +v.toPrecision(4) + '';
  }
  function frame(svg, xs, ys, xLabel, yLabel, yRange, intX) {
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    if (intX) { x0 = Math.min(0, x0); x1 = Math.max(1, x1); }
    var y0 = yRange ? yRange[0] : Math.min.apply(null, ys), y1 = yRange ? yRange[1] : Math.max.apply(null, ys);
    if (x1 === x0) { x0 -= 1; x1 += 1; }
    if (y1 === y0) { y0 -= Math.abs(y0) * 0.1 + 1e-3; y1 += Math.abs(y1) * 0.1 + 1e-3; }
    var pad = (y1 - y0) * 0.05; if (!yRange) { y0 -= pad; y1 += pad; }
    var sx = function (x) { return M.l + (x - x0) / (x1 - x0) * (W - M.l - M.r); };
    var sy = function (y) { return H - M.b - (y - y0) / (y1 - y0) * (H - M.t - M.b); };
    niceTicks(y0, y1, 5).forEach(function (t) {
      if (t < y0 || t > y1) return;
      el('line', { x1: M.l, x2: W - M.r, y1: sy(t), y2: sy(t), 'class': 'grid' }, svg);
      text(svg, M.l - 6, sy(t) + 4, fmt(t), 'tick', 'end');
    });
    niceTicks(x0, x1, 6).forEach(function (t) {
      if (t < x0 || t > x1 || (intX && t !== Math.round(t))) return;
      el('line', { x1: sx(t), x2: sx(t), y1: H - M.b, y2: H - M.b + 4, 'class': 'axis' }, svg);
      text(svg, sx(t), H - M.b + 16, fmt(t));
    });
    el('line', { x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b, 'class': 'axis' }, svg);
    el('line', { x1: M.l, x2: M.l, y1: M.t, y2: H - M.b, 'class': 'axis' }, svg);
    text(svg, (M.l + W - M.r) / 2, H - 6, xLabel, 'label');
    var yl = text(svg, 14, (M.t + H - M.b) / 2, yLabel, 'label');
    yl.setAttribute('transform', 'rotate(-90 14 ' + (M.t + H - M.b) / 2 + ')');
    return { sx: sx, sy: sy };
  }
  function empty(svg, why) {
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + 80);
    text(svg, W / 2, 44, why, 'empty');
    svg.setAttribute('data-points', '0');
  }
  function polyline(svg, pts, s, color, width, dash) {
    var d = pts.map(function (p) { return s.sx(p[0]).toFixed(1) + ',' + s.sy(p[1]).toFixed(1); }).join(' ');
    var a = { points: d, fill: 'none', stroke: color, 'stroke-width': width || 1.5, 'stroke-linejoin': 'round' };
    if (dash) a['stroke-dasharray'] = dash;
    return el('polyline', a, svg);
  }
  function smooth(pts, half) { // centred moving average (no lag), window 2 half + 1
    var out = [], sum = 0, lo = 0, hi = -1;
    for (var i = 0; i < pts.length; i++) {
      var a = Math.max(0, i - half), b = Math.min(pts.length - 1, i + half);
      while (hi < b) sum += pts[++hi][1];
      while (lo < a) sum -= pts[lo++][1];
      out.push([pts[i][0], sum / (hi - lo + 1)]);
    }
    return out;
  }
  function lineChart(id, pts, opts) {
    var svg = document.getElementById(id);
    if (!pts.length) return empty(svg, opts.empty);
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    var ys = pts.map(function (p) { return p[1]; });
    (opts.extra || []).forEach(function (e) { ys.push(e.y); });
    var xs = pts.map(function (p) { return p[0]; });
    if (opts.finalPoint) xs.push(opts.finalPoint[0]);
    var s = frame(svg, xs, ys, opts.x, opts.y, opts.yRange, opts.intX);
    if (opts.markers) {
      polyline(svg, pts, s, opts.color, 2);
      pts.forEach(function (p) {
        var c = el('circle', { cx: s.sx(p[0]), cy: s.sy(p[1]), r: 4, fill: opts.color, 'class': 'pt' }, svg);
        el('title', {}, c).textContent = opts.x + ' ' + fmt(p[0]) + ': ' + fmt(p[1]);
      });
    } else {
      var smoothed = opts.smooth && pts.length >= 20;
      polyline(svg, pts, s, smoothed ? '#b9c6dc' : opts.color, smoothed ? 1.2 : 2).setAttribute('class', 'series');
      if (smoothed) polyline(svg, smooth(pts, Math.max(2, Math.round(pts.length / 40))), s, opts.color, 2).setAttribute('class', 'smoothed');
    }
    var labelled = [];
    (opts.extra || []).slice().sort(function (a, b) { return b.y - a.y; }).forEach(function (e) {
      var y = s.sy(e.y);
      el('line', { x1: M.l, x2: W - M.r, y1: y, y2: y, stroke: e.color, 'stroke-dasharray': '5 4', 'stroke-width': 1.5, 'class': 'ref' }, svg);
      var crowded = labelled.some(function (ly) { return Math.abs(ly - y) < 16; });
      text(svg, W - M.r - 4, crowded ? y + 14 : y - 5, e.label, 'label', 'end').setAttribute('fill', e.color);
      labelled.push(y);
    });
    if (opts.finalPoint) {
      var fp = opts.finalPoint, fx = s.sx(fp[0]), fy = s.sy(fp[1]);
      var r = el('rect', { x: fx - 4.5, y: fy - 4.5, width: 9, height: 9, fill: '#2ca02c', 'class': 'final-pt' }, svg);
      el('title', {}, r).textContent = 'final (all images) ' + fmt(fp[1]);
    }
    svg.setAttribute('data-points', String(pts.length));
  }
  function scatter(id, emb) {
    var svg = document.getElementById(id);
    W = 1000; H = 560; // a wide panel: keep text at the size of the other charts
    if (!emb || !emb.points.length) return empty(svg, 'no embedding.json (written at the end of a run with labelled test data)');
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    var s = frame(svg, emb.points.map(function (p) { return p[0]; }), emb.points.map(function (p) { return p[1]; }), (emb.method || '').toUpperCase() + ' 1', (emb.method || '').toUpperCase() + ' 2');
    var seen = {};
    emb.points.forEach(function (p, i) {
      var lab = emb.labels[i];
      var color = lab >= 0 ? PALETTE[lab % PALETTE.length] : '#999';
      seen[lab] = color;
      var c = el('circle', { cx: s.sx(p[0]).toFixed(1), cy: s.sy(p[1]).toFixed(1), r: 2.2, fill: color, 'fill-opacity': 0.75, 'class': 'pt' }, svg);
      c.setAttribute('data-label', String(lab));
    });
    var legend = document.getElementById(id + '-legend');
    Object.keys(seen).sort(function (a, b) { return a - b; }).forEach(function (k) {
      var span = document.createElement('span');
      var dot = document.createElement('i');
      dot.style.background = seen[k];
      span.appendChild(dot);
      span.appendChild(document.createTextNode(k < 0 ? 'no label' : 'class ' + k));
      legend.appendChild(span);
    });
    svg.setAttribute('data-points', String(emb.points.length));
  }
  function pct(v) { return typeof v === 'number' ? (v * 100).toFixed(2) + '%' : '—'; }
  function card(parent, value, label) {
    var d = document.createElement('div'); d.className = 'card';
    var b = document.createElement('b'); b.textContent = value;
    var s = document.createElement('span'); s.textContent = label;
    d.appendChild(b); d.appendChild(s); parent.appendChild(d);
  }

  var f = D.final || {};
  var cards = document.getElementById('summary');
  var lastLoss = D.loss.length ? D.loss[D.loss.length - 1][1] : undefined;
  card(cards, D.pipeline || '?', 'pipeline');
  card(cards, String(f.steps !== undefined ? f.steps : (D.loss.length ? D.loss[D.loss.length - 1][0] : 0)), 'steps');
  card(cards, lastLoss !== undefined ? fmt(lastLoss) : '—', 'last loss');
  card(cards, pct(f.knnTop1), 'kNN top-1 (encoder)');
  card(cards, pct(f.rawKnnTop1), 'kNN top-1 (raw pixels)');
  card(cards, typeof f.imagesPerSecond === 'number' ? f.imagesPerSecond.toFixed(0) : '—', 'img/s');
  if (D.evaluation) {
    card(cards, pct(D.evaluation.knnTop1), 'eval kNN top-1');
    card(cards, pct(D.evaluation.linearTop1), 'eval linear probe top-1');
  }
  if (D.interrupted) document.getElementById('status').textContent = 'This run was interrupted; resume it with: contrastream resume ' + D.runDir;
  if (D.skippedLines) document.getElementById('status').textContent += ' (' + D.skippedLines + ' unreadable metrics line(s) skipped)';

  lineChart('loss-chart', D.loss, { x: 'step', y: 'loss', color: '#1f5fbf', smooth: true, empty: 'no step metrics yet' });
  var extra = [];
  if (typeof f.knnTop1 === 'number') extra.push({ y: f.knnTop1, label: 'final ' + pct(f.knnTop1), color: '#2ca02c' });
  if (typeof f.rawKnnTop1 === 'number') extra.push({ y: f.rawKnnTop1, label: 'raw pixels ' + pct(f.rawKnnTop1), color: '#d62728' });
  // The final evaluation as a point at the last epoch, unless the monitor already has one there.
  var lastEpoch = D.run && typeof D.run.epochs === 'number' ? D.run.epochs : undefined;
  var finalPoint = typeof f.knnTop1 === 'number' && lastEpoch !== undefined && D.knn.length && !D.knn.some(function (p) { return p[0] === lastEpoch; }) ? [lastEpoch, f.knnTop1] : undefined;
  lineChart('knn-chart', D.knn, { x: 'epoch', y: 'kNN top-1', color: '#7b3fb8', markers: true, intX: true, extra: extra, finalPoint: finalPoint, yRange: [0, 1], empty: 'no kNN monitor points (needs labelled data and --monitor-every > 0)' });
  lineChart('speed-chart', D.speed, { x: 'step', y: 'images / s', color: '#e0701b', empty: 'no throughput metrics' });
  lineChart('lr-chart', D.lr, { x: 'step', y: 'learning rate', color: '#17877f', empty: 'no learning-rate metrics' });
  scatter('embedding-chart', D.embedding);
  document.getElementById('config').textContent = JSON.stringify({ pipeline: D.pipeline, config: D.config, run: D.run }, null, 2);
  document.body.setAttribute('data-rendered', 'true');
})();`;

/** Renders the page for `data` (exported for tests and for callers with data in memory). */
export function renderReport(data: ReportData): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(data.title)}</title>
<style>${STYLE}</style></head>
<body>
<header><h1>${escapeHtml(data.title)}</h1><p>${escapeHtml(data.runDir)} · report generated ${escapeHtml(data.generated)}</p></header>
<main>
<section class="wide"><h2>Summary</h2><div class="cards" id="summary"></div><p class="warn" id="status"></p></section>
<section><h2>Training loss</h2><svg id="loss-chart" role="img" aria-label="training loss per step"></svg></section>
<section><h2>kNN top-1 (k=200, τ=0.1)</h2><svg id="knn-chart" role="img" aria-label="kNN accuracy per epoch"></svg></section>
<section><h2>Throughput</h2><svg id="speed-chart" role="img" aria-label="images per second"></svg></section>
<section><h2>Learning rate</h2><svg id="lr-chart" role="img" aria-label="learning rate per step"></svg></section>
<section class="wide"><h2>Test-set embedding${data.embedding ? ` (${escapeHtml(data.embedding.method.toUpperCase())}, ${data.embedding.points.length} points)` : ''}</h2>
<svg id="embedding-chart" role="img" aria-label="2-D embedding of test features coloured by label"></svg><div class="legend" id="embedding-chart-legend"></div></section>
<section class="wide"><h2>Config</h2><pre id="config"></pre></section>
</main>
<script type="application/json" id="report-data">${scriptJson(data)}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}

/** Writes `bytes` to `file` atomically: temp file in the same folder, fsync, rename. */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** Reads the run folder and writes its report. Returns the report's path. */
export function writeReport(runDir: string, config: WriteReportConfig = {}): string {
  if (!existsSync(runDir)) throw new ReportError(`writeReport: run folder '${runDir}' does not exist. Pass the --out folder of a run.`);
  const file = join(runDir, config.fileName ?? DEFAULT_WRITE_REPORT_CONFIG.fileName);
  writeFileAtomic(file, renderReport(readReportData(runDir, config)));
  return file;
}
