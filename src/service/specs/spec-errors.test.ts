// Tests that bad projects fail with one clear SpecFileError (file, line, field, value, fix) before anything is written.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { SpecFileError, expandProject, loadProject } from './index.js';
import { writeProject } from '../../testing/temporary-files.js';


/** A project whose only spec is `specs/a.yaml` with this text. */
const withSpec = (spec: string, more: Record<string, string> = {}) => ({ 'pixelpipe.yaml': 'version: 1\nspecs:\n  - specs/a.yaml\n', 'specs/a.yaml': spec, ...more });

/** Loads and expands the project; returns the SpecFileError and checks that no file appeared. */
async function failure(files: Record<string, string>, maxOutputs = 1000): Promise<SpecFileError> {
  const root = await writeProject(files);
  const before = await readdir(root, { recursive: true });
  const error = await loadProject(root).then((project) => expandProject(project, { maxOutputs })).then(
    () => assert.fail('expected a SpecFileError'),
    (error: unknown) => error,
  );
  assert.ok(SpecFileError.isInstance(error), String(error));
  assert.equal(error.name, 'SpecFileError');
  assert.equal(error.isRetryable, false);
  assert.deepEqual(await readdir(root, { recursive: true }), before);
  return error;
}

test('malformed YAML names the file, the line and the parser message', async () => {
  const error = await failure(withSpec('name: a\nprompt: [x\nsize: 8x8\n'));
  assert.equal(error.message, 'specs/a.yaml:3: is not valid YAML or JSON: Flow sequence in block collection must be sufficiently indented and end with a ]; correct the syntax at that line (check indentation, quotes and brackets)');
});

test('an unknown field names the known ones and the likely one', async () => {
  const error = await failure(withSpec('name: a\nprompt: x\noutput:\n  path: out/a.png\n  formt: png\n'));
  assert.equal(error.message, 'specs/a.yaml:5: output.formt: is not a known field; did you mean "format"? known fields here: path, format, quality, fit, upscale');
  assert.deepEqual([error.file, error.line, error.field, error.value], ['specs/a.yaml', 5, 'output.formt', 'png']);
});

test('of several problems, the first in the file is reported', async () => {
  const error = await failure(withSpec('steps: 0\nname: "a b"\nprompt: x\noutput: { path: out/a.png }\n'));
  assert.equal(error.message, 'specs/a.yaml:1: steps: 0 is below 1; use 1 or more');
});

test('a bad size in an inline spec names the project file and the field', async () => {
  const error = await failure({ 'pixelpipe.yaml': 'version: 1\nspecs:\n  - name: a\n    prompt: x\n    size: 1200×628\n    output: { path: out/a.png }\n' });
  assert.equal(error.message, 'pixelpipe.yaml:5: specs[0].size: "1200×628" is not a size; write WxH such as 1200x628, or an aspect ratio such as 16:9');
  assert.deepEqual([error.value, error.fix], ['1200×628', 'write WxH such as 1200x628, or an aspect ratio such as 16:9']);
});

test('an unknown template variable names the field, the variable and the known variables', async () => {
  const error = await failure(withSpec('name: a\nprompt: "a {cty}"\nsize: 8x8\nmatrix:\n  city: [x]\noutput: { path: "out/{city}.png" }\n'));
  assert.equal(error.message, 'specs/a.yaml:2: prompt: uses {cty}, which is not a variable of spec a; did you mean {city}? known variables: spec, index, size, width, height, city');
});

test('loras are names of the LoRA folder, never paths', async () => {
  const error = await failure(withSpec('name: a\nprompt: x\nloras:\n  - ../style.safetensors:0.8\noutput: { path: out/a.png }\n'));
  assert.match(error.message, /^specs\/a\.yaml:4: loras\[0\]: .*must be NAME or NAME:SCALE, e\.g\. acme_style:0\.8/);
});

test('several candidates need a ranker to pick among them', async () => {
  const error = await failure(withSpec('name: a\nprompt: x\ncandidates: 3\noutput: { path: out/a.png }\n'));
  assert.equal(error.message, 'specs/a.yaml:3: candidates: is 3, but no ranker picks among them; add ranker: clip (or aesthetic, vlm, a ranker of the project), or set candidates: 1');
});

