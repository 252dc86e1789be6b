/**
 * Finds the ffmpeg (and ffprobe) executables, in this order:
 *   1. `ffmpegPath` given by the caller (an option of fromVideoFile),
 *   2. the `CONTRASTREAM_FFMPEG` environment variable,
 *   3. a registry package that ships a binary, when one is installed (`ffmpeg-static`,
 *      `@ffmpeg-installer/ffmpeg`),
 *   4. `ffmpeg` on the PATH (Debian/Ubuntu: `apt install ffmpeg`).
 * ffprobe is looked for next to the chosen ffmpeg, then on the PATH; it is optional.
 *
 * Where none is found, FfmpegNotFoundError says how to install one or name it.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { ArgumentError } from '../errors.ts';
import { FfmpegNotFoundError } from './FrameSource.ts';

export interface FindFfmpegConfig {
  /** Path of the ffmpeg executable to use. Default: CONTRASTREAM_FFMPEG, a registry binary, then PATH. */
  ffmpegPath?: string;
  /** Path of ffprobe. Default: next to ffmpeg, then PATH. */
  ffprobePath?: string;
  /** Environment to read (tests). Default process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface FfmpegLocation {
  ffmpeg: string;
  /** Undefined when no ffprobe was found (then sources need explicit fps and size). */
  ffprobe: string | undefined;
  /** Where ffmpeg came from. */
  from: 'option' | 'env' | 'package' | 'path';
}

export const FFMPEG_ENV = 'CONTRASTREAM_FFMPEG';

function isExecutable(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  const dirs = (env.PATH ?? '').split(delimiter).filter((d) => d.length > 0);
  const names = process.platform === 'win32' ? [`${name}.exe`, name] : [name];
  for (const d of dirs) for (const n of names) {
    const p = join(d, n);
    if (isExecutable(p)) return resolve(p);
  }
  return undefined;
}

function fromPackage(): string | undefined {
  const require = createRequire(import.meta.url);
  for (const pkg of ['ffmpeg-static', '@ffmpeg-installer/ffmpeg']) {
    try {
      const m = require(pkg) as string | { path?: string } | null;
      const p = typeof m === 'string' ? m : m?.path;
      if (typeof p === 'string' && isExecutable(p)) return p;
    } catch {
      // not installed
    }
  }
  return undefined;
}

const HOW_TO = `Install one (Debian/Ubuntu: 'apt install ffmpeg'; macOS: 'brew install ffmpeg'), or name it with the ffmpegPath option or the ${FFMPEG_ENV} environment variable`;

/** Locates ffmpeg/ffprobe (see the file header). Throws FfmpegNotFoundError. */
export function findFfmpeg(config: FindFfmpegConfig = {}): FfmpegLocation {
  const fn = 'findFfmpeg';
  const env = config.env ?? process.env;
  let ffmpeg: string | undefined;
  let from: FfmpegLocation['from'];
  if (config.ffmpegPath !== undefined) {
    if (typeof config.ffmpegPath !== 'string' || config.ffmpegPath.length === 0) throw new ArgumentError(fn, 'config.ffmpegPath', 'must be a non-empty path');
    const p = resolve(config.ffmpegPath);
    if (!isExecutable(p)) throw new FfmpegNotFoundError(`ffmpegPath '${config.ffmpegPath}' is not an executable file. ${HOW_TO}.`);
    ffmpeg = p;
    from = 'option';
  } else if (env[FFMPEG_ENV]) {
    const p = resolve(env[FFMPEG_ENV]!);
    if (!isExecutable(p)) throw new FfmpegNotFoundError(`${FFMPEG_ENV}='${env[FFMPEG_ENV]}' is not an executable file. ${HOW_TO}.`);
    ffmpeg = p;
    from = 'env';
  } else if ((ffmpeg = fromPackage()) !== undefined) {
    from = 'package';
  } else if ((ffmpeg = onPath('ffmpeg', env)) !== undefined) {
    from = 'path';
  } else {
    throw new FfmpegNotFoundError(`no ffmpeg executable found (checked the ffmpegPath option, ${FFMPEG_ENV}, the ffmpeg-static package and the PATH). ${HOW_TO}.`);
  }
  let ffprobe: string | undefined;
  if (config.ffprobePath !== undefined) {
    const p = resolve(config.ffprobePath);
    if (!isExecutable(p)) throw new FfmpegNotFoundError(`ffprobePath '${config.ffprobePath}' is not an executable file`);
    ffprobe = p;
  } else {
    const sibling = join(dirname(ffmpeg), process.platform === 'win32' ? 'ffprobe.exe' : 'ffprobe');
    ffprobe = isAbsolute(sibling) && isExecutable(sibling) ? sibling : onPath('ffprobe', env);
  }
  return { ffmpeg, ffprobe, from };
}
