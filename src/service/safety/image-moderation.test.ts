// The image check on nsfwjs's real weights (loaded once for the file) and on OpenAI's moderation endpoint with image input, against a local server.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import sharp from 'sharp';
import { startMockApiServer, testImage, type MockApiServer } from '../../testing/mock-api-server.js';
import { decideNsfw, moderateImage, NsfwClassifier, type NsfwScores } from './image-moderation.js';
import { openaiModerationAnswer } from './moderation-answers.case.js';
import { defaultModerationPolicy, nsfwClasses, parseModerationPolicy, type ModerationPolicy } from './moderation-policy.js';

type NsfwPolicy = Extract<ModerationPolicy['image'], { classifier: 'nsfwjs' }>;

let classifier: NsfwClassifier;
let loadMs: number;
before(async () => {
  const started = performance.now();
  classifier = await NsfwClassifier.start('mobilenet_v2');
  loadMs = performance.now() - started;
});
after(() => classifier.close());

/** Images no classifier should find explicit: a flat colour, a gradient, and seeded noise. */
async function syntheticImages() {
  const size = 256;
  const gradient = Buffer.alloc(size * size * 3);
  const noise = Buffer.alloc(size * size * 3);
  let state = 42;
  for (let index = 0; index < size * size; index += 1) {
    gradient.set([index % size, Math.floor(index / size), 128], index * 3);
    for (let channel = 0; channel < 3; channel += 1) {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      noise[index * 3 + channel] = state >> 23;
    }
  }
  const raw = { width: size, height: size, channels: 3 } as const;
  return [
    { name: 'flat', bytes: await testImage('png', 300, 200, { r: 200, g: 80, b: 40 }), mediaType: 'image/png' },
    { name: 'gradient', bytes: new Uint8Array(await sharp(gradient, { raw }).jpeg().toBuffer()), mediaType: 'image/jpeg' },
    { name: 'noise', bytes: new Uint8Array(await sharp(noise, { raw }).png().toBuffer()), mediaType: 'image/png' },
  ];
}

const nsfwPolicy = (classes: NsfwPolicy['classes']): NsfwPolicy => ({ classifier: 'nsfwjs', model: 'mobilenet_v2', classes });

