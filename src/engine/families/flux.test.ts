// FLUX.1 through the shared loader and text-to-image pipeline, against diffusers 0.30.3's FluxPipeline run (test-data/conformance/pipelines/flux).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAgainstReference, checkPromptEmbeddings, flowReferenceArray, flowReferences, runFlowReference } from '../../testing/flow-references.js';
import { testData } from '../../testing/paths.js';
import { packLatents, unpackLatents } from '../denoisers/latent-packing.js';
import { encodePrompts } from '../pipelines/prompt-conditioning.js';
import { randn } from '../tensor/torch-random.js';
import { detectFamily, flux, folderFacts } from './index.js';
import { hashUnet, loadModel } from './model-loader.js';

const references = flowReferences('flux');
const run = references.runs[0]!;
const loaded = loadModel(testData('fixtures', run.fixture));

test('a FLUX folder is detected as FLUX.1 and names its family and transformer hash', async () => {
  assert.equal(detectFamily(folderFacts(testData('fixtures', 'tiny-flux'))).id, 'flux');
  const model = await loaded;
  assert.equal(model.family, 'flux');
  assert.equal(await model.unetHash, await hashUnet(testData('fixtures', 'tiny-flux')));
  assert.equal(model.sizeMultiple, 16);
  assert.deepEqual(flux.defaults(model.schedulerConfig), { steps: 28, guidance: 3.5 });
  assert.deepEqual(flux.defaults({ ...model.schedulerConfig, use_dynamic_shifting: false }), { steps: 4, guidance: 0 }, 'schnell-style scheduler config');
});

test("prompt embeddings equal diffusers' T5 encoder_hidden_states and CLIP pooled projections, one row even with guidance", async () => {
  const model = await loaded;
  const encoded = await encodePrompts(model, run.call.prompt, undefined, run.call.guidance_scale);
  checkPromptEmbeddings('flux', encoded);
});

test(`packed latents after every step and the image match diffusers: ${run.id}`, async (t) => {
  const model = await loaded;
  const output = await runFlowReference(model, run, references.defaults.seed);
  checkAgainstReference(t, 'flux', run, output);
});

test('packing follows the reference layout: the initial packed latents are the packed torch.randn noise, and unpacking inverts it', () => {
  const shape = { channels: 16, height: 8, width: 8 };
  const noise = randn([1, 16, 8, 8], references.defaults.seed);
  const reference = flowReferenceArray('flux', run.files.latents);
  const packed = packLatents(noise, shape);
  assert.deepEqual(packed, reference.data.subarray(0, packed.length));
  assert.deepEqual(unpackLatents(packed, shape), noise);
  const wide = { channels: 2, height: 2, width: 4 };
  // channel c, row y, column x holds 100c + 10y + x; token 1 is the right-hand 2×2 block.
  const values = Float32Array.from({ length: 16 }, (_, i) => 100 * Math.floor(i / 8) + 10 * Math.floor((i % 8) / 4) + (i % 4));
  assert.deepEqual([...packLatents(values, wide)], [0, 1, 10, 11, 100, 101, 110, 111, 2, 3, 12, 13, 102, 103, 112, 113]);
});
