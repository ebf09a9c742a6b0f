// Checks a call's options against what the local engine can do; each error names the field, value and fix.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

export { checkImageCount, checkStrength, randomSeed, seedForImage, seedOption } from '../shared/call-validation.js';

function fail(argument: string, value: unknown, message: string): never {
  throw new InvalidArgumentError({ argument, value, message });
}

/** `rule`: the model's size rule (see ModelFamily.sizeRule); `reason` defaults to the UNet's. */
export function checkDimension(argument: 'width' | 'height', value: number, multiple: number, rule: { reason?: string; largest?: number } = {}): number {
  const { reason = 'its VAE and UNet downsampling', largest } = rule;
  if (!Number.isInteger(value) || value <= 0) fail(argument, value, `\`${argument}\` must be a positive whole number of pixels, got ${value}`);
  if (value % multiple !== 0) {
    const lower = Math.max(multiple, Math.floor(value / multiple) * multiple);
    fail(argument, value, `\`${argument}\` must be a multiple of ${multiple} for this model (${reason}), got ${value} (try ${lower} or ${lower + multiple}; editing an input of any size pads and crops it for you)`);
  }
  if (largest !== undefined && value > largest) {
    fail(argument, value, `\`${argument}\` must be at most ${largest} for this model (its transformer's position embeddings cover no more), got ${value}`);
  }
  return value;
}

export function checkSteps(value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 1000) fail('steps', value, `\`steps\` must be a whole number from 1 to 1000, got ${value}`);
  return value;
}

export function checkGuidance(value: number): number {
  if (!Number.isFinite(value) || value < 0) fail('guidance', value, `\`guidance\` must be a number ≥ 0 (1 or less turns classifier-free guidance off), got ${value}`);
  return value;
}
