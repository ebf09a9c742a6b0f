// The workflow used when none is given: ComfyUI's basic text-to-image graph (checkpoint, two prompts, empty latent,
// KSampler, VAE decode, save), in API format, with SDXL's size. A module rather than a .json file so the build ships it.
import type { ApiWorkflow } from './comfyui-api.js';
import type { WorkflowInputs } from './comfyui-workflow.js';

export const defaultWorkflow: ApiWorkflow = {
  '3': {
    class_type: 'KSampler',
    inputs: { seed: 0, steps: 25, cfg: 7, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] },
  },
  '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd_xl_base_1.0.safetensors' } },
  '5': { class_type: 'EmptyLatentImage', inputs: { width: 1024, height: 1024, batch_size: 1 } },
  '6': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['4', 1] } },
  '7': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['4', 1] } },
  '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
  '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'pixelpipe', images: ['8', 0] } },
};

/** Where each setting goes in `defaultWorkflow`. */
export const defaultWorkflowInputs: WorkflowInputs = {
  prompt: '6.text',
  negativePrompt: '7.text',
  seed: '3.seed',
  steps: '3.steps',
  guidance: '3.cfg',
  sampler: '3.sampler_name',
  scheduler: '3.scheduler',
  width: '5.width',
  height: '5.height',
  n: '5.batch_size',
  model: '4.ckpt_name',
};
