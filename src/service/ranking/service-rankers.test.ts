// The service's rankers: which ones the settings give, what a half-given one says, and that each is made once, on first use, and closed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSettings } from '../../config/settings.js';
import { isInvalidArgument } from '../../testing/assertions.js';
import { RankerRegistry, rankerConfigsFromSettings } from './service-rankers.js';

const home = { HOME: '/home/test' };

test('the environment gives clip, aesthetic (on the CLIP model) and vlm rankers', () => {
  const settings = loadSettings({}, { ...home, PIXELPIPE_CLIP_MODEL: '/models/clip', PIXELPIPE_AESTHETIC_WEIGHTS: '/models/aesthetic.safetensors', PIXELPIPE_VLM_URL: 'http://127.0.0.1:9000/v1', PIXELPIPE_VLM_MODEL: 'judge', PIXELPIPE_VLM_API_KEY: 'secret' });
  assert.deepEqual(rankerConfigsFromSettings(settings), {
    clip: { type: 'clip', model: '/models/clip' },
    aesthetic: { type: 'aesthetic', clipModel: '/models/clip', weights: '/models/aesthetic.safetensors' },
    vlm: { type: 'vlm', baseUrl: 'http://127.0.0.1:9000/v1', model: 'judge', apiKey: 'secret' },
  });
  assert.deepEqual(rankerConfigsFromSettings(loadSettings({}, home)), {});
});

test('a half-given ranker setting is refused, naming the variable that is missing', () => {
  assert.throws(() => rankerConfigsFromSettings({ aestheticWeights: '/a.safetensors' }), isInvalidArgument('PIXELPIPE_CLIP_MODEL', /PIXELPIPE_AESTHETIC_WEIGHTS is set/));
  assert.throws(() => rankerConfigsFromSettings({ vlmUrl: 'http://127.0.0.1:9000/v1' }), isInvalidArgument('PIXELPIPE_VLM_MODEL', /set PIXELPIPE_VLM_MODEL, or neither/));
  assert.throws(() => rankerConfigsFromSettings({ vlmModel: 'judge' }), isInvalidArgument('PIXELPIPE_VLM_URL', /set PIXELPIPE_VLM_URL, or neither/));
});

test('a ranker is made once, when first asked for, under its entry\'s name, and closed with the registry', async () => {
  let calls = 0;
  const registry = new RankerRegistry({ sharp: { type: 'custom', name: 'ignored', score: (candidates) => (calls++, candidates.map(() => 1)) } });
  assert.deepEqual(registry.names(), ['sharp']);
  const ranker = await registry.get('sharp');
  assert.equal(ranker.name, 'sharp');
  assert.equal(await registry.get('sharp'), ranker);
  assert.deepEqual(await ranker.score([{ index: 0, bytes: new Uint8Array(), mediaType: 'image/png' }], { prompt: 'x' }), [{ score: 1 }]);
  assert.equal(calls, 1);
  assert.throws(() => registry.check('clip'), isInvalidArgument('rankBy', /"clip": the rankers here are sharp/));
  assert.throws(() => new RankerRegistry({}).check('clip'), isInvalidArgument('rankBy', /this server has no rankers \(set PIXELPIPE_CLIP_MODEL/));
  await registry.close();
});
