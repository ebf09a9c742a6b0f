// The CLI with hosted models: --model PROVIDER:MODEL, format conversion on write, fallback lists, `models --providers`.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { detectImageMediaType } from '../../providers/shared/image-data.js';
import { runCli } from '../../testing/cli.js';
import { startMockApiServer, testImage, type MockApiServer } from '../../testing/mock-api-server.js';
import { testData } from '../../testing/paths.js';

let server: MockApiServer;
const work = mkdtempSync(join(tmpdir(), 'pixelpipe-hosted-cli-'));
const environment = () => ({ PIXELPIPE_OPENAI_BASE_URL: `${server.url}/v1`, OPENAI_API_KEY: 'sk-cli' });

before(async () => {
  server = await startMockApiServer();
  const webp = Buffer.from(await testImage('webp', 48, 32)).toString('base64');
  server.route('POST', '/v1/images/generations', { json: { data: [{ b64_json: webp }], usage: { input_tokens: 9, output_tokens: 272 }, quality: 'low', size: '1536x1024', output_format: 'webp' } });
});
after(async () => {
  await server.close();
  rmSync(work, { recursive: true, force: true });
});

test('--model openai:gpt-image-1 writes a PNG for --out x.png although the provider sent WebP; the record keeps WebP', async () => {
  const out = join(work, 'fox.png');
  const result = await runCli(['generate', 'a fox', '--model', 'openai:gpt-image-1', '--width', '1536', '--height', '1024', '--out', out, '--json'], environment());
  assert.equal(result.code, 0, result.stderr);
  assert.equal(detectImageMediaType(readFileSync(out)), 'image/png');
  const printed = JSON.parse(result.stdout);
  assert.equal(printed.images[0].mediaType, 'image/webp');
  assert.equal(printed.images[0].writtenAs, 'image/png');
  assert.equal(printed.model.id, 'openai:gpt-image-1');
  assert.equal(printed.cost.amountUsd, 0.016);
  assert.match(result.stderr, /estimated cost: \$0\.016/);
  const sent = server.requestsTo('POST', '/v1/images/generations').at(-1)!;
  assert.equal(sent.headers.authorization, 'Bearer sk-cli');
  assert.equal(sent.json.size, '1536x1024');
});

test('without the API key the error names OPENAI_API_KEY and nothing is sent', async () => {
  const before = server.requests.length;
  const result = await runCli(['generate', 'a fox', '--model', 'openai:dall-e-3', '--out', join(work, 'none.png')], { ...environment(), OPENAI_API_KEY: '' });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /error: openai: no API key found; set the OPENAI_API_KEY environment variable/);
  assert.equal(server.requests.length, before);
});

test('a comma-separated --model list falls back to the next model and says which one answered', async () => {
  const folder = testData('fixtures', 'tiny-sd15');
  const result = await runCli(['generate', 'a fox', '--model', `openai:gpt-image-1,local:${folder}`, '--seed', '4', '--steps', '1', '--out', join(work, 'fallback.png')], { ...environment(), PIXELPIPE_OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /routed \(fallback\): local:.*tiny-sd15 after openai:gpt-image-1 failed \(ProviderUnavailableError\)/);
  assert.match(result.stdout, /fallback\.png {2}seed 4/);
});

test('`models --providers` lists every hosted provider, whether it is configured and its base URL', async () => {
  const result = await runCli(['models', '--providers', '--json'], { ...environment(), REPLICATE_API_TOKEN: '', PIXELPIPE_REPLICATE_BASE_URL: 'http://gateway.internal/replicate' });
  assert.equal(result.code, 0, result.stderr);
  const providers = JSON.parse(result.stdout) as { name: string; configured: boolean; baseUrl: string }[];
  assert.deepEqual(providers.map((provider) => provider.name), ['openai', 'replicate', 'fal', 'stability', 'bfl', 'google', 'ideogram', 'firefly', 'comfyui']);
  assert.equal(providers.find((provider) => provider.name === 'openai')!.configured, true);
  assert.equal(providers.find((provider) => provider.name === 'replicate')!.configured, false);
  assert.equal(providers.find((provider) => provider.name === 'replicate')!.baseUrl, 'http://gateway.internal/replicate');
  const text = await runCli(['models', '--providers'], { ...environment(), REPLICATE_API_TOKEN: '' });
  assert.match(text.stdout, /replicate +not configured: set REPLICATE_API_TOKEN/);
});
