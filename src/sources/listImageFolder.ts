/**
 * Lists the images under a folder, recursively, in a deterministic order (entries sorted by
 * name, code-unit order, depth first), the way torchvision's ImageFolder does:
 *
 * - With `labels: true`, every first-level subfolder is a class; classes are numbered in
 *   sorted order and files directly in the root are ignored.
 * - Symbolic links are followed, but only when their target (resolved with realpath) lies
 *   under the root's real path; otherwise PathEscapeError. Directory cycles are visited once.
 */
import { opendir, realpath, stat } from 'node:fs/promises';
import { join, relative, sep, isAbsolute, extname } from 'node:path';
import { ArgumentError } from '../errors.ts';
import { PathEscapeError } from '../data.ts';

export const DEFAULT_IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'] as const;

export interface ListImageFolderConfig {
  /** Use first-level subfolders as classes. Default false. */
  labels?: boolean;
  /** File extensions to include (case-insensitive, with the dot). Default .jpg .jpeg .png .webp. */
  extensions?: readonly string[];
  /** Checked between directories: stop walking when it returns true. */
  isCancelled?: () => boolean;
}

export interface ImageFolderListing {
  /** Real path of the root. */
  root: string;
  /** Real paths of the files, in emission order. */
  files: string[];
  /** Label per file (-1 without labels). */
  labels: Int32Array;
  /** Class names in label order (empty without labels). */
  classes: string[];
}

/** True when `p` is `root` or inside it. */
export function isInside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel) && rel.split(sep)[0] !== '..');
}

export async function listImageFolder(root: string, config: ListImageFolderConfig = {}): Promise<ImageFolderListing> {
  const fn = 'listImageFolder';
  if (typeof root !== 'string' || root.length === 0) throw new ArgumentError(fn, 'root', 'must be a directory path');
  const exts = new Set((config.extensions ?? DEFAULT_IMAGE_EXTENSIONS).map((e) => e.toLowerCase()));
  const realRoot = await realpath(root);
  if (!(await stat(realRoot)).isDirectory()) throw new ArgumentError(fn, 'root', `'${root}' is not a directory`);
  const files: string[] = [];
  const fileClass: number[] = [];
  const visited = new Set<string>();

  async function entries(dir: string): Promise<{ name: string; path: string; real: string; isDir: boolean }[]> {
    const out: { name: string; path: string; real: string; isDir: boolean }[] = [];
    const handle = await opendir(dir);
    for await (const d of handle) {
      const p = join(dir, d.name);
      let real = p;
      let isDir = d.isDirectory();
      let isFile = d.isFile();
      if (d.isSymbolicLink()) {
        try {
          real = await realpath(p);
        } catch {
          continue; // dangling link
        }
        if (!isInside(realRoot, real)) throw new PathEscapeError(p, real, realRoot);
        const st = await stat(real);
        isDir = st.isDirectory();
        isFile = st.isFile();
      }
      if (!isDir && !isFile) continue;
      if (isFile && !exts.has(extname(d.name).toLowerCase())) continue;
      out.push({ name: d.name, path: p, real, isDir });
    }
    out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return out;
  }

  async function walk(dir: string, label: number): Promise<void> {
    if (config.isCancelled?.()) return;
    const real = dir === realRoot ? realRoot : await realpath(dir);
    if (visited.has(real)) return;
    visited.add(real);
    for (const e of await entries(dir)) {
      if (config.isCancelled?.()) return;
      if (e.isDir) await walk(e.real, label);
      else {
        files.push(e.real);
        fileClass.push(label);
      }
    }
  }

  const classes: string[] = [];
  if (config.labels) {
    visited.add(realRoot);
    const top = await entries(realRoot);
    for (const e of top) {
      if (!e.isDir) continue; // files in the root have no class
      classes.push(e.name);
      await walk(e.real, classes.length - 1);
    }
  } else {
    await walk(realRoot, -1);
  }
  return { root: realRoot, files, labels: Int32Array.from(fileClass), classes };
}
