// The registry: which provider a model id names, which ones only wait on a network, and what a local model of a fallback list is made with.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ImageModel } from '../spec/image-model.js';
import { createProviderRegistry, type CustomProvider, type LocalModelOptions } from './registry.js';

const stubModel = (modelId: string): ImageModel => ({ provider: 'local', modelId, maxImagesPerCall: 1, doGenerate: () => Promise.reject(new Error('not called')) }) as unknown as ImageModel;

test('a local model in a fallback list is made with the options a single local model gets (the VAE decoder fallback)', async () => {
  const made: { reference: string; options: LocalModelOptions }[] = [];
  const registry = createProviderRegistry({ local: async (reference, options) => (made.push({ reference, options }), stubModel(reference)) });
  await registry.imageModel('tiny-sd15', { vaeDecoderFallback: '/models/vae-fp32' });
  await registry.imageModel('tiny-sd15, openai:gpt-image-1, local:other', { vaeDecoderFallback: '/models/vae-fp32' });
  assert.deepEqual(made, [
    { reference: 'tiny-sd15', options: { vaeDecoderFallback: '/models/vae-fp32' } },
    { reference: 'tiny-sd15', options: { vaeDecoderFallback: '/models/vae-fp32' } },
    { reference: 'other', options: { vaeDecoderFallback: '/models/vae-fp32' } },
  ]);
});

test('built-in hosted providers and provider modules marked remote only wait on a network; local models and other modules do not', () => {
  const custom: CustomProvider[] = [
    { name: 'my-api', remote: true, imageModel: stubModel },
    { name: 'my-engine', imageModel: stubModel },
  ];
  const registry = createProviderRegistry({ local: async (reference) => stubModel(reference), custom });
  assert.deepEqual(
    ['openai:gpt-image-1', 'comfyui:workflow', 'my-api:x', 'my-engine:x', 'tiny-sd15', 'local:tiny-sd15'].map((id) => [id, registry.isHosted(id), registry.isRemote(id)]),
    [
      ['openai:gpt-image-1', true, true],
      ['comfyui:workflow', true, true],
      ['my-api:x', true, true],
      ['my-engine:x', true, false],
      ['tiny-sd15', false, false],
      ['local:tiny-sd15', false, false],
    ],
  );
});