test('a 100,000-output matrix is refused without --yes, quickly', async () => {
  const values = (count: number) => `[${Array.from({ length: count }, (_, index) => index).join(', ')}]`;
  const root = await writeProject(withSpec(`name: a\nprompt: x\nmatrix:\n  a: ${values(100)}\n  b: ${values(1000)}\noutput: { path: "out/{a}-{b}.png" }\n`));
  const project = await loadProject(root);
  const started = performance.now();
  assert.throws(() => expandProject(project, { maxOutputs: 1000 }), {
    name: 'SpecFileError',
    message: 'specs/a.yaml:3: matrix: the project makes 100,000 outputs (a: 100,000), more than the 1,000 built without confirmation; pass --yes to build them all, or narrow the matrix or data',
  });
  assert.ok(performance.now() - started < 100, 'refused without enumerating the outputs');
});

test('more than 1,000,000 outputs are refused even with --yes', async () => {
  const values = (count: number) => `[${Array.from({ length: count }, (_, index) => index).join(', ')}]`;
  const error = await failure(withSpec(`name: a\nprompt: x\nsize: [8x8, 16x16]\nmatrix:\n  a: ${values(1000)}\n  b: ${values(1000)}\noutput: { path: "out/{a}-{b}-{size}.png" }\n`), Infinity);
  assert.equal(error.message, 'specs/a.yaml:4: matrix: the project makes 2,000,000 outputs (a: 2,000,000), more than the 1,000,000 one build may make; split the matrix or data across several specs or projects');
});

test('a path template that climbs out of the output folder is refused', async () => {
  const error = await failure(withSpec('name: a\nprompt: x\noutput: { path: out/../../a.png }\n'));
  assert.equal(error.message, 'specs/a.yaml:3: output.path: spec a: template "out/../../a.png" with no variables resolves to "../a.png", outside the output folder "out"; start the template with "out/" and use no variable whose value holds ".." or starts with "/"');
});

test('a variable value that climbs out of the output folder is refused', async () => {
  const error = await failure(withSpec('name: a\nprompt: x\nmatrix:\n  dir: [ok, ../../etc]\noutput:\n  path: "out/{dir}/a.png"\n'));
  assert.equal(error.message, 'specs/a.yaml:6: output.path: spec a: template "out/{dir}/a.png" with dir=../../etc resolves to "../etc/a.png", outside the output folder "out"; start the template with "out/" and use no variable whose value holds ".." or starts with "/"');
  assert.equal(error.value, 'out/{dir}/a.png');
});

test('absolute paths, NUL characters and backslashes are refused', async () => {
  const absolute = await failure(withSpec('name: a\nprompt: x\nmatrix: { dir: [/etc] }\noutput: { path: "{dir}/a.png" }\n'));
  assert.equal(absolute.message, 'specs/a.yaml:4: output.path: spec a: template "{dir}/a.png" with dir=/etc resolves to "/etc/a.png", an absolute path; start the template with "out/" and use no variable whose value holds ".." or starts with "/"');
  const backslash = await failure(withSpec('name: a\nprompt: x\noutput: { path: "out\\\\a.png" }\n'));
  const nul = await failure(withSpec('name: a\nprompt: x\nmatrix: { c: ["a\\0b"] }\noutput: { path: "out/{c}.png" }\n'));
  assert.equal(nul.message, 'specs/a.yaml:4: output.path: spec a: template "out/{c}.png" with c=a\0b resolves to "out/a\\u0000b.png", which contains a NUL character; remove it from the template or the variable that holds it');
  assert.equal(backslash.message, 'specs/a.yaml:3: output.path: spec a: template "out\\\\a.png" with no variables resolves to "out\\\\a.png", which contains a backslash; separate folders with /');
});

test('an empty cell that a template uses names the data file, the row line, the column and the columns', async () => {
  const error = await failure(withSpec('name: a\nprompt: "{city}"\ndata: rows.csv\noutput: { path: "out/{region}.png" }\n', { 'specs/rows.csv': 'region,city\nnorth,Hamburg\nsouth,\n' }));
  assert.equal(error.message, "specs/rows.csv:3: city: is empty in this row, and spec a uses {city} in prompt; fill in the cell, or stop using {city} (the file's columns: region, city)");
});

