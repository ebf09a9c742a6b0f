// Factory for routing models: an ordered fallback list plus rules by capability and cost.
import { RouterImageModel, type RouterSettings } from './router-image-model.js';

/** A model that tries `settings.fallback` in order (rules and a cost ceiling first reorder or skip them). */
export function createRouter(settings: RouterSettings): RouterImageModel {
  return new RouterImageModel(settings);
}
