// Which files of an ONNX repo a pull takes: graphs, their external data and configs, not PyTorch weights or other precisions.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HubFile } from './hub-client.js';
import { selectPipelineFiles } from './pipeline-files.js';

const listing = (...paths: string[]): HubFile[] => paths.map((path) => ({ path, size: 1 }));
const selectedPaths = (...paths: string[]) => selectPipelineFiles(listing(...paths)).selected.map((file) => file.path);

describe('selectPipelineFiles', () => {
  it('keeps an Optimum SD-Turbo export whole and leaves the rest', () => {
    const selection = selectPipelineFiles(
      listing(
        '.gitattributes',
        'Licence.txt',
        'README.md',
        'Sample.png',
        'model_index.json',
        'controlnet/model.onnx',
        'controlnet/model.onnx.data',
        'scheduler/scheduler_config.json',
        'text_encoder/config.json',
        'text_encoder/model.onnx',
        'tokenizer/merges.txt',
        'tokenizer/model.onnx',
        'tokenizer/special_tokens_map.json',
        'tokenizer/tokenizer_config.json',
        'tokenizer/vocab.json',
        'unet/config.json',
        'unet/model.onnx',
        'vae_decoder/model.onnx',
        'vae_encoder/model.onnx',
      ),
    );
    assert.deepEqual(selection.missing, []);
    assert.deepEqual(
      selection.skipped.map((file) => file.path),
      ['.gitattributes', 'Sample.png', 'controlnet/model.onnx', 'controlnet/model.onnx.data'],
    );
    assert.ok(selection.selected.some((file) => file.path === 'Licence.txt'));
  });

  it('keeps the external data of the kept graph in all three spellings', () => {
    assert.deepEqual(selectedPaths('model_index.json', 'unet/model.onnx', 'unet/model.onnx_data'), ['model_index.json', 'unet/model.onnx', 'unet/model.onnx_data']);
    assert.deepEqual(selectedPaths('model_index.json', 'unet/model.onnx', 'unet/model.onnx.data'), ['model_index.json', 'unet/model.onnx', 'unet/model.onnx.data']);
    assert.deepEqual(selectedPaths('model_index.json', 'unet/model.onnx', 'unet/weights.pb'), ['model_index.json', 'unet/model.onnx', 'unet/weights.pb']);
  });

  it('skips other-precision copies, their data and PyTorch weights', () => {
    const { selected, skipped } = selectPipelineFiles(
      listing(
        'model_index.json',
        'unet/model.onnx',
        'unet/model_fp16.onnx',
        'unet/model_fp16.onnx_data',
        'unet/model_quantized.onnx',
        'unet/diffusion_pytorch_model.safetensors',
        'unet/diffusion_pytorch_model.fp16.safetensors',
        'text_encoder/pytorch_model.bin',
        'vae/diffusion_pytorch_model.safetensors',
        'v1-5-pruned-emaonly.ckpt',
        'unet/extra/model.onnx',
      ),
    );
    assert.deepEqual(selected.map((file) => file.path), ['model_index.json', 'unet/model.onnx']);
    assert.equal(skipped.length, 9);
  });

  it('takes SDXL second encoders and, without a model.onnx, every graph in the folder', () => {
    assert.deepEqual(selectedPaths('model_index.json', 'text_encoder_2/model.onnx', 'tokenizer_2/vocab.json', 'unet/unet.onnx', 'unet/unet.onnx.data'), [
      'model_index.json',
      'text_encoder_2/model.onnx',
      'tokenizer_2/vocab.json',
      'unet/unet.onnx',
      'unet/unet.onnx.data',
    ]);
  });

  it('reports what a PyTorch-only repo lacks', () => {
    assert.deepEqual(selectPipelineFiles(listing('model_index.json', 'unet/diffusion_pytorch_model.safetensors')).missing, ['unet/model.onnx']);
    assert.deepEqual(selectPipelineFiles(listing('unet/model.onnx')).missing, ['model_index.json']);
  });
});
