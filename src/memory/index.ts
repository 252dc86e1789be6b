/** Training state passed to the losses and updated by its own operator after each step. */
export {
  MemoryBank,
  DEFAULT_MEMORY_BANK_CONFIG,
  type MemoryBankConfig,
  type MemoryBankState,
  type MemoryBankJSON,
} from './MemoryBank.ts';
export { updateMemoryBank, DEFAULT_UPDATE_MEMORY_BANK_CONFIG, type UpdateMemoryBankConfig } from './updateMemoryBank.ts';
export { KeyQueue, DEFAULT_KEY_QUEUE_CONFIG, type KeyQueueConfig, type KeyQueueState, type KeyQueueJSON } from './KeyQueue.ts';
export { updateKeyQueue, DEFAULT_UPDATE_KEY_QUEUE_CONFIG, type UpdateKeyQueueConfig } from './updateKeyQueue.ts';
export {
  MomentumEncoder,
  DEFAULT_MOMENTUM_ENCODER_CONFIG,
  type MomentumEncoderConfig,
  type MomentumEncoderState,
  type MomentumEncoderJSON,
} from './MomentumEncoder.ts';
export {
  updateMomentumEncoder,
  DEFAULT_UPDATE_MOMENTUM_ENCODER_CONFIG,
  type UpdateMomentumEncoderConfig,
} from './updateMomentumEncoder.ts';
