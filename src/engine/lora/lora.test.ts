import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { readNpy } from '../../testing/npy.js';
import { testData } from '../../testing/paths.js';
import { maxRelativeError } from '../../testing/conformance.js';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../families/model-loader.js';
import { textToImage } from '../pipelines/text-to-image.js';
import { OnnxModel } from '../runtime/onnx-model.js';
import { readSafetensorsFile } from '../runtime/safetensors.js';
import { readLoraFile } from './lora-file.js';
import { PatchableModel } from './lora-merge.js';
import { LoraWeights } from './lora-weights.js';

const model = testData('fixtures', 'tiny-sd15');
const loraFolder = testData('fixtures', 'tiny-sd15-lora');
const references = testData('conformance', 'pipelines', 'lora');
const io = testData('conformance', 'model_io', 'tiny-sd15');
const files = { kohya: join(loraFolder, 'tiny-sd15-lora.kohya.safetensors'), peft: join(loraFolder, 'pytorch_lora_weights.safetensors'), 'diffusers-old': join(loraFolder, 'tiny-sd15-lora.diffusers_old.safetensors') };
const work = mkdtempSync(join(tmpdir(), 'pixelpipe-lora-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

interface Expected { component: string; module: string; in_features: number; out_features: number; onnx_matmul_node: string }
const expected = (JSON.parse(readFileSync(join(loraFolder, 'lora.json'), 'utf8')) as { targets: Expected[] }).targets;

/** A .safetensors file of float32 tensors, as the format's README lays it out. */
function writeSafetensors(path: string, tensors: Record<string, { shape: number[]; values?: number[] }>, metadata?: Record<string, string>): string {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, { shape, values }] of Object.entries(tensors)) {
    const count = shape.reduce((product, dim) => product * dim, 1);
    const data = Buffer.from(Float32Array.from(values ?? Array.from({ length: count }, (_, index) => (index % 7) * 0.01)).buffer);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    chunks.push(data);
    offset += data.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.byteLength));
  writeFileSync(path, Buffer.concat([length, json, ...chunks]));
  return path;
}

test('the mapping derived from the graph equals lora.json, in every key format', async () => {
  const weights = new LoraWeights(model);
  for (const [format, path] of Object.entries(files)) {
    const lora = await readLoraFile(path);
    assert.equal(lora.format, format);
    const derived: Expected[] = [];
    for (const component of ['unet', 'text_encoder'] as const) {
      const { mapped, unmapped } = (await weights.model(component)).map(lora);
      assert.deepEqual(unmapped, [], `${format}: every ${component} update maps`);
      for (const { module, layer } of mapped) {
        assert.equal(layer.layout, 'in-out', 'MatMul weights are stored transposed, [in, out]');
        derived.push({ component, module, in_features: layer.inFeatures, out_features: layer.outFeatures, onnx_matmul_node: layer.node });
      }
    }
    const key = (target: Expected): string => `${target.component} ${target.module}`;
    assert.deepEqual(derived.sort((a, b) => key(a).localeCompare(key(b))), [...expected].sort((a, b) => key(a).localeCompare(key(b))), format);
    assert.deepEqual(lora.unusedKeys, []);
  }
});

test('the three formats give the same merged weights; twice at 0.5 equals once at 1; no LoRA is the base, bit for bit', async () => {
  const weights = new LoraWeights(model);
  const kohya = await weights.plan([{ path: files.kohya, scale: 1 }]);
  assert.deepEqual([...kohya.bytes.keys()].sort(), ['text_encoder', 'unet']);
  assert.deepEqual(kohya.applied.map(({ name, scale, layers }) => ({ name, scale, layers })), [{ name: 'tiny-sd15-lora.kohya', scale: 1, layers: 40 }]);
  for (const path of [files.peft, files['diffusers-old']]) {
    const other = await weights.plan([{ path, scale: 1 }]);
    for (const component of ['unet', 'text_encoder'] as const) assert.ok(Buffer.from(other.bytes.get(component)!.graph).equals(Buffer.from(kohya.bytes.get(component)!.graph)), `${path} ${component}`);
  }
  const halves = await weights.plan([{ path: files.kohya, scale: 0.5 }, { path: files.peft, scale: 0.5 }]);
  for (const component of ['unet', 'text_encoder'] as const) assert.ok(Buffer.from(halves.bytes.get(component)!.graph).equals(Buffer.from(kohya.bytes.get(component)!.graph)), `two halves compose: ${component}`);
  const none = await weights.plan([]);
  assert.equal(none.bytes.size, 0);
  const unet = await weights.model('unet');
  assert.ok(Buffer.from(unet.patched([]).graph).equals(readFileSync(join(model, 'unet', 'model.onnx'))), 'unpatched bytes are the file as read');
  assert.ok(Buffer.from(unet.base).equals(readFileSync(join(model, 'unet', 'model.onnx'))), 'merging never writes into the base bytes');
  const zero = await weights.plan([{ path: files.kohya, scale: 0 }]);
  assert.equal(zero.bytes.size, 0, 'scale 0 loads the base model');
});

