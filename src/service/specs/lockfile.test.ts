// Tests of pixelpipe.lock: the exact text written, reading it back, a missing file, a damaged file and the atomic write.
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Lockfile } from '../build/build-types.js';
import { SpecFileError, formatLockfile, readLockfile, writeLockfile } from './index.js';
import { temporaryFolder } from '../../testing/temporary-files.js';


const hash = (digit: string) => `sha256:${digit.repeat(64)}`;
const lock: Lockfile = {
  version: 1,
  outputs: [
    { recordId: 'rec_2', sha256: hash('2'), candidate: 0, model: 'tiny-sd15', seed: '9', key: hash('b'), spec: 'hero', path: 'out/fr-FR/shoe.webp' },
    { path: 'out/de-DE/shoe.webp', spec: 'hero', key: hash('a'), seed: '18446744073709551615', model: 'tiny-sd15', modelHash: 'sha256:ab', candidate: 1, scores: [0.25, 0.5], sha256: hash('1'), pixelSha256: hash('3'), recordId: 'rec_1' },
  ],
};

const expectedText = `{
  "version": 1,
  "outputs": [
    {
      "path": "out/de-DE/shoe.webp",
      "spec": "hero",
      "key": "${hash('a')}",
      "seed": "18446744073709551615",
      "model": "tiny-sd15",
      "modelHash": "sha256:ab",
      "candidate": 1,
      "scores": [0.25, 0.5],
      "sha256": "${hash('1')}",
      "pixelSha256": "${hash('3')}",
      "recordId": "rec_1"
    },
    {
      "path": "out/fr-FR/shoe.webp",
      "spec": "hero",
      "key": "${hash('b')}",
      "seed": "9",
      "model": "tiny-sd15",
      "candidate": 0,
      "sha256": "${hash('2')}",
      "recordId": "rec_2"
    }
  ]
}
`;

test('the lockfile is sorted by path with a fixed field order, one field per line and a trailing newline', () => {
  assert.equal(formatLockfile(lock), expectedText);
  assert.equal(formatLockfile({ version: 1, outputs: [] }), '{\n  "version": 1,\n  "outputs": []\n}\n');
});

test('a written lockfile reads back sorted, leaving no temporary file', async () => {
  const folder = await temporaryFolder('pixelpipe-lock-');
  const path = join(folder, 'pixelpipe.lock');
  await writeLockfile(path, lock);
  await writeLockfile(path, lock);
  assert.equal(await readFile(path, 'utf8'), expectedText);
  assert.deepEqual(await readdir(folder), ['pixelpipe.lock']);
  assert.deepEqual(await readLockfile(path), { version: 1, outputs: [lock.outputs[1], lock.outputs[0]] });
});

test('a missing lockfile is undefined', async () => {
  assert.equal(await readLockfile(join(await temporaryFolder('pixelpipe-lock-'), 'pixelpipe.lock')), undefined);
});

test('a damaged lockfile is a SpecFileError that says to delete it', async () => {
  const folder = await temporaryFolder('pixelpipe-lock-');
  const path = join(folder, 'pixelpipe.lock');
  await writeFile(path, '{\n  "version": 1,\n  "outputs": [\n');
  const broken = await readLockfile(path).catch((error: unknown) => error);
  assert.ok(SpecFileError.isInstance(broken));
  assert.equal(broken.file, 'pixelpipe.lock');
  assert.equal(broken.fix, 'delete it to rebuild everything');
  assert.equal(broken.message, 'pixelpipe.lock:4: is not valid JSON: Flow sequence in block collection must be sufficiently indented and end with a ]; delete it to rebuild everything');

  await writeFile(path, '{ "version": 1, "outputs": [], }\n');
  await assert.rejects(readLockfile(path), { name: 'SpecFileError', message: /^pixelpipe\.lock: is not valid JSON: .*; delete it to rebuild everything$/ });

  await writeFile(path, expectedText.replace('"seed": "9"', '"seed": 9'));
  await assert.rejects(readLockfile(path), {
    name: 'SpecFileError',
    message: 'pixelpipe.lock:21: outputs[1].seed: 9 is not a string (the lockfile is damaged or from another version); delete it to rebuild everything',
  });
});
