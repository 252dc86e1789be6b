// Bootstrap of the augmentation worker thread. A worker_thread does not inherit a TypeScript
// loader (not from vitest, and not from `node --import tsx` either), so register tsx's ESM
// loader in this thread, then import the .ts worker module. A failure to load is rethrown with
// the WORKER_INIT_FAILED prefix (workerProtocol.ts) so the pool reports it as WorkerError 'init'.
let mod;
try {
  const { register } = await import('tsx/esm/api');
  register();
  mod = await import('./augmentWorker.ts');
} catch (err) {
  throw new Error(`contrastream augmentation worker failed to start: ${err?.stack ?? err}`);
}
export default mod.default;