for (const scale of [1, 0.5]) {
  test(`LoRA'd text encoder, prompt embeddings and UNet match diffusers at scale ${scale}`, async () => {
    const loaded = await loadModel(model, { loras: [{ path: files.kohya, scale }] });
    try {
      assert.deepEqual(loaded.loras.map(({ name, scale: applied }) => [name, applied]), [['tiny-sd15-lora.kohya', scale]]);
      const ids = readNpy(join(io, 'text_encoder', 'in_input_ids.npy'));
      const textModel = loaded.sessions.find((session) => session.name === 'textEncoder')!;
      const text = await textModel.run({ input_ids: { data: ids.data as BigInt64Array, dims: ids.shape } });
      const textReference = readNpy(join(references, `lora_text_encoder_last_hidden_state_scale${scale}.npy`));
      assert.ok(maxRelativeError(text.last_hidden_state!, textReference.data as Float32Array) < 1e-5, 'text encoder');

      const embeddings = await loaded.textEncoder.encode([loaded.tokenizer.encode('').ids, loaded.tokenizer.encode('a red cube').ids]);
      const embedsReference = readNpy(join(references, `lora_prompt_embeds_scale${scale}.npy`));
      assert.ok(maxRelativeError(embeddings.hiddenStates, embedsReference.data as Float32Array) < 1e-5, 'prompt embeddings');

      const unetModel = loaded.sessions.find((session) => session.name === 'unet')!;
      const feeds = Object.fromEntries(['sample', 'timestep', 'encoder_hidden_states'].map((name) => {
        const array = readNpy(join(io, 'unet', `in_${name}.npy`));
        return [name, { data: Float32Array.from(array.data as Float32Array), dims: array.shape }];
      }));
      const out = await unetModel.run(feeds);
      const unetReference = readNpy(join(references, `lora_unet_out_sample_scale${scale}.npy`));
      const base = readNpy(join(io, 'unet', 'out_out_sample.npy'));
      const error = maxRelativeError(out.out_sample!, unetReference.data as Float32Array);
      // diffusers' references run the LoRA unfused (x·Wᵀ + s·x·downᵀ·upᵀ); merged weights round once more (its own fused run differs by 1e-4 at scale 1); measured 3.1e-6.
      assert.ok(error < 1e-5, `UNet: relative error ${error}`);
      assert.ok(maxRelativeError(out.out_sample!, base.data as Float32Array) > 1e-2, 'the LoRA changed the output');
    } finally {
      await Promise.all(loaded.sessions.map((session) => session.release()));
    }
  });
}

test('bad files are refused naming the file: truncated, a 10 GB header, a header that is not JSON', async () => {
  const good = readFileSync(files.kohya);
  const truncated = join(work, 'truncated.safetensors');
  writeFileSync(truncated, good.subarray(0, good.byteLength - 100));
  await assert.rejects(readSafetensorsFile(truncated), (error: unknown) => InvalidModelError.isInstance(error) && /truncated\.safetensors.*data_offsets/.test(error.message));
  const huge = join(work, 'huge.safetensors');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(10_000_000_000n);
  writeFileSync(huge, Buffer.concat([length, Buffer.from('{}')]));
  await assert.rejects(readSafetensorsFile(huge), (error: unknown) => InvalidModelError.isInstance(error) && /huge\.safetensors.*header length 10000000000/.test(error.message));
  const notJson = join(work, 'not-json.safetensors');
  length.writeBigUInt64LE(5n);
  writeFileSync(notJson, Buffer.concat([length, Buffer.from('hello')]));
  await assert.rejects(readSafetensorsFile(notJson), (error: unknown) => InvalidModelError.isInstance(error) && /not-json\.safetensors.*not JSON/.test(error.message));
});

