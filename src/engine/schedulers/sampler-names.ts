// The sampler names pixelpipe accepts, each one diffusers scheduler class with fixed settings.

/** Samplers for noise-prediction models (SD 1.x/2.x, SDXL), in the order they are listed to users. */
export const samplerNames = ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm', 'pndm'] as const;

/** Samplers for flow-matching models (SD3, FLUX); they give wrong images on SD 1.x/2.x, so they are listed apart. */
export const flowMatchSamplerNames = ['flowmatch_euler'] as const;

/** A sampler name: one of `samplerNames` or `flowMatchSamplerNames`. */
export type SamplerName = (typeof samplerNames)[number] | (typeof flowMatchSamplerNames)[number];
