// Adobe Firefly Services image models: image4_standard, image4_ultra, image3 (and custom models); generative fill.
export { createFirefly, firefly, fireflyClientIdVariable, fireflyClientSecretVariable, fireflyDefaultTokenUrl, fireflyProviderInfo, fireflyTokenUrlVariable, type FireflyProvider, type FireflyProviderSettings } from './firefly-provider.js';
export { FireflyImageModel, type FireflyImageModelId } from './firefly-image-model.js';
export { fireflyImageOptionsSchema, type FireflyImageOptions } from './firefly-image-options.js';
