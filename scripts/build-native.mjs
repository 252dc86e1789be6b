#!/usr/bin/env node
// Builds contrastream's optional native kernels (native/ -> build/Release/contrastream_native.node).
//
// This is the package's `install` script, so it must never fail `npm install`: whatever happens it
// prints one line saying what it did and exits 0. Without the addon, contrastream runs on the
// pure-wasm kernels.
//
//   CONTRASTREAM_NATIVE=0        skip the build
//   CONTRASTREAM_NATIVE_VERBOSE=1 print the compiler output
//   CONTRASTREAM_NATIVE_BUILDER=direct  skip node-gyp, compile with g++ directly
//
// Order of attempts: node-gyp (npm's own, `npm_config_node_gyp`, or a local one), using the
// headers of the running Node when they are installed (so no download is needed); if node-gyp
// is missing or fails, a direct `g++ -shared` of the same sources. The full log goes to
// build/native-build.log.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build', 'Release', 'contrastream_native.node');
const logPath = join(root, 'build', 'native-build.log');
const verbose = process.env.CONTRASTREAM_NATIVE_VERBOSE === '1';
const log = [];

function done(line) {
  try {
    mkdirSync(dirname(logPath), { recursive: true });
    writeFileSync(logPath, log.join('\n') + '\n');
  } catch {
    // the log is best effort
  }
  console.log(`contrastream: ${line}`);
  process.exit(0);
}

function run(cmd, args, timeoutMs = 10 * 60 * 1000) {
  log.push(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, {
    cwd: root,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: process.env,
    maxBuffer: 64 * 1024 * 1024,
  });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  log.push(text);
  if (verbose) process.stderr.write(text);
  if (r.error) log.push(`error: ${r.error.message}`);
  return { ok: r.status === 0 && !r.error, text, error: r.error };
}

/** Sources and flags, read from binding.gyp so both build paths compile the same thing. */
function gypTarget() {
  const text = readFileSync(join(root, 'binding.gyp'), 'utf8');
  const gyp = JSON.parse(text.replace(/#.*$/gm, ''));
  return gyp.targets[0];
}

/** A prefix whose include/node holds node_api.h for this Node, or undefined. */
function nodeHeaders() {
  const candidates = [resolve(dirname(process.execPath), '..'), '/usr', '/usr/local'];
  for (const prefix of candidates) {
    if (existsSync(join(prefix, 'include', 'node', 'node_api.h')) && existsSync(join(prefix, 'include', 'node', 'common.gypi'))) {
      return prefix;
    }
  }
  return undefined;
}

function findNodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  const require = createRequire(import.meta.url);
  const candidates = [
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally
  }
  return candidates.find((c) => existsSync(c));
}

function compiler() {
  for (const cxx of [process.env.CXX, 'g++', 'c++', 'clang++']) {
    if (!cxx) continue;
    const r = spawnSync(cxx, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return cxx;
  }
  return undefined;
}

/** Loads the built addon in a child process; returns its info line or throws. */
function probe() {
  const r = spawnSync(process.execPath, ['-e', `const m=require(${JSON.stringify(out)});const i=m.info();console.log(i.isa+' '+i.threads)`], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error((r.stderr || r.stdout || 'load failed').trim().split('\n').pop());
  const [isa, threads] = r.stdout.trim().split(' ');
  return { isa, threads };
}

function directBuild(cxx, prefix) {
  const t = gypTarget();
  const flags = t.cflags_cc ?? [];
  const defines = (t.defines ?? []).map((d) => `-D${d}`);
  mkdirSync(dirname(out), { recursive: true });
  const args = [...flags, ...defines, '-fPIC', '-shared', '-pthread', `-I${join(prefix, 'include', 'node')}`,
    ...t.sources.map((s) => join(root, s)), ...(t.libraries ?? []), '-o', out];
  return run(cxx, args);
}

if (process.env.CONTRASTREAM_NATIVE === '0') done('native kernels skipped (CONTRASTREAM_NATIVE=0); using the wasm kernels');
if (process.platform === 'win32') done('native kernels are not built on Windows; using the wasm kernels');

try {
  const cxx = compiler();
  if (cxx === undefined) done('native kernels not built: no C++ compiler found (install g++); using the wasm kernels');
  const prefix = nodeHeaders();
  const gyp = process.env.CONTRASTREAM_NATIVE_BUILDER === 'direct' ? undefined : findNodeGyp();
  let built = false;
  let why = '';
  if (gyp !== undefined) {
    const args = ['rebuild', '--release'];
    if (prefix !== undefined) args.push(`--nodedir=${prefix}`);
    const r = gyp.endsWith('.js') ? run(process.execPath, [gyp, ...args]) : run(gyp, args);
    built = r.ok && existsSync(out);
    if (!built) why = `node-gyp failed (${(r.error?.message ?? r.text.trim().split('\n').pop() ?? '').slice(0, 160)})`;
  } else {
    why = 'node-gyp not found';
  }
  if (!built && prefix !== undefined) {
    rmSync(out, { force: true });
    const r = directBuild(cxx, prefix);
    built = r.ok && existsSync(out);
    if (!built) why += `; ${cxx} failed (${r.text.trim().split('\n').slice(-1)[0]?.slice(0, 160) ?? ''})`;
  } else if (!built) {
    why += '; no Node headers found for a direct build';
  }
  if (!built) done(`native kernels not built: ${why}. Using the wasm kernels (log: ${logPath})`);
  const info = probe();
  done(`native kernels built (${info.isa}, ${info.threads} threads) -> ${out}`);
} catch (err) {
  rmSync(out, { force: true });
  done(`native kernels not built: ${err instanceof Error ? err.message : String(err)}. Using the wasm kernels (log: ${logPath})`);
}
