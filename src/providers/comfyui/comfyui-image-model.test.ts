import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { ImageModelProgress } from '../../spec/image-model-call-options.js';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { InvalidRequestError } from '../../spec/errors/invalid-request-error.js';
import { ProviderUnavailableError } from '../../spec/errors/provider-unavailable-error.js';
import { isInvalidArgument } from '../../testing/assertions.js';
import { startFakeComfyUI, type FakeComfyUI } from '../../testing/comfyui-server.js';
import { recordingSleep } from '../../testing/mock-api-server.js';
import { providerConformance } from '../provider.case.js';
import { createComfyUI, type ComfyUIProviderSettings } from './comfyui-provider.js';

const checkpoint = 'sd_xl_base_1.0.safetensors';

async function fakeComfyUI({ websocket = true, ...settings }: ComfyUIProviderSettings & { websocket?: boolean } = {}) {
  const server = await startFakeComfyUI({ websocket });
  const sleeper = recordingSleep();
  const provider = createComfyUI({ baseURL: server.url, sleep: sleeper.sleep, random: () => 0.5, pollIntervalMs: 5, ...settings });
  return { server, provider, delays: sleeper.delays };
}

providerConformance({
  name: `comfyui:${checkpoint}`,
  size: { width: 1024, height: 1024 },
  async setup() {
    const { server, provider } = await fakeComfyUI();
    return { model: provider(checkpoint), close: () => server.close() };
  },
});

/** An SD3-style graph with other node ids, a KSamplerAdvanced and a prompt node the finder cannot know. */
const customWorkflow = {
  '10': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd3.5_medium.safetensors' } },
  '11': { class_type: 'CLIPTextEncode', inputs: { text: 'old prompt', clip: ['10', 1] } },
  '12': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['10', 1] } },
  '13': { class_type: 'EmptySD3LatentImage', inputs: { width: 1024, height: 1024, batch_size: 1 } },
  '14': { class_type: 'KSamplerAdvanced', inputs: { add_noise: 'enable', noise_seed: 0, steps: 28, cfg: 4.5, sampler_name: 'euler', scheduler: 'sgm_uniform', start_at_step: 0, end_at_step: 10000, return_with_leftover_noise: 'disable', model: ['10', 0], positive: ['11', 0], negative: ['12', 0], latent_image: ['13', 0] } },
  '15': { class_type: 'VAEDecode', inputs: { samples: ['14', 0], vae: ['10', 2] } },
  '16': { class_type: 'SaveImage', inputs: { filename_prefix: 'sd35', images: ['15', 0] } },
};

