// Google's image models on the Gemini API: Imagen 4 (Standard, Ultra, Fast) and Gemini image models.
export { createGoogle, google, googleAlternateApiKeyVariable, googleApiKeyVariable, googleProviderInfo, type GoogleProvider, type GoogleProviderSettings } from './google-provider.js';
export { GoogleImageModel, type GoogleImageModelId } from './google-image-model.js';
export { googleImageOptionsSchema, type GoogleImageOptions } from './google-image-options.js';