test('a column missing from a data file names the file, its first row and its columns', async () => {
  const error = await failure(withSpec('name: a\nprompt: "{city}"\ndata: rows.csv\noutput: { path: "out/{region}.png" }\n', { 'specs/rows.csv': 'region,town\nnorth,Hamburg\n' }));
  assert.equal(error.message, "specs/rows.csv:2: city: is not a column of this file, and spec a uses {city} in prompt; add the column, or correct {city} in prompt (the file's columns: region, town)");
  const second = await failure(withSpec('name: a\nprompt: "{city}"\ndata: [rows.json, rows.yaml]\noutput: { path: "out/{id}.png" }\n', { 'specs/rows.json': '[{ "id": 1, "city": "Rome" }]', 'specs/rows.yaml': '- id: 2\n  city: Lima\n- id: 3\n' }));
  assert.equal(second.message, "specs/rows.yaml:3: city: is missing from this row, and spec a uses {city} in prompt; fill in the cell, or stop using {city} (the file's columns: id, city)");
});

test('two outputs with one path name both by their variables', async () => {
  const error = await failure(withSpec('name: a\nprompt: x\nmatrix:\n  locale: [de-DE, fr-FR]\noutput: { path: out/a.png }\n'));
  assert.equal(error.message, 'specs/a.yaml:5: output.path: "out/a.png" is made twice: by spec a with locale=de-DE and by spec a with locale=fr-FR; put a variable that differs between them into the path template');
});

test('a format that disagrees with the extension is refused', async () => {
  const error = await failure(withSpec('name: a\nprompt: x\noutput: { path: out/a.png, format: webp }\n'));
  assert.equal(error.message, 'specs/a.yaml:3: output.format: "out/a.png" has the extension of png, but output.format is webp; make them agree: end the path with .webp, or remove output.format');
});

test('matrix include and exclude entries must match the axes', async () => {
  const include = await failure(withSpec('name: a\nprompt: x\nmatrix:\n  l: [a]\n  p: [b]\n  include: [{ l: c }]\noutput: { path: "out/{l}-{p}.png" }\n'));
  assert.equal(include.message, 'specs/a.yaml:6: matrix.include[0]: does not give p; give a value for every axis: l, p');
  const exclude = await failure(withSpec('name: a\nprompt: x\nmatrix:\n  l: [a, b]\n  exclude:\n    - { l: z }\noutput: { path: "out/{l}.png" }\n'));
  assert.equal(exclude.message, 'specs/a.yaml:6: matrix.exclude[0].l: "z" is not a value of axis l (a, b); write one of the axis values');
});

test('a project-file problem names the project file', async () => {
  const version = await failure({ 'pixelpipe.yaml': 'version: 2\nspecs: [a.yaml]\n' });
  assert.equal(version.message, 'pixelpipe.yaml:1: version: 2 is not supported; write version: 1');
  const missing = await failure({ 'pixelpipe.yaml': 'version: 1\nspecs:\n  - specs/nope.yaml\n' });
  assert.match(missing.message, /^pixelpipe\.yaml:3: specs\[0\]: "specs\/nope\.yaml" does not exist \(looked for .*nope\.yaml\); check the path; it is relative to the folder of pixelpipe\.yaml$/);
  const duplicate = await failure({ 'pixelpipe.yaml': 'version: 1\nspecs:\n  - specs/a.yaml\n  - name: a\n    prompt: y\n    output: { path: out/b.png }\n', 'specs/a.yaml': 'name: a\nprompt: x\noutput: { path: out/a.png }\n' });
  assert.equal(duplicate.message, 'pixelpipe.yaml:4: specs[1].name: "a" is also the name of the spec at specs/a.yaml:1; give each spec its own name');
});

test('sizes that cannot work together are refused', async () => {
  const generation = await failure(withSpec('name: a\nprompt: x\nsize: "16:9"\ngenerationSize: 512x288\noutput: { path: out/a.png }\n'));
  assert.equal(generation.message, 'specs/a.yaml:4: generationSize: is given while size "16:9" is an aspect ratio; give sizes as WxH, or remove generationSize to let the build pick the model\'s native size for 16:9');
  const width = await failure(withSpec('name: a\nprompt: x\nsize: [64x64, "1:1"]\noutput: { path: "out/{width}-{size}.png" }\n'));
  assert.equal(width.message, 'specs/a.yaml:4: output.path: uses {width}, which the aspect-ratio size "1:1" does not give; use {size}, or give every size as WxH');
});
