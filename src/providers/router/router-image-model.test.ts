import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { RouterExhaustedError } from '../../spec/errors/router-exhausted-error.js';
import { recordingSleep, startMockApiServer, testImage, type MockApiServer } from '../../testing/mock-api-server.js';
import { testData } from '../../testing/paths.js';
import { createLocal, type LocalProvider } from '../local/local-provider.js';
import { createOpenAI, type OpenAIProvider } from '../openai/openai-provider.js';
import { providerConformance } from '../provider.case.js';
import { createRouter } from './router-provider.js';
import { asksForRenderedText, renderedTextRule } from './router-rules.js';

const pngAnswer = async () => ({ json: { data: [{ b64_json: Buffer.from(await testImage('png', 64, 64)).toString('base64') }] } });

describe('router', () => {
  let server: MockApiServer;
  let openai: OpenAIProvider;
  let local: LocalProvider;
  before(async () => {
    server = await startMockApiServer();
    openai = createOpenAI({ apiKey: 'sk-test', baseURL: `${server.url}/v1`, maxRetries: 1, sleep: recordingSleep().sleep });
    local = createLocal();
  });
  after(async () => {
    await server.close();
    await local.close();
  });
  const tinyLocal = () => local.imageModel('tiny-sd15', { folder: testData('fixtures', 'tiny-sd15') });

  test('falls back to the next model when the first fails with a retryable error, and reports the decision and every attempt', async () => {
    server.route('POST', '/v1/images/generations', { status: 503, headers: { 'retry-after': '1' }, json: { error: { message: 'Service Unavailable' } } });
    const router = createRouter({ name: 'primary-then-local', fallback: [openai('gpt-image-1'), tinyLocal()] });
    const result = await router.doGenerate({ prompt: 'a lighthouse', n: 1, seed: 3, steps: 1 });
    assert.equal(result.response.provider, 'local');
    assert.equal(result.images[0]!.settings.seed, '3');
    assert.deepEqual(result.routing, { router: 'primary-then-local', rule: 'fallback', reason: 'no rule matched: the fallback list in order', candidates: ['openai:gpt-image-1', 'local:tiny-sd15'], skipped: [], chosen: 'local:tiny-sd15' });
    assert.deepEqual(result.attempts?.map(({ provider, outcome, statusCode, error }) => ({ provider, outcome, statusCode, error: error?.name })), [
      { provider: 'openai', outcome: 'failed', statusCode: 503, error: 'ProviderUnavailableError' },
      { provider: 'local', outcome: 'succeeded', statusCode: undefined, error: undefined },
    ]);
    // The provider retried once itself (maxRetries 1) before the router moved on.
    assert.equal(server.requestsTo('POST', '/v1/images/generations').length, 2);
  });

  test('a content-policy refusal is not routed around', async () => {
    server.route('POST', '/v1/images/generations', { status: 400, json: { error: { message: 'rejected by the safety system', code: 'moderation_blocked' } } });
    const router = createRouter({ fallback: [openai('gpt-image-1'), tinyLocal()] });
    await assert.rejects(router.doGenerate({ prompt: 'x', n: 1, steps: 1 }), (error: unknown) => ContentPolicyError.isInstance(error));
  });

  test('when every candidate fails, the error lists each one', async () => {
    server.route('POST', '/v1/images/generations', { status: 500, json: { error: { message: 'boom' } } });
    const router = createRouter({ fallback: [openai('gpt-image-1'), openai('dall-e-2')] });
    await assert.rejects(router.doGenerate({ prompt: 'x', n: 1 }), (error: unknown) => RouterExhaustedError.isInstance(error) && error.attempts.length === 2 && /gpt-image-1.*\n.*dall-e-2/s.test(error.message));
  });

  test('a prompt asking for rendered text goes to the text rule’s models first', async () => {
    server.route('POST', '/v1/images/generations', pngAnswer);
    const router = createRouter({ fallback: [tinyLocal()], rules: [renderedTextRule([openai('gpt-image-1')])] });
    const withText = await router.doGenerate({ prompt: 'a neon sign that says "OPEN" above a door', n: 1 });
    assert.equal(withText.routing?.rule, 'rendered-text');
    assert.equal(withText.routing?.chosen, 'openai:gpt-image-1');
    assert.match(withText.routing!.reason, /"OPEN"/);
    const without = await router.doGenerate({ prompt: 'a quiet forest', n: 1, steps: 1 });
    assert.equal(without.routing?.chosen, 'local:tiny-sd15');
  });

  test('a cost ceiling skips candidates whose estimate is above it, and says why', async () => {
    server.route('POST', '/v1/images/generations', pngAnswer);
    const router = createRouter({ fallback: [openai('gpt-image-1'), openai('dall-e-2')], maxCostUsd: 0.03 });
    const result = await router.doGenerate({ prompt: 'a vase', n: 1 });
    assert.equal(result.routing?.chosen, 'openai:dall-e-2');
    assert.deepEqual(result.routing?.skipped.map((entry) => entry.model), ['openai:gpt-image-1']);
    assert.match(result.routing!.skipped[0]!.reason, /\$0\.042.*\$0\.03/);
    await assert.rejects(createRouter({ fallback: [openai('gpt-image-1')], maxCostUsd: 0.001 }).doGenerate({ prompt: 'a vase', n: 1 }), (error: unknown) => (error as { argument?: string }).argument === 'maxCostUsd');
  });
});

test('rendered-text detection: quotes and text phrases, not words that merely contain "text"', () => {
  assert.ok(asksForRenderedText('a café sign reading “Bonjour”'));
  assert.ok(asksForRenderedText("a birthday card with the words Happy Birthday"));
  assert.ok(asksForRenderedText('bold typography poster for a jazz night'));
  assert.equal(asksForRenderedText('a textured stone wall in soft light'), undefined);
  assert.equal(asksForRenderedText("a dog's toy on the floor, it's sunny"), undefined);
});

providerConformance({
  name: 'router (openai, then local)',
  size: { width: 64, height: 64 },
  async setup() {
    const server = await startMockApiServer();
    server.route('POST', '/v1/images/generations', { status: 503, json: { error: { message: 'down' } } });
    const local = createLocal();
    const router = createRouter({ fallback: [createOpenAI({ apiKey: 'k', baseURL: `${server.url}/v1`, maxRetries: 0 })('gpt-image-1'), local.imageModel('tiny-sd15', { folder: testData('fixtures', 'tiny-sd15') })] });
    return { model: router, close: async () => { await server.close(); await local.close(); } };
  },
});
