/**
 * Registers contrastream's training kernels on the wasm backend (placeholder: filled in by
 * the kernel work). Must run before `tf.setBackend('wasm')`, since the engine runs every
 * kernel's setupFunc when the backend initialises.
 */
export interface RegisterWasmTrainingKernelsConfig {
  /** Threads the native kernels may use. */
  threads: number;
}

export function registerWasmTrainingKernels(config: RegisterWasmTrainingKernelsConfig): {
  detail: string;
  threads: number;
} {
  void config;
  return { detail: 'stock kernels', threads: 1 };
}
