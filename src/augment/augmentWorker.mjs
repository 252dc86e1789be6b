// Bootstrap of the augmentation worker thread. A worker_thread does not inherit a TypeScript
// loader (not from vitest, and not from `node --import tsx` either), so register tsx's ESM
// loader in this thread, then import the .ts worker module.
import { register } from 'tsx/esm/api';

register();
const mod = await import('./augmentWorker.ts');
export default mod.default;
