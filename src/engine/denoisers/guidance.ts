// Classifier-free guidance on a denoiser's [unconditional, conditional] outputs, rounded as torch rounds it.

/** uncond + g · (cond − uncond), each operation in float32 as torch does. */
export function classifierFreeGuidance(unconditional: Float32Array, conditional: Float32Array, guidance: number): Float32Array {
  const scale = Math.fround(guidance);
  const result = new Float32Array(unconditional.length);
  for (let i = 0; i < result.length; i++) {
    const u = unconditional[i]!;
    result[i] = Math.fround(u + Math.fround(scale * Math.fround(conditional[i]! - u)));
  }
  return result;
}
