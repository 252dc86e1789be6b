/** The contrastive losses: pure functions of tensors (see each module for formula, paper, defaults). */
export { ntXentLoss, DEFAULT_NT_XENT_CONFIG, type NtXentConfig } from './ntXentLoss.ts';
export {
  infoNceLoss,
  infoNceLossFromLogits,
  DEFAULT_INFO_NCE_CONFIG,
  type InfoNceConfig,
  type InfoNceFromLogitsConfig,
} from './infoNceLoss.ts';
export { invaSpreadLoss, DEFAULT_INVA_SPREAD_CONFIG, type InvaSpreadConfig } from './invaSpreadLoss.ts';
export { nceLoss, estimateNceNormalizer, DEFAULT_NCE_CONFIG, type NceConfig, type NceNormalizerConfig } from './nceLoss.ts';
export { cpcInfoNceLoss, DEFAULT_CPC_INFO_NCE_CONFIG, type CpcInfoNceConfig } from './cpcInfoNceLoss.ts';
export { cmcLoss, estimateCmcNormalizers, DEFAULT_CMC_LOSS_CONFIG, type CmcLossConfig, type CmcMemory } from './cmcLoss.ts';
export { proximalLoss } from './proximalLoss.ts';
