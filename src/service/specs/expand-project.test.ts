// Tests of loading a project and expanding it: matrix, sizes, data files (CSV, JSON, YAML), templates, defaults, seeds and the stable order.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { countOutputs, expandProject, loadProject } from './index.js';
import { writeProject } from '../../testing/temporary-files.js';


/** Seeds computed apart from the code under test: the first 8 bytes of SHA-256 of the path. */
function hashOf(path: string): bigint {
  return BigInt(`0x${createHash('sha256').update(path).digest('hex').slice(0, 16)}`);
}
const rangeSeed = (path: string) => String(1000n + (hashOf(path) % 1000n));
const derivedSeed = (path: string) => String(hashOf(path) % 2n ** 32n);

const files = {
  'pixelpipe.yaml': `# yaml-language-server: $schema=../../schemas/pixelpipe.schema.json
version: 1
outputDir: ./out/
concurrency: 2
moderation: default
defaults:
  model: ./models/tiny-sd15
  steps: 4
  providerOptions: { openai: { quality: high } }
  output: { quality: 80, fit: cover }
specs:
  - specs/hero.yaml
  - specs/social.json
  - name: banner
    prompt: A banner
    ranker: aesthetic
    candidates: 3
    providerOptions: { fal: { sync: true } }
    output: { path: out/banner.webp }
`,
  'specs/hero.yaml': `name: hero
prompt: "A {product} on a sunny street in {city}, {{{note}}}"
negativePrompt: blurry, text
size: [1200x628, "16:9"]
seed: { from: 1000, to: 1999 }
matrix:
  locale: [de-DE, fr-FR]
  product: [shoe, bag]
  include: [{ locale: ja-JP, product: shoe, size: 1200x628 }]
  exclude: [{ locale: fr-FR, product: bag }]
data: ../data/cities.csv
candidates: 4
ranker: { type: vlm, rubric: "Is the {product} clearly visible?" }
moderation: policies/strict.yaml
output:
  path: "out/{locale}/{product}-{city}-{size}.webp"
  quality: 85
`,
  'data/cities.csv': 'city,note\nBerlin,"warm, bright"\n"Paris","a ""quoted"" note"\n',
  'specs/social.json': `[
  {
    "name": "social-a",
    "prompt": "Postcard of {city} in {country}",
    "size": "1080x1080",
    "generationSize": "512x512",
    "seed": 42,
    "data": ["../data/cities.json", "../data/more.yaml"],
    "output": { "path": "out/social/{city}.jpg", "format": "jpeg", "quality": 90, "fit": "contain" }
  },
  {
    "name": "social-b",
    "model": "../models/other, openai:gpt-image-1",
    "prompt": "{{literal}} {spec} #{index}",
    "size": "9:16",
    "seed": "18446744073709551615",
    "output": { "path": "out/social/b-{index}.png", "upscale": "lanczos" }
  }
]
`,
  'data/cities.json': '[\n  { "city": "Rome", "country": "Italy" },\n  { "city": "Oslo", "country": "Norway", "population": 709037 }\n]\n',
  'data/more.yaml': '- city: Lima\n  country: Peru\n',
};

