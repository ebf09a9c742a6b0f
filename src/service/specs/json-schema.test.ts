// Tests that the committed schemas/pixelpipe.schema.json is exactly what the zod schema generates today.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { formatSpecJsonSchema, specJsonSchema } from './index.js';

test('schemas/pixelpipe.schema.json matches the zod schema (regenerate: node --import tsx scripts/write-spec-schema.ts)', async () => {
  const committed = await readFile(new URL('../../../schemas/pixelpipe.schema.json', import.meta.url), 'utf8');
  assert.equal(committed, formatSpecJsonSchema(), 'the schema changed: run node --import tsx scripts/write-spec-schema.ts and commit schemas/pixelpipe.schema.json');
});

test('the schema describes the project file, with specs under $defs.spec for spec files', () => {
  const schema = specJsonSchema() as { required: string[]; additionalProperties: boolean; $defs: { spec: { required: string[]; properties: Record<string, unknown> } } };
  assert.deepEqual(schema.required, ['version', 'specs']);
  assert.equal(schema.additionalProperties, false);
  assert.deepEqual(schema.$defs.spec.required, ['name']);
  assert.deepEqual(Object.keys(schema.$defs.spec.properties), ['$schema', 'name', 'model', 'prompt', 'negativePrompt', 'size', 'generationSize', 'steps', 'guidance', 'sampler', 'decoder', 'seed', 'providerOptions', 'loras', 'controls', 'hiresFix', 'matrix', 'data', 'candidates', 'ranker', 'output', 'moderation']);
});
