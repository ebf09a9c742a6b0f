// The VLM ranker against a local server answering in OpenAI's chat-completions shape: conformance, the requests it sends, and malformed answers.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import sharp from 'sharp';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { AuthenticationError } from '../../spec/errors/authentication-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { TimeoutError } from '../../spec/errors/timeout-error.js';
import { isInvalidArgument } from '../../testing/assertions.js';
import { startMockApiServer, type MockApiServer, type MockResponse, type RecordedApiRequest } from '../../testing/mock-api-server.js';
import { createRanker } from './create-ranker.js';
import { conformanceCandidates, rankerConformance } from './ranker.case.js';
import { rankCandidates } from './ranker.js';
import { defaultRubric, VlmRanker } from './vlm-ranker.js';

const route = '/v1/chat/completions';

/** A chat.completion object as OpenAI documents it, with `content` as the assistant's message. */
function chatCompletion(content: string): MockResponse {
  return {
    json: {
      id: 'chatcmpl-test',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'judge-model',
      choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 900, completion_tokens: 40, total_tokens: 940 },
    },
  };
}

/** The images of a request, decoded from their data URLs. */
function requestImages(request: RecordedApiRequest): Array<{ mediaType: string; bytes: Buffer }> {
  const parts = request.json.messages.flatMap((message: { content: unknown }) => (Array.isArray(message.content) ? message.content : []));
  return parts
    .filter((part: { type: string }) => part.type === 'image_url')
    .map((part: { image_url: { url: string } }) => {
      const match = /^data:([^;]+);base64,(.+)$/.exec(part.image_url.url)!;
      return { mediaType: match[1]!, bytes: Buffer.from(match[2]!, 'base64') };
    });
}

/** A judge that looks: each image's score is its mean red level out of 10, whatever its place in the request. */
async function redJudge(request: RecordedApiRequest): Promise<MockResponse> {
  const scores = await Promise.all(
    requestImages(request).map(async ({ bytes }, position) => {
      const { channels } = await sharp(bytes).stats();
      return { candidate: position + 1, score: Math.round((channels[0]!.mean / 255) * 1000) / 100, reason: `red level ${Math.round(channels[0]!.mean)}` };
    }),
  );
  return chatCompletion(JSON.stringify({ scores }));
}

let server: MockApiServer;
before(async () => {
  server = await startMockApiServer();
});
after(async () => {
  await server.close();
});

rankerConformance(
  'vlm (local server, 3 images per request)',
  async () => {
    server.route('POST', route, redJudge);
    return { ranker: new VlmRanker({ baseUrl: `${server.url}/v1`, model: 'judge-model', apiKey: 'test-key', maxImagesPerRequest: 3 }) };
  },
  { context: { prompt: 'a red square', rubric: 'How red is it?' } },
);