test('an unknown key format, a LoRA matching nothing, and LyCORIS LoHa fail loudly; partly matching keys warn', async () => {
  const unknown = writeSafetensors(join(work, 'unknown.safetensors'), { 'model.diffusion_model.foo.weight': { shape: [2, 2] } });
  await assert.rejects(readLoraFile(unknown), /no LoRA key format.*model\.diffusion_model\.foo\.weight/);
  const loha = writeSafetensors(join(work, 'loha.safetensors'), { 'lora_unet_down_blocks_0_attn1_to_q.hada_w1_a': { shape: [2, 2] } });
  await assert.rejects(readLoraFile(loha), /LyCORIS LoHa/);
  const weights = new LoraWeights(model);
  const nowhere = writeSafetensors(join(work, 'nowhere.safetensors'), { 'lora_unet_not_a_block_to_q.lora_down.weight': { shape: [4, 64] }, 'lora_unet_not_a_block_to_q.lora_up.weight': { shape: [64, 4] } });
  await assert.rejects(weights.plan([{ path: nowhere, scale: 1 }]), (error: unknown) => InvalidArgumentError.isInstance(error) && /none of its 1 layers.*lora_unet_not_a_block_to_q/.test(error.message));
  const partly = writeSafetensors(join(work, 'partly.safetensors'), {
    'lora_unet_not_a_block_to_q.lora_down.weight': { shape: [4, 64] }, 'lora_unet_not_a_block_to_q.lora_up.weight': { shape: [64, 4] },
    'lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight': { shape: [4, 64] },
    'lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q.lora_up.weight': { shape: [64, 4] },
  });
  const plan = await weights.plan([{ path: partly, scale: 1 }]);
  assert.equal(plan.applied[0]!.layers, 1);
  assert.match(plan.warnings[0]!, /partly: 2 keys match no weight.*lora_unet_not_a_block_to_q/);
});

test('an SDXL LoRA given to an SD 1.5 model is an error naming both', async () => {
  const sdxl = writeSafetensors(join(work, 'sdxl-style.safetensors'), {
    'lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.lora_down.weight': { shape: [4, 640] },
    'lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.lora_up.weight': { shape: [640, 4] },
    'lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight': { shape: [4, 1280] },
    'lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight': { shape: [1280, 4] },
  }, { ss_base_model_version: 'sdxl_base_v1-0' });
  await assert.rejects(loadModel(model, { loras: [{ path: sdxl, scale: 1 }] }), (error: unknown) =>
    InvalidArgumentError.isInstance(error) && /sdxl-style\.safetensors is a LoRA for SDXL and does not fit .*tiny-sd15, an SD 1\.x\/2\.x model: it patches text_encoder_2/.test(error.message));
  // Without the second text encoder's keys, the UNet shapes give it away.
  const unetOnly = writeSafetensors(join(work, 'sdxl-unet.safetensors'), {
    'lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight': { shape: [4, 640] },
    'lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q.lora_up.weight': { shape: [640, 4] },
  }, { ss_base_model_version: 'sdxl_base_v1-0' });
  await assert.rejects(new LoraWeights(model).plan([{ path: unetOnly, scale: 1 }]), /LoRA for SDXL and does not fit .*\[640, 4\] × \[4, 640\] but the model's \/unet\/down_blocks\.1\/.*to_q\/MatMul weight is \[64, 64\]/);
});

test('kohya SDXL names (input_blocks_N_1) resolve to diffusers blocks in the tiny SDXL UNet', async () => {
  const unet = await PatchableModel.read(testData('fixtures', 'tiny-sdxl', 'unet', 'model.onnx'), 'unet');
  const target = unet.layers.find((layer) => /attn1\.to_q$/.test(layer.graphModule))!;
  assert.ok(target, 'the tiny SDXL UNet has attention layers');
  const { inFeatures, outFeatures } = target;
  const sgm = /down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)$/.exec(target.graphModule);
  assert.ok(sgm);
  const name = `input_blocks_${Number(sgm[1]) * 3 + Number(sgm[2]) + 1}_1_${sgm[3]!.replace(/\./g, '_')}`;
  const path = writeSafetensors(join(work, 'sdxl-kohya.safetensors'), { [`lora_unet_${name}.lora_down.weight`]: { shape: [2, inFeatures] }, [`lora_unet_${name}.lora_up.weight`]: { shape: [outFeatures, 2] }, [`lora_unet_${name}.alpha`]: { shape: [], values: [1] } });
  const { mapped, unmapped } = unet.map(await readLoraFile(path));
  assert.deepEqual(unmapped, []);
  assert.equal(mapped[0]!.layer.node, target.node);
  assert.equal(mapped[0]!.update.factor, 0.5);
  const patched = await OnnxModel.fromBytes(unet.patched([{ mapped, scale: 1 }]).graph, 'unet', 'patched');
  await patched.release();
});

