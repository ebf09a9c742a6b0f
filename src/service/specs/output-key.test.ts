// Tests of canonical JSON and output keys: exact text and hash, stability, and that a changed variable changes only its own output's key.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { ResolvedOutput } from '../build/build-types.js';
import { canonicalJson, expandProject, loadProject, outputKey } from './index.js';
import { jobRequestOf } from '../build/build-plan.js';
import { temporaryFolder } from '../../testing/temporary-files.js';


test('canonical JSON sorts keys at every depth, leaves out undefined fields and writes bigints as strings', () => {
  assert.equal(canonicalJson({ b: 1, a: [1, undefined, { d: undefined, c: 'x' }], e: 2n, f: null }), '{"a":[1,null,{"c":"x"}],"b":1,"e":"2","f":null}');
  assert.throws(() => canonicalJson({ a: Number.NaN }), { name: 'TypeError', message: 'canonicalJson: NaN has no JSON form; pass a finite number' });
  assert.throws(() => canonicalJson({ a: new Date(0) }), /a Date has no canonical JSON form/);
});

const output: ResolvedOutput = {
  path: 'out/a.png',
  spec: 'a',
  specFile: 'pixelpipe.yaml',
  variables: { spec: 'a', index: '0' },
  request: { prompt: 'a cat', seed: '7' },
  candidates: 2,
  ranker: { type: 'clip' },
  finish: { width: 64, height: 32, fit: 'cover', format: 'png' },
};

test('the key is sha256 over the canonical JSON of request, candidates, ranker, finish and identity', () => {
  const identity = { model: 'tiny-sd15', modelHash: 'sha256:ab', engineVersion: '0.1.0', request: { prompt: 'a cat', seed: '7', width: 512, height: 256 } };
  const text = '{"candidates":2,"engineVersion":"0.1.0","finish":{"fit":"cover","format":"png","height":32,"width":64},"keyVersion":1,"model":"tiny-sd15","modelHash":"sha256:ab","ranker":{"type":"clip"},"request":{"height":256,"prompt":"a cat","seed":"7","width":512}}';
  assert.equal(outputKey(output, identity), `sha256:${createHash('sha256').update(text).digest('hex')}`);
  const reordered = { engineVersion: '0.1.0', request: { width: 512, height: 256, seed: '7', prompt: 'a cat' }, modelHash: 'sha256:ab', model: 'tiny-sd15' };
  assert.equal(outputKey({ ...output, path: 'out/moved.png' }, reordered), outputKey(output, identity));
  assert.notEqual(outputKey(output, { ...identity, engineVersion: '0.2.0' }), outputKey(output, identity));
  assert.notEqual(outputKey({ ...output, finish: { ...output.finish, format: 'webp' } }, identity), outputKey(output, identity));
});

test('changing one data row changes only that output\'s key', async () => {
  const root = await temporaryFolder('pixelpipe-specs-');
  await mkdir(join(root, 'data'));
  await writeFile(join(root, 'pixelpipe.yaml'), 'version: 1\nspecs:\n  - name: city\n    prompt: "A street in {city}"\n    size: 64x64\n    data: data/cities.csv\n    output: { path: "out/{id}.png" }\n');
  const keys = async (csv: string) => {
    await writeFile(join(root, 'data/cities.csv'), csv);
    const outputs = expandProject(await loadProject(root));
    return outputs.map((each) => outputKey(each, { model: 'tiny-sd15', engineVersion: '0.1.0', request: { ...each.request, width: 512, height: 512 } }));
  };
  const before = await keys('id,city\n1,Berlin\n2,Paris\n3,Rome\n');
  assert.deepEqual(await keys('id,city\n1,Berlin\n2,Paris\n3,Rome\n'), before);
  const after = await keys('id,city\n1,Berlin\n2,Lyon\n3,Rome\n');
  assert.deepEqual([after[0] === before[0], after[1] === before[1], after[2] === before[2]], [true, false, true]);
});

test('`decoder: fast` reaches the job request and changes the key; `decoder: full` is the default and changes nothing', async () => {
  const root = await temporaryFolder('pixelpipe-specs-');
  const planned = async (decoder: string | undefined) => {
    await writeFile(join(root, 'pixelpipe.yaml'), `version: 1\nspecs:\n  - name: cube\n    prompt: a red cube\n    size: 64x64\n${decoder ? `    decoder: ${decoder}\n` : ''}    output: { path: out/cube.png }\n`);
    const [output] = expandProject(await loadProject(root));
    const request = jobRequestOf(output!, { reference: '', hosted: false, sizeMultiple: 64, defaultSize: { width: 64, height: 64 } });
    return { request, key: outputKey(output!, { model: 'tiny-sd15', engineVersion: '0.1.0', request }) };
  };
  const [none, full, fast] = [await planned(undefined), await planned('full'), await planned('fast')];
  assert.equal(fast.request.decoder, 'fast');
  assert.equal('decoder' in none.request, false);
  assert.deepEqual(full, none);
  assert.notEqual(fast.key, none.key, 'a fast-decoded output is another output');
});

test('a ranker\'s `decoder: fast` reaches the job request as rankDecoder and changes the key; `decoder: full` changes nothing', async () => {
  const root = await temporaryFolder('pixelpipe-specs-');
  const planned = async (decoder: string | undefined) => {
    await writeFile(join(root, 'pixelpipe.yaml'), `version: 1\nspecs:\n  - name: cube\n    prompt: a red cube\n    size: 64x64\n    candidates: 3\n    ranker: { type: clip${decoder ? `, decoder: ${decoder}` : ''} }\n    output: { path: out/cube.png }\n`);
    const [output] = expandProject(await loadProject(root));
    const request = jobRequestOf(output!, { reference: '', hosted: false, sizeMultiple: 64, defaultSize: { width: 64, height: 64 } });
    return { request, key: outputKey(output!, { model: 'tiny-sd15', engineVersion: '0.1.0', request }) };
  };
  const [none, full, fast] = [await planned(undefined), await planned('full'), await planned('fast')];
  assert.deepEqual([fast.request.bestOf, fast.request.rankBy, fast.request.rankDecoder], [3, 'clip', 'fast']);
  assert.equal(none.request.rankDecoder, undefined);
  assert.deepEqual(full, none);
  assert.notEqual(fast.key, none.key);
});