describe('vlm ranker requests and answers', () => {
  beforeEach(() => {
    server.requests.length = 0;
    server.route('POST', route, redJudge);
  });
  const sleep = async () => {};

  test('sends the documented request: bearer key, model, temperature 0, JSON mode, numbered data-URL images in batches', async () => {
    const candidates = await conformanceCandidates();
    const ranker = createRanker({ type: 'vlm', baseUrl: `${server.url}/v1/`, model: 'judge-model', apiKey: 'test-key', maxImagesPerRequest: 3 });
    const ranking = await rankCandidates(ranker, candidates, { prompt: 'a red square', negativePrompt: 'text' });
    const requests = server.requestsTo('POST', route);
    assert.deepEqual(requests.map((request) => requestImages(request).length), [3, 1]);
    const [first] = requests;
    assert.equal(first!.headers.authorization, 'Bearer test-key');
    assert.equal(first!.json.model, 'judge-model');
    assert.equal(first!.json.temperature, 0);
    assert.deepEqual(first!.json.response_format, { type: 'json_object' });
    assert.deepEqual(first!.json.messages.map((message: { role: string }) => message.role), ['system', 'user']);
    assert.match(first!.json.messages[0].content, /JSON.*"scores":\[\{"candidate":1,"score":7\.5/);
    const brief = first!.json.messages[1].content[0].text as string;
    assert.match(brief, /Prompt: a red square/);
    assert.match(brief, /should not show: text/);
    assert.ok(brief.includes(`Rubric: ${defaultRubric}`), 'the default rubric when the context has none');
    assert.deepEqual(first!.json.messages[1].content.filter((part: { type: string }) => part.type === 'text').slice(1).map((part: { text: string }) => part.text), ['Candidate 1:', 'Candidate 2:', 'Candidate 3:']);
    const sent = requests.flatMap(requestImages);
    assert.deepEqual(sent.map((image) => image.mediaType), candidates.map((candidate) => candidate.mediaType));
    sent.forEach((image, index) => assert.ok(image.bytes.equals(candidates[index]!.bytes), `image ${index} sent as given`));
    // The red square wins; the judge's reasons and scores come through.
    assert.equal(ranking.order[0], 0);
    assert.match(ranking.scores[0]!.reason!, /^red level \d+$/);
    assert.equal(ranking.scores[0]!.detail?.vlmScore, ranking.scores[0]!.score);
  });

  test('eight images per request by default; no Authorization header without a key; the injected fetch is used', async () => {
    const candidates = await conformanceCandidates();
    let fetches = 0;
    const countingFetch: typeof fetch = (input, init) => {
      fetches += 1;
      return fetch(input, init);
    };
    const ranker = new VlmRanker({ baseUrl: `${server.url}/v1`, model: 'judge-model', fetch: countingFetch });
    await ranker.score([...candidates, ...candidates.map((candidate) => ({ ...candidate, index: candidate.index + 4 })), { ...candidates[0]!, index: 8 }], { prompt: 'p', rubric: 'Only redness counts.' });
    const requests = server.requestsTo('POST', route);
    assert.deepEqual(requests.map((request) => requestImages(request).length), [8, 1]);
    assert.equal(requests[0]!.headers.authorization, undefined);
    assert.match(requests[0]!.json.messages[1].content[0].text, /Rubric: Only redness counts\./);
    assert.equal(fetches, 2);
  });

  const malformed: Array<[string, string, RegExp]> = [
    ['a missing candidate', '{"scores":[{"candidate":1,"score":5}]}', /no score for candidate 2\. It said: "\{\\"scores\\":\[\{\\"candidate\\":1,\\"score\\":5\}\]\}"/],
    ['a score out of range', '{"scores":[{"candidate":1,"score":11},{"candidate":2,"score":3}]}', /`scores\.0\.score`: .*10.*It said: /],
    ['a score as text', '{"scores":[{"candidate":1,"score":"7"},{"candidate":2,"score":3}]}', /`scores\.0\.score`/],
    ['a candidate twice', '{"scores":[{"candidate":1,"score":1},{"candidate":1,"score":2}]}', /scores candidate 1 twice/],
    ['a candidate that was not shown', '{"scores":[{"candidate":1,"score":1},{"candidate":3,"score":2}]}', /scores candidate 3, but there were candidates 1 to 2/],
    ['no scores array', '{"ranking":[1,2]}', /`scores`/],
    ['prose, not JSON', 'Candidate 1 is clearly the better image.', /it is not JSON\. It said: "Candidate 1 is clearly the better image\."/],
  ];
  for (const [what, answer, pattern] of malformed) {
    test(`an answer with ${what} is an InvalidResponseError quoting it`, async () => {
      server.route('POST', route, chatCompletion(answer));
      const candidates = (await conformanceCandidates()).slice(0, 2);
      const ranker = new VlmRanker({ baseUrl: `${server.url}/v1`, model: 'judge-model', sleep });
      await assert.rejects(ranker.score(candidates, { prompt: 'p' }), (error: unknown) => {
        assert.ok(InvalidResponseError.isInstance(error), String(error));
        assert.match(error.message, /judge-model at http:\/\/127\.0\.0\.1:\d+\/v1 did not answer with one 0–10 score for each of candidates 1 to 2/);
        assert.match(error.message, pattern);
        return true;
      });
    });
  }

  test('a long answer is quoted cut short', async () => {
    server.route('POST', route, chatCompletion(`{"scores": [], "notes": "${'x'.repeat(1000)}"}`));
    const ranker = new VlmRanker({ baseUrl: `${server.url}/v1`, model: 'judge-model', sleep });
    await assert.rejects(ranker.score((await conformanceCandidates()).slice(0, 1), { prompt: 'p' }), (error: unknown) => InvalidResponseError.isInstance(error) && /x{270}…"\. Use a model/.test(error.message) && !/x{400}/.test(error.message));
  });

  test('a refused key, a server past the timeout and an abort are typed errors', async () => {
    const candidates = (await conformanceCandidates()).slice(0, 1);
    server.route('POST', route, { status: 401, json: { error: { message: 'Incorrect API key provided', type: 'invalid_request_error' } } });
    await assert.rejects(new VlmRanker({ baseUrl: `${server.url}/v1`, model: 'm', apiKey: 'wrong', sleep }).score(candidates, { prompt: 'p' }), (error: unknown) => AuthenticationError.isInstance(error) && /Incorrect API key/.test(error.message));
    server.route('POST', route, { ...chatCompletion('{"scores":[{"candidate":1,"score":5}]}'), delayMs: 5_000 });
    await assert.rejects(new VlmRanker({ baseUrl: `${server.url}/v1`, model: 'm', timeoutMs: 100, sleep }).score(candidates, { prompt: 'p' }), (error: unknown) => TimeoutError.isInstance(error) && /within 100 ms/.test(error.message));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(new VlmRanker({ baseUrl: `${server.url}/v1`, model: 'm', sleep }).score(candidates, { prompt: 'p', signal: controller.signal }), (error: unknown) => AbortedError.isInstance(error));
  });

  test('settings that cannot work are refused when the ranker is made', () => {
    assert.throws(() => new VlmRanker({ baseUrl: server.url, model: 'm', maxImagesPerRequest: 0 }), isInvalidArgument('maxImagesPerRequest', /at least 1, got 0/));
    assert.throws(() => new VlmRanker({ baseUrl: 'localhost:8000/v1', model: 'm' }), isInvalidArgument('baseUrl', /http:\/\/ or https:\/\//));
    assert.throws(() => createRanker({ type: 'vlm', baseUrl: server.url, model: '' }), isInvalidArgument('model', /needs `model`/));
  });
});
