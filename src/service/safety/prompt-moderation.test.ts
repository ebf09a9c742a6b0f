// The prompt check: terms, patterns, most-severe-wins and `off`, and both classifiers against local servers answering in their documented shapes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { AuthenticationError } from '../../spec/errors/authentication-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { recordingSleep, startMockApiServer, type MockApiServer } from '../../testing/mock-api-server.js';
import { parseLlamaGuardAnswer } from './llama-guard.js';
import { parseModerationPolicy, type ModerationPolicy } from './moderation-policy.js';
import { llamaGuardChatAnswer, openaiModerationAnswer } from './moderation-answers.case.js';
import { moderatePrompt } from './prompt-moderation.js';

const policy = (data: Record<string, unknown>) => parseModerationPolicy({ name: 'test', image: { classifier: 'none' }, ...data }) as ModerationPolicy;

describe('terms and patterns', () => {
  const rules = policy({
    terms: { block: ['gore', 'severed head'], flag: ['blood'] },
    patterns: [{ pattern: '\\bkill(ing|ed)?\\b', action: 'flag', category: 'violence' }, { pattern: 'clothe[sd]|clothing', action: 'block', in: 'negativePrompt' }],
  });

  test('terms are whole words or phrases in any case; patterns are regular expressions in any case', async () => {
    assert.deepEqual(await moderatePrompt('a GORE-soaked battlefield', undefined, rules), { action: 'block', rule: 'terms.block', matched: 'GORE' });
    assert.deepEqual(await moderatePrompt('a Severed\n  Head on a plate', undefined, rules), { action: 'block', rule: 'terms.block', matched: 'Severed\n  Head' });
    for (const prompt of ['a gorgeous sunset', 'Al Gore_ portrait', 'bloodhound puppy', 'skill tree']) assert.deepEqual(await moderatePrompt(prompt, undefined, rules), { action: 'allow' }, prompt);
    assert.deepEqual(await moderatePrompt('blood moon', undefined, rules), { action: 'flag', rule: 'terms.flag', matched: 'blood' });
    assert.deepEqual(await moderatePrompt('knight killing a dragon', undefined, rules), { action: 'flag', rule: 'patterns.0', category: 'violence', matched: 'killing' });
  });

  test('the negative prompt is read only by patterns aimed at it; the most severe decision wins; off checks nothing', async () => {
    assert.deepEqual(await moderatePrompt('a portrait', 'gore, clothes, blurry', rules), { action: 'block', rule: 'patterns.1', matched: 'clothes' });
    assert.deepEqual(await moderatePrompt('a portrait', 'gore, blood, blurry', rules), { action: 'allow' }, 'terms in the negative prompt say what must not be shown');
    assert.deepEqual(await moderatePrompt('blood and gore, killed', undefined, rules), { action: 'block', rule: 'terms.block', matched: 'gore' });
    assert.deepEqual(await moderatePrompt('blood, killed', undefined, rules), { action: 'flag', rule: 'patterns.0', category: 'violence', matched: 'killed' }, 'among equals, patterns come before flagged terms');
    assert.deepEqual(await moderatePrompt('gore', 'clothes', 'off'), { action: 'off' });
  });
});

