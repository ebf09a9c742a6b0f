// Routing: fallback lists, capability rules, cost ceilings.
export { createRouter } from './router-provider.js';
export { RouterImageModel, shouldFallBack, type RouterSettings } from './router-image-model.js';
export { asksForRenderedText, editingRule, renderedTextRule, type RouterRule } from './router-rules.js';
