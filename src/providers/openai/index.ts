// OpenAI image models: gpt-image-1, dall-e-3, dall-e-2.
export { createOpenAI, openai, openaiApiKeyVariable, openaiProviderInfo, type OpenAIProvider, type OpenAIProviderSettings } from './openai-provider.js';
export { OpenAIImageModel, type OpenAIImageModelId } from './openai-image-model.js';
export { openaiImageOptionsSchema, type OpenAIImageOptions } from './openai-image-options.js';