describe('classifiers on local servers', () => {
  let server: MockApiServer;
  before(async () => (server = await startMockApiServer()));
  after(() => server.close());

  test('OpenAI: the request the official client sends; listed categories by threshold or OpenAI flag, others by otherCategories', async () => {
    server.route('POST', '/v1/moderations', { json: openaiModerationAnswer({ sexual: 0.31, 'sexual/minors': 0.02, violence: 0.93 }, { flagged: ['violence'] }) });
    const checked = policy({
      prompt: { classifier: 'openai', baseURL: `${server.url}/v1` },
      categories: { 'sexual/minors': { action: 'block', threshold: 0.01 }, sexual: 'block' },
      otherCategories: 'flag',
    });
    const environment = { OPENAI_API_KEY: 'sk-moderation' };
    const decision = await moderatePrompt('two figures on a beach', undefined, checked, { environment });
    assert.equal(decision.action, 'block');
    assert.equal(decision.rule, 'categories.sexual/minors');
    assert.equal(decision.category, 'sexual/minors');
    assert.equal(decision.classifier, 'openai:omni-moderation-2024-09-26');
    assert.equal(decision.scores!.violence, 0.93);
    assert.equal(Object.keys(decision.scores!).length, 13);

    const ours = server.requestsTo('POST', '/v1/moderations').at(-1)!;
    assert.equal(ours.headers.authorization, 'Bearer sk-moderation');
    await new OpenAI({ apiKey: 'sk-moderation', baseURL: `${server.url}/v1`, maxRetries: 0 }).moderations.create({ model: 'omni-moderation-latest', input: 'two figures on a beach' });
    assert.deepEqual(ours.json, server.requestsTo('POST', '/v1/moderations').at(-1)!.json);

    // Below its threshold `sexual/minors` passes; `sexual` without a threshold follows OpenAI's flag (not set); violence is no listed category.
    const lenient = policy({ ...checked, categories: { 'sexual/minors': { action: 'block', threshold: 0.05 }, sexual: 'block' } });
    assert.deepEqual({ ...(await moderatePrompt('x', undefined, lenient, { environment })), scores: undefined }, { action: 'flag', rule: 'otherCategories', category: 'violence', classifier: 'openai:omni-moderation-2024-09-26', scores: undefined });
    // A flagged term and a classifier that allows: the term decides, the scores are kept.
    server.route('POST', '/v1/moderations', { json: openaiModerationAnswer({}) });
    const flagged = await moderatePrompt('blood orange', undefined, policy({ ...lenient, terms: { flag: ['blood'] } }), { environment });
    assert.deepEqual([flagged.action, flagged.rule, flagged.classifier], ['flag', 'terms.flag', 'openai:omni-moderation-2024-09-26']);
    // A blocked term needs no classifier: no request is made.
    const before = server.requests.length;
    assert.equal((await moderatePrompt('gore', undefined, policy({ ...lenient, terms: { block: ['gore'] } }), { environment })).action, 'block');
    assert.equal(server.requests.length, before);
  });

  test('OpenAI: a missing key names its variable before any request; a 503 is retried', async () => {
    const checked = policy({ prompt: { classifier: 'openai', baseURL: `${server.url}/v1`, apiKeyVariable: 'MODERATION_KEY' } });
    const before = server.requests.length;
    await assert.rejects(moderatePrompt('a cat', undefined, checked, { environment: {} }), (error: unknown) => AuthenticationError.isInstance(error) && /needs an API key in MODERATION_KEY, which is not set/.test(error.message));
    assert.equal(server.requests.length, before);
    server.route('POST', '/v1/moderations', { status: 503, json: { error: { message: 'overloaded' } } }, { json: openaiModerationAnswer({}) });
    const sleeper = recordingSleep();
    assert.equal((await moderatePrompt('a cat', undefined, checked, { environment: { MODERATION_KEY: 'k' }, sleep: sleeper.sleep })).action, 'allow');
    assert.equal(sleeper.delays.length, 1);
  });

  test('Llama Guard: the prompt as the user turn; `safe`, or `unsafe` and codes mapped to categories', async () => {
    const checked = policy({ prompt: { classifier: 'llama-guard', baseURL: `${server.url}/v1`, model: 'llama-guard3:8b' }, categories: { hate: 'block' }, otherCategories: 'flag' });
    server.route('POST', '/v1/chat/completions', { json: llamaGuardChatAnswer('safe') }, { json: llamaGuardChatAnswer('\n\nunsafe\nS1,S10') }, { json: llamaGuardChatAnswer('unsafe\nS2') });
    assert.deepEqual(await moderatePrompt('a llama at the zoo', 'blurry', checked), { action: 'allow', classifier: 'llama-guard:llama-guard3:8b', scores: {} });
    const request = server.requestsTo('POST', '/v1/chat/completions')[0]!;
    assert.deepEqual(request.json, { model: 'llama-guard3:8b', messages: [{ role: 'user', content: 'a llama at the zoo' }], temperature: 0, max_tokens: 32 });
    assert.equal(request.headers.authorization, undefined, 'no key is sent without apiKeyVariable');
    assert.deepEqual(await moderatePrompt('x', undefined, checked), { action: 'block', rule: 'categories.hate', category: 'hate', classifier: 'llama-guard:llama-guard3:8b', scores: { 'illicit/violent': 1, hate: 1 } });
    assert.deepEqual(await moderatePrompt('x', undefined, checked), { action: 'flag', rule: 'otherCategories', category: 'illicit', classifier: 'llama-guard:llama-guard3:8b', scores: { illicit: 1 } });
  });

  test('Llama Guard: an answer in any other shape is an error, never `safe`', async () => {
    const checked = policy({ prompt: { classifier: 'llama-guard', baseURL: `${server.url}/v1`, model: 'llama-guard3:8b' } });
    for (const answer of ['I cannot help with that.', 'unsafe', 'unsafe\nS15', 'safe\nS1', 'Safe', 'unsafe\nS1 S2', '']) {
      server.route('POST', '/v1/chat/completions', { json: llamaGuardChatAnswer(answer) });
      await assert.rejects(moderatePrompt('x', undefined, checked), (error: unknown) => InvalidResponseError.isInstance(error) && /answered in a shape Llama Guard does not: expected `safe`, or `unsafe` and a line of codes S1 to S14/.test(error.message), JSON.stringify(answer));
    }
    server.route('POST', '/v1/chat/completions', { json: { choices: [] } });
    await assert.rejects(moderatePrompt('x', undefined, checked), (error: unknown) => InvalidResponseError.isInstance(error) && /without the expected `choices`/.test(error.message));
    assert.deepEqual(parseLlamaGuardAnswer(' unsafe \n S12, S4 ,S12\n'), { safe: false, codes: ['S12', 'S4'] });
  });
});