test('LoRAs merge into a model whose weights live in external data (model.onnx + model.onnx_data, as Optimum writes a UNet over 2 GB) exactly as into a self-contained one', async () => {
  // The tiny model re-saved by ONNX Runtime with every initializer of 1 KiB or more moved to model.onnx_data, graph untouched.
  const external = join(work, 'tiny-sd15-external');
  cpSync(model, external, { recursive: true });
  for (const component of ['unet', 'text_encoder']) {
    const path = join(external, component, 'model.onnx');
    rmSync(path);
    const session = await ort.InferenceSession.create(join(model, component, 'model.onnx'), {
      graphOptimizationLevel: 'disabled', optimizedModelFilePath: path,
      extra: { 'session.optimized_model_external_initializers_file_name': 'model.onnx_data', 'session.optimized_model_external_initializers_min_size_in_bytes': '1024' },
    });
    await session.release();
    assert.ok(statSync(join(external, component, 'model.onnx_data')).size > statSync(path).size, `${component}: the weights are outside the graph`);
  }
  const plan = await new LoraWeights(external).plan([{ path: files.kohya, scale: 0.8 }]);
  const unet = plan.bytes.get('unet')!;
  assert.deepEqual(unet.externalData.map(({ path }) => path), ['model.onnx_data']);
  assert.ok(!Buffer.from(unet.externalData[0]!.data).equals(readFileSync(join(external, 'unet', 'model.onnx_data'))), 'the patched weights are in the external data');
  const call = { prompt: 'a photo of an astronaut', negativePrompt: '', width: 64, height: 64, steps: 2, guidance: 7.5, sampler: 'euler' as const, seed: 5n };
  const images = [];
  for (const [folder, loras] of [[model, [{ path: files.kohya, scale: 0.8 }]], [external, [{ path: files.kohya, scale: 0.8 }]], [external, []]] as const) {
    const loaded = await loadModel(folder, { loras });
    images.push((await textToImage(loaded, call)).rgb);
    await Promise.all(loaded.sessions.map((session) => session.release()));
  }
  assert.deepEqual(images[1], images[0], 'the same image as the LoRA merged into the self-contained model');
  assert.notDeepEqual(images[2], images[1], 'and not the base model\'s');

  // An external data file over the part size (an SDXL UNet's 5–10 GB, over Node's 4 GiB buffers) is held as
  // parts of whole tensors, the graph rewritten to name them: the same image again.
  const parted = new LoraWeights(external, { maxPartBytes: 512 * 1024 });
  const partedUnet = (await parted.plan([{ path: files.kohya, scale: 0.8 }])).bytes.get('unet')!;
  assert.ok(partedUnet.externalData.length > 3, `${partedUnet.externalData.length} parts`);
  assert.ok(partedUnet.externalData.every(({ path, data }) => /^model\.onnx_data\.part\d+$/.test(path) && data.byteLength <= 512 * 1024));
  const total = partedUnet.externalData.reduce((sum, { data }) => sum + data.byteLength, 0);
  assert.ok(total <= statSync(join(external, 'unet', 'model.onnx_data')).size);
  const loaded = await loadModel(external, { loras: [{ path: files.kohya, scale: 0.8 }], loraWeights: parted });
  assert.deepEqual((await textToImage(loaded, call)).rgb, images[0], 'parts give the same image');
  await Promise.all(loaded.sessions.map((session) => session.release()));
});
