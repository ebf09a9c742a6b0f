// The family registry: pipelines that look like a runnable family but are not are refused by name, before anything loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testData } from '../../testing/paths.js';
import { detectFamily, folderFacts } from './index.js';
import { checkModelFolder } from './model-loader.js';

const work = mkdtempSync(join(tmpdir(), 'pixelpipe-families-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

/** The tiny FLUX.1 folder's files, with `model_index.json` naming another pipeline class. */
function fluxFolderAs(pipeline: string): string {
  const folder = join(work, pipeline);
  cpSync(testData('fixtures', 'tiny-flux'), folder, { recursive: true, filter: (source) => !source.endsWith('.onnx') });
  const index = JSON.parse(readFileSync(join(folder, 'model_index.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(folder, 'model_index.json'), JSON.stringify({ ...index, _class_name: pipeline }));
  return folder;
}

test('FLUX.2 and the FLUX.1 variants with image inputs are refused by name, not run as FLUX.1 or SD 1.x', () => {
  for (const [pipeline, reason] of [
    ['Flux2Pipeline', /holds a Flux2Pipeline: FLUX\.2 is a new architecture.*Mistral Small 3\.1.*32-channel latents.*does not run it yet/],
    ['Flux2KleinPipeline', /holds a Flux2KleinPipeline: FLUX\.2/],
    ['FluxFillPipeline', /holds a FluxFillPipeline: this FLUX\.1 variant takes image inputs .*\(FluxPipeline\) run/],
    ['FluxKontextPipeline', /holds a FluxKontextPipeline: this FLUX\.1 variant/],
  ] as const) {
    const folder = fluxFolderAs(pipeline);
    assert.throws(() => detectFamily(folderFacts(folder)), { name: 'InvalidModelError', message: reason }, pipeline);
    assert.throws(() => checkModelFolder(folder), { name: 'InvalidModelError', message: reason }, `${pipeline}: the folder check refuses it too`);
  }
  // The FLUX.1 pipelines that share FluxPipeline's weights are FLUX.1.
  assert.equal(detectFamily(folderFacts(fluxFolderAs('FluxImg2ImgPipeline'))).id, 'flux');
  assert.equal(detectFamily(folderFacts(testData('fixtures', 'tiny-flux'))).id, 'flux');
});
