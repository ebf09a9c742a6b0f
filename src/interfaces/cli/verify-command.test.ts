// On a fresh data directory, `pixelpipe generate` signs and watermarks what it makes, c2pa-ts validates the
// file, and `pixelpipe verify` reports the manifest and the watermark, which survives JPEG at quality 75.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { readPngText } from '../../engine/image/png.js';
import { validateWithC2paTs } from '../../testing/c2pa-ts.js';
import { runCli } from '../../testing/cli.js';
import { testData } from '../../testing/paths.js';

const work = mkdtempSync(join(tmpdir(), 'pixelpipe-verify-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const environment = { PIXELPIPE_DATA_DIR: join(work, 'data') };

test('generate on a fresh data directory signs and watermarks; verify reports both, finds the record through the watermark after JPEG q75, and fails on a tampered file', async () => {
  const out = join(work, 'made.png');
  const made = await runCli(['generate', 'a signed cube', '--model', testData('fixtures', 'tiny-sd15'), '--steps', '2', '--width', '256', '--height', '256', '--out', out, '--json'], environment);
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stderr, /made a development C2PA signing certificate in .*provenance: images are signed, and validators show the signer as untrusted/);
  const [image] = (JSON.parse(made.stdout) as { images: { recordId: string; provenance: { c2pa: string; watermark: string } }[] }).images;
  assert.equal(image!.provenance.c2pa, 'signed');

  // The record chunk gains the id; A1111's `parameters` and the engine's record stay as the engine wrote them.
  const texts = readPngText(readFileSync(out));
  assert.match(texts.parameters!, /^a signed cube\nSteps: 2/);
  assert.equal((JSON.parse(texts.pixelpipe!) as { recordId: string; settings: { steps: number } }).recordId, image!.recordId);
  const independent = await validateWithC2paTs(readFileSync(out));
  assert.deepEqual(independent.failed, []);
  assert.equal(independent.record?.recordId, image!.recordId);

  const copy = join(work, 'copy.jpg');
  writeFileSync(copy, await sharp(out).jpeg({ quality: 75 }).toBuffer());
  const verified = await runCli(['verify', out, copy, '--json'], environment);
  assert.equal(verified.code, 0, verified.stderr);
  const [original, jpeg] = JSON.parse(verified.stdout) as { c2pa: { state: string; actions: { action: string }[] }; watermark: { payload: string; records: { id: string }[] }; record?: { recordId: string } }[];
  assert.equal(original!.c2pa.state, 'valid');
  assert.deepEqual(original!.c2pa.actions.map((action) => action.action), ['c2pa.created']);
  assert.equal(original!.record?.recordId, image!.recordId);
  assert.deepEqual(original!.watermark.records.map((record) => record.id), [image!.recordId]);
  assert.equal(jpeg!.c2pa.state, 'absent');
  assert.equal(jpeg!.watermark.payload, image!.provenance.watermark);
  assert.deepEqual(jpeg!.watermark.records.map((record) => record.id), [image!.recordId]);

  const readable = await runCli(['verify', out, '--no-records'], environment);
  assert.match(readable.stdout, /c2pa: valid, signer not on a trust list; signed by pixelpipe development signer/);
  assert.match(readable.stdout, /c2pa\.created by local:tiny-sd15 \(trainedAlgorithmicMedia\)/);
  assert.match(readable.stdout, new RegExp(`watermark: ${image!.provenance.watermark} \\(no record here carries it\\)`));

  // A changed text chunk is under the hash binding too: the manifest no longer validates, and the exit code says so.
  const tampered = join(work, 'tampered.png');
  const bytes = readFileSync(out);
  const at = bytes.indexOf('a signed cube', 0, 'latin1');
  bytes.write('A', at, 'latin1');
  writeFileSync(tampered, bytes);
  const refused = await runCli(['verify', tampered, join(work, '..', 'pixelpipe-verify-missing.png'), '--no-records'], environment);
  assert.equal(refused.code, 1);
  assert.match(refused.stdout, /c2pa: invalid/);
  assert.match(refused.stdout, /pixelpipe-verify-missing\.png\n  error: .*ENOENT/);
});

test('verify names a file that is not an image and says what to give', async () => {
  const text = join(work, 'notes.txt');
  writeFileSync(text, 'not an image');
  const result = await runCli(['verify', text, '--no-records'], environment);
  assert.equal(result.code, 1);
  assert.match(result.stdout, /notes\.txt is not a PNG, JPEG or WebP image, so it carries no pixelpipe provenance \(give the image file itself\)/);
});
