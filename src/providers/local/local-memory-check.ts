// Refuses, before anything is loaded, a local generation whose estimated peak memory is over the budget, naming the largest size that fits.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { estimatePeakMemory, largestSizeThatFits, type MemoryEstimate, type MemoryProfile, type MemoryRequest } from '../../engine/families/memory-estimate.js';

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/** Throws `InvalidArgumentError` (argument `width`) when `request` is estimated to need more than `budgetBytes`; gives the estimate otherwise. */
export function checkMemoryBudget(profile: MemoryProfile, request: MemoryRequest, budgetBytes: number | undefined, modelId: string): MemoryEstimate {
  const estimate = estimatePeakMemory(profile, request);
  if (budgetBytes === undefined || estimate.totalBytes <= budgetBytes) return estimate;
  const { width, height } = request;
  const fits = largestSizeThatFits(profile, request, budgetBytes);
  const instead = fits
    ? `the largest ${width === height ? 'square size' : 'size at this aspect ratio'} that fits is ${fits.width}×${fits.height}${request.guidance > 1 ? ' (guidance ≤ 1 halves the UNet\'s share)' : ''}`
    : 'not even the smallest size fits: raise the budget or free memory';
  throw new InvalidArgumentError({
    argument: 'width',
    value: `${width}x${height}`,
    message: `\`width\` × \`height\` ${width}×${height} needs an estimated ${gib(estimate.totalBytes)} of memory with ${modelId} (mostly ${estimate.driver}), over the memory budget of ${gib(budgetBytes)} (PIXELPIPE_MEMORY_BUDGET); ${instead}`,
  });
}
