// Tests of output paths, the output folder and formats: normalising, staying inside, and agreeing with the extension.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normaliseOutputDir, outputFormat, resolveOutputPath } from './output-paths.js';

test('paths are normalised and must stay inside the output folder', () => {
  assert.deepEqual(resolveOutputPath('out/a/../b//c.png', 'out'), { path: 'out/b/c.png' });
  assert.deepEqual(resolveOutputPath('outside/c.png', 'out'), { problem: 'resolves to "outside/c.png", outside the output folder "out"', fix: 'start the template with "out/" and use no variable whose value holds ".." or starts with "/"' });
  assert.deepEqual(resolveOutputPath('out2/c.png', 'out'), { problem: 'resolves to "out2/c.png", outside the output folder "out"', fix: 'start the template with "out/" and use no variable whose value holds ".." or starts with "/"' });
  assert.deepEqual(resolveOutputPath('C:/out/c.png', 'out'), { problem: 'resolves to "C:/out/c.png", an absolute path', fix: 'start the template with "out/" and use no variable whose value holds ".." or starts with "/"' });
  assert.deepEqual(resolveOutputPath('out/de/', 'out'), { problem: 'resolves to "out/de/", a folder rather than a file', fix: 'end the template with a file name such as {product}.webp' });
});

test('the output folder is a normalised subfolder of the project folder', () => {
  assert.deepEqual(normaliseOutputDir('./build/images/'), { outputDir: 'build/images' });
  assert.deepEqual(normaliseOutputDir('.'), { problem: '"." is not a folder inside the project folder', fix: 'name a subfolder of the project folder, such as out, so outputs cannot overwrite spec files' });
  assert.deepEqual(normaliseOutputDir('/tmp/out'), { problem: '"/tmp/out" is absolute', fix: 'write a folder relative to the project folder, such as out' });
});

test('the format comes from the extension and must agree with output.format', () => {
  assert.deepEqual(outputFormat('out/a.JPG', undefined), { format: 'jpeg' });
  assert.deepEqual(outputFormat('out/a.jpeg', 'jpeg'), { format: 'jpeg' });
  assert.deepEqual(outputFormat('out/a', 'png'), { problem: '"out/a" ends in no extension, which is not an image format written here', fix: 'end the path with .png, .webp or .jpg' });
  assert.deepEqual(outputFormat('out/a.webp', 'jpeg'), { problem: '"out/a.webp" has the extension of webp, but output.format is jpeg', fix: 'make them agree: end the path with .jpg, or remove output.format' });
});
