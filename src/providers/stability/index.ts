// Stability AI image models: Stable Image Core and Ultra, Stable Diffusion 3.5; inpaint and outpaint.
export { createStability, stability, stabilityApiKeyVariable, stabilityProviderInfo, type StabilityProvider, type StabilityProviderSettings } from './stability-provider.js';
export { StabilityImageModel, stabilityDefaultStrength, type StabilityImageModelId } from './stability-image-model.js';
export { stabilityImageOptionsSchema, stabilityStylePresets, type StabilityImageOptions } from './stability-image-options.js';
