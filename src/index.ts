// pixelpipe's library entry: the front door, the contract, the local provider, the hosted providers and the router.
export { createPixelpipe, generate, type Pixelpipe, type PixelpipeOptions, type GenerateOptions, type GenerateResult, type ResolvedModel } from './service/pixelpipe.js';
export * from './spec/index.js';
export { createLocal, LocalImageModel, type LocalProvider, type LocalProviderSettings, type GenerationRecord } from './providers/local/index.js';
export { samplerNames, type SamplerName } from './engine/schedulers/index.js';
export { readPngText } from './engine/image/png.js';
export * from './providers/openai/index.js';
export * from './providers/replicate/index.js';
export * from './providers/fal/index.js';
export * from './providers/stability/index.js';
export * from './providers/bfl/index.js';
export * from './providers/google/index.js';
export * from './providers/ideogram/index.js';
export * from './providers/firefly/index.js';
export * from './providers/comfyui/index.js';
export * from './providers/router/index.js';
export { createProviderRegistry, parseModelId, type ProviderRegistry, type ProviderRegistrySettings, type ProviderStatus } from './providers/registry.js';
export type { HostedProviderSettings } from './providers/shared/provider-settings.js';
