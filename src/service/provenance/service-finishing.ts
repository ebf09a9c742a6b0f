// The finishing a process makes from its settings: the same for `serve`, `worker` and `pixelpipe generate`.
import type { Settings } from '../../config/settings.js';
import { createImageFinishing, type ImageFinishing } from './image-finishing.js';

/** The finishing the settings describe. */
export async function finishingFromSettings(_settings: Settings): Promise<ImageFinishing> {
  return createImageFinishing({});
}
