// FLUX's latent layout: each 2×2 block of latent cells becomes one token of 4·C features, as diffusers' `_pack_latents`.
import type { LatentShape } from './denoiser.js';

/** Latent cells per side of one packed token. */
export const packSize = 2;

/** [1, C, h, w] → [1, (h/2)·(w/2), 4C]: diffusers' view(C, h/2, 2, w/2, 2).permute(0, 2, 4, 1, 3, 5). */
export function packLatents(latents: Float32Array, { channels, height, width }: LatentShape): Float32Array {
  const packed = new Float32Array(latents.length);
  const rows = height / packSize;
  const columns = width / packSize;
  let target = 0;
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      for (let channel = 0; channel < channels; channel++) {
        for (let dy = 0; dy < packSize; dy++) {
          for (let dx = 0; dx < packSize; dx++) packed[target++] = latents[(channel * height + row * packSize + dy) * width + column * packSize + dx]!;
        }
      }
    }
  }
  return packed;
}

/** The inverse of packLatents. */
export function unpackLatents(packed: Float32Array, { channels, height, width }: LatentShape): Float32Array {
  const latents = new Float32Array(packed.length);
  const rows = height / packSize;
  const columns = width / packSize;
  let source = 0;
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      for (let channel = 0; channel < channels; channel++) {
        for (let dy = 0; dy < packSize; dy++) {
          for (let dx = 0; dx < packSize; dx++) latents[(channel * height + row * packSize + dy) * width + column * packSize + dx] = packed[source++]!;
        }
      }
    }
  }
  return latents;
}
