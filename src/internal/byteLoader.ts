/**
 * Progressive, demand-driven loading of a (possibly gzipped) file into one buffer.
 *
 * The file is read as a stream (gunzipped when it starts with the gzip magic 1f 8b) into a
 * buffer whose size the caller learns from the file's header. `ensure(end)` waits until the
 * first `end` bytes are loaded; reading runs at most `readAhead` bytes beyond the furthest
 * byte asked for, and `close()` stops it (destroys the streams). Nothing is opened before the
 * first call.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { DataFormatError } from '../data.ts';

export interface ByteLoaderOptions {
  /** Bytes to read beyond the furthest requested byte. Default 4 MiB. */
  readAhead?: number;
  /** Called with the number of (decompressed) bytes loaded so far, after every chunk. */
  onProgress?: (bytes: number) => void;
}

export class ByteLoader {
  /** Loaded bytes live in buffer[0 .. loaded). Allocated by `allocate`. */
  buffer: Uint8Array = new Uint8Array(0);
  loaded = 0;
  private pending = new Uint8Array(0); // bytes read before `allocate`
  private wanted = 0;
  private stream: Readable | undefined;
  private raw: Readable | undefined;
  private iter: AsyncIterator<Buffer> | undefined;
  private pumping: Promise<void> | undefined;
  private ended = false;
  private closed = false;
  private failure: unknown;
  private waiters: (() => void)[] = [];
  private readonly readAhead: number;

  constructor(
    readonly path: string,
    private readonly options: ByteLoaderOptions = {},
  ) {
    this.readAhead = options.readAhead ?? 4 << 20;
  }

  private async start(): Promise<void> {
    const fh = await open(this.path, 'r');
    const magic = Buffer.alloc(2);
    try {
      await fh.read(magic, 0, 2, 0);
    } finally {
      await fh.close();
    }
    if (this.closed) return;
    this.raw = createReadStream(this.path, { highWaterMark: 1 << 20 });
    this.stream = magic[0] === 0x1f && magic[1] === 0x8b ? this.raw.pipe(createGunzip({ chunkSize: 1 << 18 })) : this.raw;
    this.raw.on('error', (err) => this.fail(err));
    this.iter = this.stream[Symbol.asyncIterator]();
  }

  private fail(err: unknown): void {
    if (this.failure === undefined) this.failure = err;
    this.wakeAll();
  }

  private wakeAll(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Fixes the total size (from the header). Bytes read so far are moved in. */
  allocate(total: number): void {
    if (this.buffer.length >= total && this.buffer.length > 0) return;
    const buf = new Uint8Array(total);
    const have = Math.min(this.pending.length, total);
    buf.set(this.pending.subarray(0, have));
    if (this.pending.length > total) this.fail(new DataFormatError(this.path, `has more data than its header declares (${total} bytes)`));
    this.pending = new Uint8Array(0);
    this.buffer = buf;
    this.loaded = have;
  }

  private async pump(): Promise<void> {
    try {
      if (!this.iter) await this.start();
      while (!this.closed && !this.ended && this.loaded < this.wanted + this.readAhead) {
        const r = await this.iter!.next();
        if (this.closed) return;
        if (r.done) {
          this.ended = true;
          break;
        }
        const chunk = r.value as Buffer;
        if (this.buffer.length === 0) {
          // header not parsed yet: keep bytes aside
          const p = new Uint8Array(this.pending.length + chunk.length);
          p.set(this.pending);
          p.set(chunk, this.pending.length);
          this.pending = p;
        } else {
          if (this.loaded + chunk.length > this.buffer.length) {
            throw new DataFormatError(this.path, `has more data than its header declares (${this.buffer.length} bytes)`);
          }
          this.buffer.set(chunk, this.loaded);
          this.loaded += chunk.length;
        }
        this.options.onProgress?.(this.buffer.length === 0 ? this.pending.length : this.loaded);
        this.wakeAll();
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.pumping = undefined;
      this.wakeAll();
    }
  }

  private available(): number {
    return this.buffer.length === 0 ? this.pending.length : this.loaded;
  }

  /** The first `n` bytes before allocation (for headers). */
  async header(n: number): Promise<Uint8Array> {
    await this.ensure(n);
    return (this.buffer.length === 0 ? this.pending : this.buffer).subarray(0, n);
  }

  /** Waits until at least `end` bytes are loaded. Throws DataFormatError if the file is shorter. */
  async ensure(end: number): Promise<void> {
    if (end > this.wanted) this.wanted = end;
    while (this.available() < end) {
      if (this.failure !== undefined) throw this.failure;
      if (this.closed) throw new Error(`ByteLoader(${this.path}) is closed`);
      if (this.ended) {
        throw new DataFormatError(this.path, `is truncated: needed ${end} bytes, the file holds ${this.available()}`);
      }
      if (!this.pumping) this.pumping = this.pump();
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    // keep reading ahead in the background
    if (!this.pumping && !this.ended && !this.closed && this.loaded < this.wanted + this.readAhead) this.pumping = this.pump();
  }

  /** Waits for the whole file and checks that it holds exactly the allocated size. */
  async ensureAll(): Promise<void> {
    await this.ensure(this.buffer.length);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stream?.destroy();
    this.raw?.destroy();
    this.wakeAll();
  }
}