test('a project expands into outputs in spec, matrix, then data-row order, with templates, defaults and seeds resolved', async () => {
  const root = await writeProject(files);
  const project = await loadProject(root);
  assert.equal(project.root, root);
  assert.equal(project.file, 'pixelpipe.yaml');
  assert.equal(project.outputDir, 'out');
  assert.equal(project.concurrency, 2);
  assert.deepEqual(project.specs.map((spec) => [spec.name, spec.file, spec.line]), [['hero', 'specs/hero.yaml', 1], ['social-a', 'specs/social.json', 2], ['social-b', 'specs/social.json', 11], ['banner', 'pixelpipe.yaml', 14]]);
  assert.equal(countOutputs(project), 19);

  const outputs = expandProject(project, { maxOutputs: 1000 });
  assert.equal(outputs.length, 19);
  assert.deepEqual(outputs.map((output) => output.path), [
    'out/de-DE/shoe-Berlin-1200x628.webp',
    'out/de-DE/shoe-Paris-1200x628.webp',
    'out/de-DE/shoe-Berlin-16:9.webp',
    'out/de-DE/shoe-Paris-16:9.webp',
    'out/de-DE/bag-Berlin-1200x628.webp',
    'out/de-DE/bag-Paris-1200x628.webp',
    'out/de-DE/bag-Berlin-16:9.webp',
    'out/de-DE/bag-Paris-16:9.webp',
    'out/fr-FR/shoe-Berlin-1200x628.webp',
    'out/fr-FR/shoe-Paris-1200x628.webp',
    'out/fr-FR/shoe-Berlin-16:9.webp',
    'out/fr-FR/shoe-Paris-16:9.webp',
    'out/ja-JP/shoe-Berlin-1200x628.webp',
    'out/ja-JP/shoe-Paris-1200x628.webp',
    'out/social/Rome.jpg',
    'out/social/Oslo.jpg',
    'out/social/Lima.jpg',
    'out/social/b-0.png',
    'out/banner.webp',
  ]);

  const heroBase = { spec: 'hero', specFile: 'specs/hero.yaml', line: 1, candidates: 4, moderationPolicy: 'specs/policies/strict.yaml' };
  const heroRequest = { model: './models/tiny-sd15', negativePrompt: 'blurry, text', steps: 4, providerOptions: { openai: { quality: 'high' } } };
  assert.deepEqual(outputs[1], {
    ...heroBase,
    path: 'out/de-DE/shoe-Paris-1200x628.webp',
    variables: { locale: 'de-DE', product: 'shoe', size: '1200x628', width: '1200', height: '628', city: 'Paris', note: 'a "quoted" note', spec: 'hero', index: '1' },
    request: { ...heroRequest, prompt: 'A shoe on a sunny street in Paris, {a "quoted" note}', seed: rangeSeed('out/de-DE/shoe-Paris-1200x628.webp') },
    ranker: { type: 'vlm', rubric: 'Is the shoe clearly visible?' },
    finish: { width: 1200, height: 628, fit: 'cover', format: 'webp', quality: 85 },
  });
  assert.deepEqual(outputs[6], {
    ...heroBase,
    path: 'out/de-DE/bag-Berlin-16:9.webp',
    variables: { locale: 'de-DE', product: 'bag', size: '16:9', city: 'Berlin', note: 'warm, bright', spec: 'hero', index: '6' },
    request: { ...heroRequest, prompt: 'A bag on a sunny street in Berlin, {warm, bright}', aspectRatio: '16:9', seed: rangeSeed('out/de-DE/bag-Berlin-16:9.webp') },
    ranker: { type: 'vlm', rubric: 'Is the bag clearly visible?' },
    finish: { fit: 'cover', format: 'webp', quality: 85 },
  });
  assert.deepEqual(outputs[12].variables, { locale: 'ja-JP', product: 'shoe', size: '1200x628', width: '1200', height: '628', city: 'Berlin', note: 'warm, bright', spec: 'hero', index: '12' });
  for (const output of outputs.slice(0, 14)) assert.equal(output.request.seed, rangeSeed(output.path));

  assert.deepEqual(outputs[15], {
    path: 'out/social/Oslo.jpg',
    spec: 'social-a',
    specFile: 'specs/social.json',
    line: 2,
    variables: { size: '1080x1080', width: '1080', height: '1080', city: 'Oslo', country: 'Norway', population: '709037', spec: 'social-a', index: '1' },
    request: { model: './models/tiny-sd15', prompt: 'Postcard of Oslo in Norway', width: 512, height: 512, steps: 4, seed: '42', providerOptions: { openai: { quality: 'high' } } },
    candidates: 1,
    finish: { width: 1080, height: 1080, fit: 'contain', format: 'jpeg', quality: 90 },
    moderationPolicy: 'default',
  });
  assert.deepEqual(outputs[16].variables, { size: '1080x1080', width: '1080', height: '1080', city: 'Lima', country: 'Peru', spec: 'social-a', index: '2' });
  assert.deepEqual(outputs[17], {
    path: 'out/social/b-0.png',
    spec: 'social-b',
    specFile: 'specs/social.json',
    line: 11,
    variables: { size: '9:16', spec: 'social-b', index: '0' },
    request: { model: './models/other, openai:gpt-image-1', prompt: '{literal} social-b #0', aspectRatio: '9:16', steps: 4, seed: '18446744073709551615', providerOptions: { openai: { quality: 'high' } } },
    candidates: 1,
    // PNG is lossless, so the defaults' quality is left out.
    finish: { fit: 'cover', format: 'png', upscale: 'lanczos' },
    moderationPolicy: 'default',
  });
  assert.deepEqual(outputs[18], {
    path: 'out/banner.webp',
    spec: 'banner',
    specFile: 'pixelpipe.yaml',
    line: 14,
    variables: { spec: 'banner', index: '0' },
    request: { model: './models/tiny-sd15', prompt: 'A banner', steps: 4, seed: derivedSeed('out/banner.webp'), providerOptions: { openai: { quality: 'high' }, fal: { sync: true } } },
    candidates: 3,
    ranker: { type: 'aesthetic' },
    finish: { fit: 'cover', format: 'webp', quality: 80 },
    moderationPolicy: 'default',
  });
});

test('expanding twice gives equal outputs, and adding a locale leaves the other outputs and their seeds unchanged', async () => {
  const before = expandProject(await loadProject(await writeProject(files)));
  assert.deepEqual(expandProject(await loadProject(await writeProject(files))), before);
  const withLocale = { ...files, 'specs/hero.yaml': files['specs/hero.yaml'].replace('locale: [de-DE, fr-FR]', 'locale: [de-DE, fr-FR, es-ES]') };
  const after = expandProject(await loadProject(await writeProject(withLocale)));
  const seedsAfter = new Map(after.map((output) => [output.path, output.request.seed]));
  assert.equal(after.length, before.length + 8);
  for (const output of before) assert.equal(seedsAfter.get(output.path), output.request.seed, output.path);
});

test('a project file can be named directly, and JSON project files work like YAML', async () => {
  const root = await writeProject({ 'pixelpipe.json': '{\n  "version": 1,\n  "specs": [{ "name": "one", "prompt": "p", "output": { "path": "out/one.png" } }]\n}\n' });
  const project = await loadProject(join(root, 'pixelpipe.json'));
  assert.deepEqual(expandProject(project).map((output) => [output.path, output.line, output.request]), [['out/one.png', 3, { prompt: 'p', seed: derivedSeed('out/one.png') }]]);
});