describe('nsfwjs on its shipped weights', () => {
  const scored: { name: string; scores: NsfwScores }[] = [];

  test('each image gets a probability per class, summing to 1, the same every time', async (t) => {
    const images = await syntheticImages();
    for (const image of images) {
      const started = performance.now();
      const scores = await classifier.classify(image);
      const tookMs = performance.now() - started;
      assert.deepEqual(Object.keys(scores), [...nsfwClasses]);
      for (const value of Object.values(scores)) assert.ok(value >= 0 && value <= 1, `${image.name}: ${value}`);
      assert.ok(Math.abs(Object.values(scores).reduce((sum, value) => sum + value, 0) - 1) < 1e-5, `${image.name} sums to 1`);
      scored.push({ name: image.name, scores });
      t.diagnostic(`${image.name}: ${JSON.stringify(scores)} in ${Math.round(tookMs)} ms`);
    }
    assert.deepEqual(await classifier.classify(images[0]!), scored[0]!.scores, 'the same image again');
    t.diagnostic(`model load ${Math.round(loadMs)} ms; rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB`);
    // Nothing here is explicit, and the built-in policy lets it through.
    for (const { name, scores } of scored) assert.equal(decideNsfw(scores, defaultModerationPolicy.image as NsfwPolicy).action, 'allow', name);
  });

  test('the policy decides on the real scores: a class at or over its threshold acts, the most severe then the most probable wins', () => {
    const { scores } = scored[0]!;
    const ranked = Object.entries(scores).sort(([, a], [, b]) => b - a).map(([name]) => name as keyof NsfwScores);
    const [top, second] = [ranked[0]!, ranked[1]!];
    const rounded = Object.fromEntries(Object.entries(scores).map(([name, value]) => [name, Math.round(value * 1e4) / 1e4]));

    assert.deepEqual(decideNsfw(scores, nsfwPolicy({ [top]: { action: 'block', threshold: scores[top] } })), { action: 'block', rule: `image.classes.${top}`, category: top, classifier: 'nsfwjs:mobilenet_v2', scores: rounded });
    assert.deepEqual(decideNsfw(scores, nsfwPolicy({ [top]: { action: 'block', threshold: Math.min(1, scores[top] + 0.001) } })), { action: 'allow', classifier: 'nsfwjs:mobilenet_v2', scores: rounded });
    // Flag on the likelier class, block on the less likely one: block wins.
    const both = decideNsfw(scores, nsfwPolicy({ [top]: { action: 'flag', threshold: 0 }, [second]: { action: 'block', threshold: scores[second] / 2 } }));
    assert.deepEqual([both.action, both.rule], ['block', `image.classes.${second}`]);
    // Two blocks: the likelier class is named.
    const blocks = decideNsfw(scores, nsfwPolicy({ [second]: { action: 'block', threshold: 0 }, [top]: { action: 'block', threshold: 0 } }));
    assert.equal(blocks.rule, `image.classes.${top}`);
    assert.equal(decideNsfw(scores, nsfwPolicy({ [top]: { action: 'allow', threshold: 0 } })).action, 'allow');
  });

  test('moderateImage: the policy\'s classifier, or nothing when it is none or off', async () => {
    const [image] = await syntheticImages();
    const blocking = parseModerationPolicy({ name: 'strict', image: { classifier: 'nsfwjs', classes: { Drawing: { action: 'block', threshold: 0.5 } } } });
    let asked = 0;
    const nsfw = async () => (asked += 1, classifier);
    const decision = await moderateImage(image!, blocking, { nsfw });
    assert.deepEqual([decision.action, decision.rule, decision.classifier], ['block', 'image.classes.Drawing', 'nsfwjs:mobilenet_v2']);
    assert.deepEqual(await moderateImage(image!, parseModerationPolicy({ image: { classifier: 'none' } }), { nsfw }), { action: 'allow' });
    assert.deepEqual(await moderateImage(image!, 'off', { nsfw }), { action: 'off' });
    assert.equal(asked, 1);
  });
});

describe('OpenAI moderation with image input', () => {
  let server: MockApiServer;
  before(async () => (server = await startMockApiServer()));
  after(() => server.close());

  test('the image goes inline as a data URL, as the official client sends it; only categories OpenAI applied to the image count', async () => {
    const image = { bytes: await testImage('png', 32, 32), mediaType: 'image/png' };
    // `hate` is a text-only category: its score says nothing about an image.
    server.route('POST', '/v1/moderations', { json: openaiModerationAnswer({ hate: 0.99, sexual: 0.97 }, { flagged: ['hate', 'sexual'], input: 'image' }) });
    const policy = parseModerationPolicy({ name: 'hosted', image: { classifier: 'openai', baseURL: `${server.url}/v1` }, categories: { hate: 'block', sexual: { action: 'flag', threshold: 0.9 } } });
    const decision = await moderateImage(image, policy, { nsfw: () => assert.fail('nsfwjs is not the policy\'s classifier'), environment: { OPENAI_API_KEY: 'sk-image' } });
    assert.deepEqual([decision.action, decision.rule, decision.category], ['flag', 'categories.sexual', 'sexual']);
    assert.equal(decision.scores!.hate, undefined);

    const ours = server.requestsTo('POST', '/v1/moderations').at(-1)!;
    const url = `data:image/png;base64,${Buffer.from(image.bytes).toString('base64')}`;
    assert.deepEqual(ours.json, { model: 'omni-moderation-latest', input: [{ type: 'image_url', image_url: { url } }] });
    await new OpenAI({ apiKey: 'sk-image', baseURL: `${server.url}/v1`, maxRetries: 0 }).moderations.create({ model: 'omni-moderation-latest', input: [{ type: 'image_url', image_url: { url } }] });
    assert.deepEqual(ours.json, server.requestsTo('POST', '/v1/moderations').at(-1)!.json);
  });
});
