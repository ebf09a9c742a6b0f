// The full-size SD-Turbo architecture (SD 2.1 UNet, OpenCLIP-H text encoder, VAE decoder) filled with seeded
// random weights from the skeletons in ../shared/fixtures/skeletons, once, into the bench folder.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeClipTokenizerFolder } from './clip-tokenizer-folder.js';

export const sharedFolder = resolve(import.meta.dirname, '..', '..', 'shared');

/** Fills the weightless SD-Turbo skeletons (seeded random weights of the right scale) into a runnable folder. */
export async function prepareFullSizeModel(benchDir: string): Promise<string> {
  const folder = join(benchDir, 'sd-turbo');
  const parts = { text_encoder: 'sd-turbo-text-encoder', unet: 'sd-turbo-unet', vae_decoder: 'sd-turbo-vae-decoder' };
  for (const [part, skeleton] of Object.entries(parts)) {
    const source = join(sharedFolder, 'fixtures', 'skeletons', skeleton);
    const target = join(folder, part);
    if (!existsSync(join(target, 'model.onnx'))) {
      console.log(`filling ${skeleton} → ${target} (once)`);
      execFileSync(process.execPath, [join(sharedFolder, 'tools', 'fill-skeleton.mjs'), source, target], { stdio: 'inherit' });
    }
    copyFileSync(join(source, 'config.json'), join(target, 'config.json'));
  }
  // SD-Turbo's scheduler (EulerDiscrete, trailing spacing) and its OpenCLIP tokenizer (pads with "!").
  mkdirSync(join(folder, 'scheduler'), { recursive: true });
  writeFileSync(join(folder, 'scheduler', 'scheduler_config.json'), JSON.stringify({
    _class_name: 'EulerDiscreteScheduler', beta_end: 0.012, beta_schedule: 'scaled_linear', beta_start: 0.00085, clip_sample: false,
    interpolation_type: 'linear', num_train_timesteps: 1000, prediction_type: 'epsilon', set_alpha_to_one: false, skip_prk_steps: true,
    steps_offset: 1, timestep_spacing: 'trailing', trained_betas: null, use_karras_sigmas: false,
  }));
  await writeClipTokenizerFolder(join(sharedFolder, 'fixtures', 'clip-bpe', 'bpe_simple_vocab_16e6.txt.gz'), join(folder, 'tokenizer'), '!');
  writeFileSync(join(folder, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionPipeline', scheduler: ['diffusers', 'EulerDiscreteScheduler'] }));
  return folder;
}

