// Known-good Stable Diffusion ONNX exports in Optimum's layout, each pinned to a commit whose file tree was checked.

export interface RegistryEntry {
  /** Short name for the CLI, e.g. `sd-turbo`. */
  alias: string;
  /** `owner/name` on the Hugging Face Hub. */
  repoId: string;
  /** Commit sha the entry was checked at; pulls of this entry fetch exactly it. */
  revision: string;
  /** Model family the engine loads it as. */
  family: 'sd-turbo' | 'sd15';
  /** Weight precision of the ONNX graphs. */
  precision: 'fp16' | 'fp32';
  /** Licence of the weights; the pull prints the model card's own value too. */
  license: string;
  /** Execution providers the export is known to need, when it cannot run everywhere. */
  executionProviders?: readonly string[];
  /** One line for `pixelpipe models`. */
  description: string;
  /** Public page showing the pinned tree (model_index.json, unet/model.onnx, ...). */
  evidence: string;
}

export const modelRegistry: readonly RegistryEntry[] = [
  {
    // Tree at the pin: controlnet/ scheduler/ text_encoder/ tokenizer/ unet/ vae_decoder/ vae_encoder/,
    // model_index.json, Licence.txt (7.3 kB, the SD-Turbo licence); text_encoder/model.onnx 681 MB and
    // vae_decoder/model.onnx 99 MB, i.e. fp16. Exported for OnnxStack (CPU and DirectML).
    // https://huggingface.co/TensorStack/SD-Turbo-onnx/tree/8f9288d1ecfc10a3618fbd4138982e0987e764cd
    alias: 'sd-turbo',
    repoId: 'TensorStack/SD-Turbo-onnx',
    revision: '8f9288d1ecfc10a3618fbd4138982e0987e764cd',
    family: 'sd-turbo',
    precision: 'fp16',
    license: 'sai-nc-community',
    description: 'SD-Turbo (SD 2.1 distilled, 512 px, 1-4 steps), fp16 ONNX for CPU and DirectML',
    evidence: 'https://huggingface.co/TensorStack/SD-Turbo-onnx/tree/8f9288d1ecfc10a3618fbd4138982e0987e764cd',
  },
  {
    // Tree at the pin: model_index.json (595 B), scheduler/ text_encoder/ tokenizer/ unet/ vae_decoder/
    // vae_encoder/, LICENSE; card licence: other / sai-nc-community. Its README says the Olive-optimised fp16
    // graphs run on the ONNX Runtime CUDA execution provider only, not on CPU or DirectML.
    // https://huggingface.co/onnxruntime/sd-turbo/tree/6d0b4c16d1606606694b58681a91b0edf1415268
    // https://huggingface.co/onnxruntime/sd-turbo (README: "It cannot run in other providers like CPU and DirectML.")
    alias: 'sd-turbo-cuda',
    repoId: 'onnxruntime/sd-turbo',
    revision: '6d0b4c16d1606606694b58681a91b0edf1415268',
    family: 'sd-turbo',
    precision: 'fp16',
    license: 'sai-nc-community',
    executionProviders: ['cuda'],
    description: 'SD-Turbo optimised by Olive for the ONNX Runtime CUDA execution provider (NVIDIA only)',
    evidence: 'https://huggingface.co/onnxruntime/sd-turbo/tree/6d0b4c16d1606606694b58681a91b0edf1415268',
  },
  {
    // The pinned commit's file list: model_index.json, scheduler/scheduler_config.json, text_encoder/{config.json,
    // model.onnx}, tokenizer/{merges.txt,special_tokens_map.json,tokenizer_config.json,vocab.json},
    // unet/{config.json,model.onnx (1.73 GB)}, vae_decoder/..., vae_encoder/...; "converted to onnx from
    // stabilityai/sd-turbo as fp16 with some ort-web friendly changes"; card licence: stabilityai-non-comercial.
    // https://huggingface.co/schmuell/sd-turbo-ort-web/commit/7b51591f5e802b607e42f78999bdcda9a57a08d6
    alias: 'sd-turbo-web',
    repoId: 'schmuell/sd-turbo-ort-web',
    revision: '7b51591f5e802b607e42f78999bdcda9a57a08d6',
    family: 'sd-turbo',
    precision: 'fp16',
    license: 'sai-nc-community',
    description: 'SD-Turbo, fp16 ONNX with changes for ONNX Runtime Web',
    evidence: 'https://huggingface.co/schmuell/sd-turbo-ort-web/tree/7b51591f5e802b607e42f78999bdcda9a57a08d6',
  },
  {
    // Tree at the pin: controlnet/ safety_checker/ scheduler/ text_encoder/ (model.onnx 246 MB, fp16)
    // tokenizer/ unet/ vae_decoder/ vae_encoder/, model_index.json. Licence of SD 1.5: CreativeML Open RAIL-M.
    // (runwayml/stable-diffusion-v1-5 and its `onnx` branch were deleted from the hub in August 2024.)
    // https://huggingface.co/TensorStack/stable-diffusion-v1-5-onnx/tree/38a032483c47fec93f82457e3d03661703852402/text_encoder
    alias: 'sd15',
    repoId: 'TensorStack/stable-diffusion-v1-5-onnx',
    revision: '38a032483c47fec93f82457e3d03661703852402',
    family: 'sd15',
    precision: 'fp16',
    license: 'creativeml-openrail-m',
    description: 'Stable Diffusion 1.5 (512 px), fp16 ONNX for CPU and DirectML',
    evidence: 'https://huggingface.co/TensorStack/stable-diffusion-v1-5-onnx/tree/main',
  },
];

/** The model `pixelpipe generate` pulls when none is named: the smallest SD-Turbo export that runs on CPU. */
export const defaultModelId = 'TensorStack/SD-Turbo-onnx';

/** Finds an entry by alias or repo id (case-insensitive, as the hub treats repo ids). */
export function findRegistryEntry(idOrAlias: string): RegistryEntry | undefined {
  const wanted = idOrAlias.toLowerCase();
  return modelRegistry.find((entry) => entry.alias === wanted || entry.repoId.toLowerCase() === wanted);
}