describe('comfyui', () => {
  const servers: FakeComfyUI[] = [];
  const fresh = async (settings: ComfyUIProviderSettings & { websocket?: boolean } = {}) => {
    const mock = await fakeComfyUI(settings);
    servers.push(mock.server);
    return mock;
  };
  after(() => Promise.all(servers.map((server) => server.close())));

  test('the default workflow gets every setting at its node input, and the websocket is opened before the prompt is queued', async () => {
    const { server, provider } = await fresh();
    const result = await provider(checkpoint).doGenerate({ prompt: 'a red fox', negativePrompt: 'blurry', n: 1, seed: 1234, steps: 30, guidance: 5.5, sampler: 'dpmpp_2m_karras', width: 832, height: 1216 });
    const [queued] = server.requestsTo('POST', '/prompt');
    assert.deepEqual(server.socketClients, [queued!.json.client_id], 'the prompt is queued with the id the websocket was opened with');
    assert.deepEqual(queued!.json.prompt, {
      '3': { class_type: 'KSampler', inputs: { seed: 1234, steps: 30, cfg: 5.5, sampler_name: 'dpmpp_2m', scheduler: 'karras', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] } },
      '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: checkpoint } },
      '5': { class_type: 'EmptyLatentImage', inputs: { width: 832, height: 1216, batch_size: 1 } },
      '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a red fox', clip: ['4', 1] } },
      '7': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['4', 1] } },
      '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
      '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'pixelpipe', images: ['8', 0] } },
    });
    const [view] = server.requestsTo('GET', '/view');
    assert.deepEqual(Object.fromEntries(view!.query), { filename: 'pixelpipe_00001_.png', subfolder: '', type: 'output' });
    const [image] = result.images;
    assert.deepEqual({ ...image!.settings, edit: undefined }, { prompt: 'a red fox', negativePrompt: 'blurry', seed: '1234', steps: 30, guidance: 5.5, sampler: 'dpmpp_2m_karras', width: 52, height: 76, operation: 'text-to-image', edit: undefined });
    assert.equal(result.response.requestId, 'prompt-1');
    assert.deepEqual(result.warnings, []);
    assert.equal(server.requestsTo('GET', '/history/prompt-1').length, 1, 'with the websocket, history is read once at the end');
  });

  test('progress and binary preview frames reach onProgress; previews are honoured, not warned about', async () => {
    const { provider } = await fresh();
    const events: ImageModelProgress[] = [];
    const result = await provider(checkpoint).doGenerate({ prompt: 'a lake', n: 1, steps: 4, previews: true, onProgress: (event) => events.push(event) });
    assert.deepEqual(events.map(({ imageIndex, step, steps, preview }) => [imageIndex, step, steps, preview?.mediaType]), [[0, 1, 4, undefined], [0, 1, 4, 'image/jpeg'], [0, 4, 4, undefined], [0, 4, 4, 'image/jpeg']]);
    const preview = events[1]!.preview!;
    assert.deepEqual([preview.width, preview.height, preview.method], [16, 24, 'comfyui']);
    assert.deepEqual([...preview.bytes.subarray(0, 3)], [0xff, 0xd8, 0xff]);
    assert.ok(!result.warnings.some((warning) => warning.type !== 'other' && warning.setting === 'previews'));
    const quiet: ImageModelProgress[] = [];
    await provider(checkpoint).doGenerate({ prompt: 'a lake', n: 1, steps: 4, onProgress: (event) => quiet.push(event) });
    assert.ok(quiet.every((event) => event.preview === undefined), 'no previews unless asked for');
  });

  test('n images are n prompts with seed, seed+1, ...; `batch` makes one prompt with batch_size n', async () => {
    const { server, provider } = await fresh();
    const separate = await provider(checkpoint).doGenerate({ prompt: 'a cat', n: 2, seed: 7 });
    assert.deepEqual(server.requestsTo('POST', '/prompt').map((request) => [request.json.prompt['3'].inputs.seed, request.json.prompt['5'].inputs.batch_size]), [[7, 1], [8, 1]]);
    assert.deepEqual(separate.images.map((image) => image.settings.seed), ['7', '8']);
    const batched = await provider(checkpoint).doGenerate({ prompt: 'a cat', n: 3, seed: 7, providerOptions: { comfyui: { batch: true } } });
    assert.deepEqual(server.requestsTo('POST', '/prompt').slice(2).map((request) => [request.json.prompt['3'].inputs.seed, request.json.prompt['5'].inputs.batch_size]), [[7, 3]]);
    assert.deepEqual(batched.images.map((image) => image.settings.seed), ['7', undefined, undefined]);
    assert.ok(batched.warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'seed'));
  });

  test('a custom template: targets found by class and links, or given as `nodeId.input`; pndm becomes a warning', async () => {
    const { server, provider } = await fresh();
    const found = await provider('sd3.5_large.safetensors').doGenerate({ prompt: 'a bridge', n: 1, seed: 99, steps: 12, sampler: 'pndm', aspectRatio: '16:9', providerOptions: { comfyui: { workflow: customWorkflow } } });
    const graph = server.requestsTo('POST', '/prompt')[0]!.json.prompt;
    assert.deepEqual(graph['14'].inputs, { ...customWorkflow['14'].inputs, noise_seed: 99, steps: 12 });
    assert.deepEqual([graph['10'].inputs.ckpt_name, graph['11'].inputs.text, graph['13'].inputs], ['sd3.5_large.safetensors', 'a bridge', { width: 1368, height: 768, batch_size: 1 }]);
    assert.deepEqual(found.warnings.map((warning) => warning.type !== 'other' && `${warning.type}:${warning.setting}`), ['unsupported-setting:sampler']);
    assert.equal(found.images[0]!.settings.sampler, 'euler', 'the sampler the workflow ran with is recorded');
    // A prompt node the finder cannot know, mapped explicitly, from a template file given to the provider.
    const folder = await mkdtemp(join(tmpdir(), 'pixelpipe-comfyui-'));
    const path = join(folder, 'workflow_api.json');
    await writeFile(path, JSON.stringify({ ...customWorkflow, '20': { class_type: 'PrimitiveStringMultiline', inputs: { value: '' } }, '11': { class_type: 'CLIPTextEncode', inputs: { text: ['20', 0], clip: ['10', 1] } } }));
    const mapped = createComfyUI({ baseURL: server.url, workflow: path, inputs: { prompt: '20.value', seed: '14.noise_seed' } });
    await mapped('sd3.5_medium.safetensors').doGenerate({ prompt: 'a mapped prompt', n: 1, seed: 5 });
    const sent = server.requestsTo('POST', '/prompt')[1]!.json.prompt;
    assert.deepEqual([sent['20'].inputs.value, sent['11'].inputs.text, sent['14'].inputs.noise_seed], ['a mapped prompt', ['20', 0], 5]);
    await assert.rejects(mapped('x').doGenerate({ prompt: 'x', n: 1, providerOptions: { comfyui: { inputs: { prompt: '11.text' } } } }), isInvalidArgument('providerOptions.comfyui.inputs.prompt', /wired to node 20/));
    await assert.rejects(provider('x').doGenerate({ prompt: 'x', n: 1, providerOptions: { comfyui: { workflow: { nodes: [], links: [] } } } }), isInvalidArgument('providerOptions.comfyui.workflow', /Save \(API Format\)/));
  });

  test('node_errors from /prompt are an InvalidRequestError naming the node and input, not retried', async () => {
    const { server, provider } = await fresh();
    server.promptAnswers.push({ status: 400, json: { error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details: '', extra_info: {} }, node_errors: { '4': { errors: [{ type: 'value_not_in_list', message: 'Value not in list', details: "ckpt_name: 'missing.safetensors' not in ['sd_xl_base_1.0.safetensors']", extra_info: { input_name: 'ckpt_name' } }], dependent_outputs: ['9'], class_type: 'CheckpointLoaderSimple' } } } });
    await assert.rejects(provider('missing.safetensors').doGenerate({ prompt: 'x', n: 1 }), (error: unknown) => InvalidRequestError.isInstance(error) && error.field === '4.ckpt_name' && /node 4 \(CheckpointLoaderSimple\).*missing\.safetensors/.test(error.message));
    assert.equal(server.requestsTo('POST', '/prompt').length, 1);
  });

  test('an execution_error is a ProviderUnavailableError naming the node', async () => {
    const { server, provider } = await fresh();
    server.failNext = { node_id: '3', node_type: 'KSampler', exception_message: 'CUDA out of memory' };
    await assert.rejects(provider(checkpoint).doGenerate({ prompt: 'x', n: 1 }), (error: unknown) => ProviderUnavailableError.isInstance(error) && /node 3 \(KSampler\).*CUDA out of memory/.test(error.message));
  });

  test('aborting mid-run takes the prompt off the queue, interrupts it, and ends with AbortedError', async () => {
    const { server, provider } = await fresh();
    server.hold = true;
    const controller = new AbortController();
    await assert.rejects(provider(checkpoint).doGenerate({ prompt: 'x', n: 1, abortSignal: controller.signal, onProgress: () => controller.abort() }), (error: unknown) => AbortedError.isInstance(error) && /interrupted at comfyui/.test((error as Error).message));
    assert.deepEqual(server.requestsTo('POST', '/queue').map((request) => request.json), [{ delete: ['prompt-1'] }]);
    assert.deepEqual(server.requestsTo('POST', '/interrupt').map((request) => request.json), [{ prompt_id: 'prompt-1' }]);
  });

  test('without a websocket the prompt is polled from /history until it appears', async () => {
    const { server, provider, delays } = await fresh({ websocket: false });
    server.pendingPolls = 2;
    const events: ImageModelProgress[] = [];
    const result = await provider(checkpoint).doGenerate({ prompt: 'a cat', n: 1, seed: 3, onProgress: (event) => events.push(event) });
    assert.equal(result.images.length, 1);
    assert.equal(server.requestsTo('GET', '/history/prompt-1').length, 3);
    assert.deepEqual(delays, [5, 5]);
    assert.deepEqual(events, []);
    assert.ok(result.warnings.some((warning) => warning.type === 'other' && /websocket/.test(warning.message)));
  });

  test('500 then success on /prompt: one retry after an exponential delay with jitter', async () => {
    const { server, provider, delays } = await fresh({ retryDelayMs: 1000 });
    server.promptAnswers.push({ status: 500, json: { error: 'Internal Server Error' } });
    const result = await provider(checkpoint).doGenerate({ prompt: 'a cat', n: 1 });
    assert.equal(result.images.length, 1);
    assert.deepEqual(delays, [750]);
    assert.deepEqual(result.attempts!.filter((attempt) => attempt.request === 'POST /prompt').map(({ outcome, statusCode }) => [outcome, statusCode]), [['failed', 500], ['succeeded', 200]]);
  });

  test('PIXELPIPE_COMFYUI_BASE_URL points the provider at another server; a wrong mapping is refused when the provider is made', async () => {
    const { server } = await fresh();
    process.env.PIXELPIPE_COMFYUI_BASE_URL = `${server.url}/`;
    try {
      const result = await createComfyUI({ sleep: recordingSleep().sleep })(checkpoint).doGenerate({ prompt: 'a cat', n: 1 });
      assert.equal(result.images.length, 1);
    } finally {
      delete process.env.PIXELPIPE_COMFYUI_BASE_URL;
    }
    assert.throws(() => createComfyUI({ inputs: { prompt: 'six' } }), isInvalidArgument('inputs.prompt', /nodeId\.inputName/));
  });
});
